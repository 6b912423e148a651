"""Loss-stability figures per run and the spread of a final metric across seeds: numpy/pandas only.

Definitions (DESIGN.md, "Loss stability"), for one run's rows of the `steps` table
(run_id, step, phase, loss_d, loss_g, grad_norm_d, grad_norm_g), ordered by `step`; warm-up
steps count, as they are real updates:

- divergence_step: the first `step` at which loss_d or loss_g is non-finite (NaN or ±inf); -1 if none.
- the second half: the last ceil(n/2) of the n recorded steps (the later half when n is odd).
- loss_{d,g}_dispersion: population standard deviation (ddof=0) of the finite losses in the second
  half; NaN with fewer than 2 finite values.
- loss_{d,g}_mean_abs_change: mean of |x_t - x_{t-1}| over consecutive steps both in the second half
  and both finite; NaN when there is no such pair.
- grad_norm_{d,g}_{median,max}: median and maximum of the finite gradient norms over all steps;
  NaN when there are none.
Non-finite values are left out of every statistic but divergence_step, so a run that blew up
late still gets figures for the part that was finite.

seed_spread: per group (variant x framework by default), the metric is first averaged over the
rows of each seed (repeats of one seed are one observation), then mean, sample standard deviation
(ddof=1, NaN for a single seed), min, max and n (seeds with a finite value) are taken over seeds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bench.columns import STABILITY

STABILITY_COLUMNS = tuple(STABILITY)  # names and meanings: bench/columns.py
SPREAD_COLUMNS = ("metric", "mean", "std", "min", "max", "n")


def stability(steps: pd.DataFrame) -> dict[str, float | int]:
    """Stability figures of one run from its steps-table rows (see the module docstring)."""
    if "run_id" in steps and steps["run_id"].nunique() > 1:
        raise ValueError("stability() takes one run's steps; use stability_table() for several runs")
    s = steps.sort_values("step", kind="stable") if "step" in steps else steps
    out: dict[str, float | int] = {"divergence_step": divergence_step(s)}
    half = len(s) // 2
    for loss in ("loss_d", "loss_g"):
        tail = _values(s, loss)[half:]
        out[f"{loss}_dispersion"] = dispersion(tail)
        out[f"{loss}_mean_abs_change"] = mean_abs_change(tail)
    for norm in ("grad_norm_d", "grad_norm_g"):
        finite = _finite(_values(s, norm))
        out[f"{norm}_median"] = float(np.median(finite)) if finite.size else np.nan
        out[f"{norm}_max"] = float(np.max(finite)) if finite.size else np.nan
    return out


def stability_table(steps: pd.DataFrame) -> pd.DataFrame:
    """One row per run_id with the STABILITY_COLUMNS, for the `metrics` table."""
    rows = [{"run_id": run_id, **stability(group)} for run_id, group in steps.groupby("run_id", sort=True)]
    return pd.DataFrame(rows, columns=["run_id", *STABILITY_COLUMNS])


def divergence_step(steps: pd.DataFrame) -> int:
    """First step with a non-finite loss_d or loss_g, -1 if none (rows assumed in step order)."""
    bad = ~(np.isfinite(_values(steps, "loss_d")) & np.isfinite(_values(steps, "loss_g")))
    if not bad.any():
        return -1
    first = int(np.argmax(bad))
    return int(steps["step"].iloc[first]) if "step" in steps else first


def dispersion(values: np.ndarray) -> float:
    """Population std of the finite values; NaN with fewer than 2."""
    finite = _finite(values)
    return float(np.std(finite)) if finite.size >= 2 else np.nan


def mean_abs_change(values: np.ndarray) -> float:
    """Mean |x_t - x_{t-1}| over consecutive pairs that are both finite; NaN without such a pair."""
    changes = np.abs(np.diff(np.asarray(values, np.float64)))
    changes = changes[np.isfinite(changes)]  # a pair with a NaN or inf gives a non-finite change
    return float(changes.mean()) if changes.size else np.nan


def seed_spread(runs: pd.DataFrame, column: str = "fid", by: Sequence[str] = ("variant", "framework")) -> pd.DataFrame:
    """Spread of `column` over seeds per group: by..., metric, mean, std, min, max, n (see module docstring)."""
    keys = list(by)
    if runs.empty or column not in runs:
        return pd.DataFrame(columns=[*keys, *SPREAD_COLUMNS])
    values = runs[[*keys, "seed"]].copy()
    values["value"] = pd.to_numeric(runs[column], errors="coerce").replace([np.inf, -np.inf], np.nan)
    per_seed = values.groupby([*keys, "seed"], dropna=False)["value"].mean().reset_index()
    spread = (
        per_seed.groupby(keys, dropna=False)["value"]
        .agg(mean="mean", std=lambda v: v.std(ddof=1), min="min", max="max", n="count")
        .reset_index()
    )
    spread.insert(len(keys), "metric", column)
    return spread


def _values(steps: pd.DataFrame, column: str) -> np.ndarray:
    """A column as float64 (all NaN when the table lacks it)."""
    if column not in steps:
        return np.full(len(steps), np.nan)
    return pd.to_numeric(steps[column], errors="coerce").to_numpy(np.float64)


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, np.float64)
    return values[np.isfinite(values)]
