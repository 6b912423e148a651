"""Report figures with matplotlib (Agg: no display needed). One colour per framework throughout.

Colours come from the registry (`bench/frameworks.py`): the brand colours of PyTorch (#EE4C2C) and
TensorFlow (#FF8F00) are both orange and hard to tell apart, especially with colour-vision deficiencies,
so the report uses Okabe-Ito colours (vermilion PyTorch, blue TensorFlow, bluish green JAX); bars of
every framework but the reference are also hatched.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: reports are built headless

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from bench.frameworks import REGISTRY  # noqa: E402
from bench.report.data import framework_name, framework_rank  # noqa: E402
from bench.report.tables import case_label, variant_order  # noqa: E402

COLORS = {name: f.colour for name, f in REGISTRY.items()}
HATCH = {name: f.hatch for name, f in REGISTRY.items()}
OTHER = "#777777"
DPI = 110

STYLE = {"font.size": 10, "axes.titlesize": 11, "axes.spines.top": False, "axes.spines.right": False}
STYLE |= {"hatch.color": "white", "patch.edgecolor": "white"}


def styled(plot: Callable[..., Path]) -> Callable[..., Path]:
    """Apply the report's style to one figure without changing matplotlib's global settings."""

    @functools.wraps(plot)
    def wrapper(*args, **kwargs) -> Path:
        with plt.rc_context(STYLE):
            return plot(*args, **kwargs)

    return wrapper


def color(framework: str) -> str:
    return COLORS.get(framework, OTHER)


def save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)  # constrained layout already fits the labels; "tight" would draw twice
    plt.close(fig)
    return path


def panel_grid(n: int, width: float = 3.2, height: float = 2.8, max_cols: int = 4):
    """A figure of `n` small panels (one per variant), unused axes hidden."""
    cols = min(max_cols, n)
    rows = math.ceil(n / cols)
    size = (max(6.5, width * cols), height * rows + 0.6)  # wide enough for the title
    fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=False, layout="constrained")
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def config_label(framework: str, mode: str, several_modes: bool) -> str:
    name = framework_name(framework)
    return f"{name} ({mode})" if several_modes and mode else name


@styled
def framework_bars(t: pd.DataFrame, value: str, low: str, high: str, ylabel: str, title: str, path: Path) -> Path:
    """Small multiples, one panel per variant: a group of bars per case (batch size, device, dataset),
    one bar per framework (and mode); error bars from column `low` to column `high` where both exist."""
    t = t if "mode" in t else t.assign(mode="")
    several_modes = bool(t.groupby("framework")["mode"].nunique().max() > 1)
    configs = list(dict.fromkeys(zip(t["framework"], t["mode"], strict=True)))
    variants = variant_order(t["variant"])
    fig, axes = panel_grid(len(variants))
    for ax, variant in zip(axes, variants, strict=True):
        bar_panel(ax, t[t["variant"] == variant], configs, value, low, high, t["dataset"].nunique() > 1)
        ax.set_title(variant)
    axes[0].set_ylabel(ylabel)
    handles = [
        Patch(facecolor=color(fw), edgecolor="white", hatch=HATCH.get(fw, ""), label=config_label(fw, m, several_modes))
        for fw, m in configs
    ]
    fig.legend(handles=handles, loc="outside lower center", frameon=False, ncols=len(handles))
    fig.suptitle(title)
    return save(fig, path)


def bar_panel(ax, rows: pd.DataFrame, configs: list, value: str, low: str, high: str, several_datasets: bool) -> None:
    keys = ["batch_size", "device", "precision", "dataset"]
    cases = rows.drop_duplicates(keys).reset_index(drop=True)
    width = 0.8 / len(configs)
    for i, case in cases.iterrows():
        same = (rows[keys] == case[keys]).all(axis=1)
        for j, (fw, mode) in enumerate(configs):
            r = rows[same & (rows["framework"] == fw) & (rows["mode"] == mode)]
            if r.empty:
                continue
            r = r.iloc[0]
            err = None
            if low in r and high in r and np.isfinite([r[low], r[high]]).all():
                err = [[max(0.0, r[value] - r[low])], [max(0.0, r[high] - r[value])]]
            x = i + (j - (len(configs) - 1) / 2) * width
            ax.bar(x, r[value], width, color=color(fw), hatch=HATCH.get(fw, ""), yerr=err, capsize=4)
    ax.set_xticks(range(len(cases)), [case_label(c, several_datasets).replace(", ", "\n") for _, c in cases.iterrows()])
    ax.set_xlim(-0.9, len(cases) - 0.1)  # a lone group keeps bars of a sensible width
    ax.set_ylim(bottom=0)


@styled
def ratio_forest(ratios: pd.DataFrame, prefix: str, xlabel: str, title: str, path: Path) -> Path:
    """Each case's reference/other-framework ratio as a dot with its 95% interval; the line at 1 means parity."""
    rows = ratios.reset_index(drop=True)
    labels = forest_labels(rows)
    width = max(7.0, 3.5 + 0.075 * max(map(len, labels)))  # long case labels keep ~3.5 in for the data
    fig, ax = plt.subplots(figsize=(width, 0.45 * len(rows) + 1.4), layout="constrained")
    for i, r in rows.iterrows():
        y = len(rows) - 1 - i
        lo, hi = r[f"{prefix}_low"], r[f"{prefix}_high"]
        if np.isfinite([lo, hi]).all():
            ax.plot([lo, hi], [y, y], color="#333333", lw=2)
        ax.plot(r[f"{prefix}_ratio"], y, "o", color="#333333")
    ax.axvline(1.0, color="#999999", ls="--", lw=1)
    ax.set_yticks(range(len(rows)), labels[::-1])
    fig.supxlabel(xlabel)  # centred on the figure: long case labels leave the axes too narrow for them
    fig.suptitle(title)
    return save(fig, path)


