"""Training curves: D and G losses and gradient norms per step, every framework overlaid.

The runs shown together share the seed, so they start from the same weights and see the same batches
and noise; any gap between the curves is the frameworks', not the data's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from bench.report.data import MEASURED, ReportData, framework_name, framework_rank
from bench.report.plots import color, plt, save, styled
from bench.report.tables import variant_order

PANELS = (
    ("loss_d", "D loss"),
    ("loss_g", "G loss"),
    ("grad_norm_d", "D gradient norm"),
    ("grad_norm_g", "G gradient norm"),
)


KEY = ["dataset", "device", "batch_size", "seed", "repeat"]


def curve_pairs(data: ReportData, with_steps: bool = True) -> dict[str, pd.DataFrame]:
    """Per variant, the runs to show together: the first (device, batch, seed, repeat) most frameworks ran.

    with_steps: only runs with per-step records (curves); otherwise runs that trained (sample grids).
    """
    if with_steps:
        has = set(data.steps["run_id"]) if "run_id" in data.steps else set()
        runs = data.runs[data.runs["run_id"].isin(has)]
    else:
        runs = data.runs[data.runs["status"].isin(MEASURED)]
    if "mode" in runs:  # one mode per framework: the first in name order
        runs = runs.sort_values("mode", kind="stable").drop_duplicates([*KEY, "variant", "framework"])
    pairs = {}
    for variant in variant_order(runs["variant"]):
        v = runs[runs["variant"] == variant]
        n_fw = v.groupby(KEY)["framework"].nunique()
        best = n_fw[n_fw == n_fw.max()].index[0]  # every framework where possible, else what exists
        pick = v.set_index(KEY).loc[[best]].reset_index()
        pairs[variant] = pick.sort_values("framework", key=lambda s: s.map(framework_rank))
    return pairs


def smooth(values: pd.Series) -> pd.Series:
    """Centred moving average over about 5% of the steps: trends stay visible, noise goes."""
    window = max(1, len(values) // 20)
    return values.rolling(window, center=True, min_periods=1).mean()


@styled
def curves_figure(variant: str, pair: pd.DataFrame, steps: pd.DataFrame, path: Path) -> Path:
    """One row of four panels: D loss, G loss, D and G gradient norms; raw light, smoothed bold."""
    fig, axes = plt.subplots(1, len(PANELS), figsize=(15, 3.3), layout="constrained")
    for run in pair.itertuples():
        s = steps[steps["run_id"] == run.run_id].sort_values("step")
        for ax, (col, label) in zip(axes, PANELS, strict=True):
            if col not in s or s[col].isna().all():
                continue
            y = s[col].where(np.isfinite(s[col]))
            ax.plot(s["step"], y, color=color(run.framework), alpha=0.25, lw=0.8)
            ax.plot(s["step"], smooth(y), color=color(run.framework), lw=1.8, label=framework_name(run.framework))
            ax.set_title(label)
            if col.startswith("grad") and wide_range(y):
                ax.set_yscale("log")
                ax.set_title(f"{label} (log scale)")
    for ax in axes:
        ax.set_xlabel("training step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        shade_warmup(ax, steps[steps["run_id"].isin(pair["run_id"])])
    axes[0].legend(frameon=False)
    first = pair.iloc[0]
    setup = f"{first['dataset']}, seed {first['seed']}, batch {first['batch_size']}"
    fig.suptitle(f"{variant} ({setup}; light: raw, bold: smoothed)")
    return save(fig, path)


def wide_range(values: pd.Series) -> bool:
    """Gradient norms spanning more than a decade read better on a log axis."""
    positive = values[values > 0]
    return len(positive) > 1 and positive.max() / positive.min() > 20


def shade_warmup(ax, steps: pd.DataFrame) -> None:
    """Grey band over the untimed warm-up steps, so the first-call spike is not mistaken for training."""
    if "phase" not in steps:
        return
    warm = steps[steps["phase"] == "warmup"]["step"]
    if len(warm):
        ax.axvspan(warm.min() - 0.5, warm.max() + 0.5, color="#000000", alpha=0.06, lw=0)