def forest_labels(rows: pd.DataFrame) -> list[str]:
    """One label per ratio row: variant and case, plus modes and framework pair where they vary."""
    modes = rows["modes"].nunique() > 1
    pairs = "pair" in rows and rows["pair"].nunique() > 1
    datasets = rows["dataset"].nunique() > 1
    return [
        f"{r.variant} ({case_label(r._asdict(), datasets)}"
        + (f", {r.modes}" if modes else "")
        + (f", {r.pair}" if pairs else "")
        + ")"
        for r in rows.itertuples()
    ]


@styled
def fid_bars(summary: pd.DataFrame, points: pd.DataFrame, path: Path) -> Path:
    """FID mean per loss (and dataset) and framework, error bar = std over seeds, one dot per seed."""
    have = summary[summary["fid_mean"].notna()]
    rank = {v: i for i, v in enumerate(variant_order(have["variant"]))}
    cases = sorted(set(zip(have["variant"], have["dataset"], strict=True)), key=lambda c: (rank[c[0]], c[1]))
    frameworks = sorted(set(have["framework"]), key=framework_rank)
    width = 0.7 / max(1, len(frameworks))
    fig, ax = plt.subplots(figsize=(max(6.5, 1.6 * len(cases) + 2), 3.6), layout="constrained")
    for i, (variant, dataset) in enumerate(cases):
        for j, fw in enumerate(frameworks):
            key = {"variant": variant, "dataset": dataset, "framework": fw}
            row = have[(have[list(key)] == pd.Series(key)).all(axis=1)]
            if row.empty:
                continue
            x = i + (j - (len(frameworks) - 1) / 2) * width
            std = row["fid_std"].iloc[0]
            err = std if np.isfinite(std) else None
            ax.bar(x, row["fid_mean"].iloc[0], width, color=color(fw), hatch=HATCH.get(fw, ""), yerr=err, capsize=4)
            seeds = points[(points[list(key)] == pd.Series(key)).all(axis=1)]["fid"].dropna()
            ax.plot(np.full(len(seeds), x), seeds, "o", ms=3.5, color="black", alpha=0.7)
    several = len({d for _, d in cases}) > 1
    ax.set_xticks(range(len(cases)), [f"{v}\n{d}" if several else v for v, d in cases])
    ax.set_xlim(-0.9, len(cases) - 0.1)
    ax.set_ylabel("FID (lower is better)")
    fig.suptitle("FID by loss (dcgan28): mean ± std over seeds, dots = seeds")
    handles = [
        Patch(facecolor=color(fw), edgecolor="white", hatch=HATCH.get(fw, ""), label=framework_name(fw))
        for fw in frameworks
    ]
    fig.legend(handles=handles, loc="outside lower center", frameon=False, ncols=len(frameworks))
    return save(fig, path)


@styled
def batch_sweep(table: pd.DataFrame, path: Path) -> Path:
    """images/s against batch size (log2 axis), p10..p90 error bars, one line per framework and mode."""
    variants = variant_order(table["variant"])
    fig, axes = panel_grid(len(variants))
    for ax, variant in zip(axes, variants, strict=True):
        groups = table[table["variant"] == variant].groupby(["framework", "mode", "device", "precision", "dataset"])
        for (fw, mode, device, precision, dataset), g in sorted(groups, key=lambda kv: framework_rank(kv[0][0])):
            g = g.sort_values("batch_size")
            err = [g["images_per_s"] - g["images_per_s_p10"], g["images_per_s_p90"] - g["images_per_s"]]
            label = framework_name(fw) + (f" ({mode})" if mode else "") + ("" if device == "cpu" else f" GPU{device}")
            label += f", {precision}" if table["precision"].nunique() > 1 else ""
            label += f", {dataset}" if table["dataset"].nunique() > 1 else ""
            ax.errorbar(
                g["batch_size"], g["images_per_s"], yerr=err, color=color(fw), marker="o", capsize=3, label=label
            )
        ax.set_xscale("log", base=2)
        sizes = sorted(table[table["variant"] == variant]["batch_size"].unique())
        ax.set_xticks(sizes, [str(b) for b in sizes])
        ax.minorticks_off()
        ax.set_xlabel("batch size")
        ax.set_title(variant)
        ax.set_ylim(bottom=0)
        ax.legend(frameon=False, fontsize=8)
    axes[0].set_ylabel("images/s")
    fig.suptitle("Throughput against batch size (median, p10-p90)")
    return save(fig, path)
