"""Framework comparison tables: throughput, ratios to the reference framework, compile time, parameters.

A "case" is what a fair comparison holds fixed: variant, dataset, device and batch size. Inside a
case each framework may have several runs (seeds, repeats) and several execution modes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.frameworks import REFERENCE
from bench.report.data import FRAMEWORK_ORDER, ReportData, framework_name, framework_rank
from bench.report.stats import RatioCI, ratio_ci, verdict
from bench.variants import VARIANTS

CASE = ["variant", "dataset", "device", "batch_size", "precision"]
OPTIONAL_SPEED = ("flops_per_s", "flop_utilisation", "framework_utilisation")


def variant_order(names) -> list[str]:
    """Registry order first (as in docs/variants.md), then any unknown names alphabetically."""
    names = set(names)
    return [v for v in VARIANTS if v in names] + sorted(names - set(VARIANTS))


def sort_cases(df: pd.DataFrame) -> pd.DataFrame:
    """Rows in registry order of variant, then dataset, device and batch size, then framework (reference first)."""
    if df.empty:
        return df
    rank = {v: i for i, v in enumerate(variant_order(df["variant"]))}
    keys = df.assign(_v=df["variant"].map(rank))
    if "framework" in df:
        keys["_f"] = keys["framework"].map(framework_rank)
    cols = ["_v", *[c for c in ("dataset", "device", "batch_size", "precision", "_f", "mode") if c in keys]]
    return keys.sort_values(cols, kind="stable").drop(columns=[c for c in ("_v", "_f") if c in keys])


def run_samples(data: ReportData, runs: pd.DataFrame) -> list[np.ndarray]:
    """Per run, its interval throughputs; a run without intervals contributes its median alone. The first
    interval of a resumed segment (`counted` False: it paid tracing/compilation again) is left out."""
    iv = counted_intervals(data.intervals)
    by_run = iv.groupby("run_id")["images_per_s"] if not iv.empty and "run_id" in iv else None
    out = []
    for run_id, median in zip(runs["run_id"], runs["images_per_s"], strict=True):
        if by_run is not None and run_id in by_run.groups:
            out.append(by_run.get_group(run_id).to_numpy(dtype=float))
        elif np.isfinite(median):
            out.append(np.array([median], dtype=float))
    return [s[np.isfinite(s)] for s in out]


def counted_intervals(iv: pd.DataFrame) -> pd.DataFrame:
    """The intervals that speed figures pool (all of them in runs recorded before checkpoints existed)."""
    return iv[iv["counted"].fillna(True).astype(bool)] if "counted" in iv else iv


def case_label(row, several_datasets: bool) -> str:
    """`batch 64`, plus the GPU, the precision (other than fp32) and the dataset where they tell cases apart."""
    gpu = "" if str(row["device"]) == "cpu" else f", GPU {row['device']}"
    precision = row.get("precision", "fp32")
    low = f", {precision}" if precision != "fp32" else ""
    return f"batch {row['batch_size']}{gpu}{low}" + (f", {row['dataset']}" if several_datasets else "")


def with_mode(runs: pd.DataFrame) -> pd.DataFrame:
    return runs if "mode" in runs else runs.assign(mode="")


def throughput_table(data: ReportData) -> pd.DataFrame:
    """Per case, framework and mode: pooled interval median and p10/p90 of images/s, memory."""
    rows = []
    for key, g in with_mode(data.measured()).groupby([*CASE, "framework", "mode"], sort=False):
        samples = np.concatenate(run_samples(data, g) or [np.array([np.nan])])
        p10, p50, p90 = np.percentile(samples, [10, 50, 90]) if np.isfinite(samples).any() else [np.nan] * 3
        row = dict(zip([*CASE, "framework", "mode"], key, strict=True))
        row.update(runs=len(g), intervals=int(np.isfinite(samples).sum()), images_per_s=p50)
        row.update(images_per_s_p10=p10, images_per_s_p90=p90)
        for col in ("step_time_s", "peak_rss_mb", "rss_increase_mb", "peak_device_mem_mb", *OPTIONAL_SPEED):
            if col in g:
                row[col] = g[col].median()
        for col in ("peak_rss_mb", "peak_device_mem_mb"):  # memory spread over runs, for error bars
            if col in g:
                row.update({f"{col}_min": g[col].min(), f"{col}_max": g[col].max()})
        rows.append(row)
    return sort_cases(pd.DataFrame(rows))


def memory_column(runs: pd.DataFrame) -> str:
    """Device memory is the figure that matters on a GPU; on CPU it is the worker's peak RSS."""
    dev = runs.get("peak_device_mem_mb")
    return "peak_device_mem_mb" if dev is not None and dev.notna().any() else "peak_rss_mb"


def ratio_table(data: ReportData) -> pd.DataFrame:
    """Per case, framework and pair of modes: the reference framework's speed and memory over the
    other framework's (bench/frameworks.py REFERENCE), with 95% intervals; one pair per other framework."""
    rows = []
    for key, g in with_mode(data.measured()).groupby(CASE, sort=False):
        ref = g[g["framework"] == REFERENCE]
        mem_col = memory_column(g)
        others = sorted(set(g["framework"]) - {REFERENCE}, key=framework_rank)
        pairs = [
            (fw, x, y) for fw in others for x in ref.groupby("mode") for y in g[g["framework"] == fw].groupby("mode")
        ]
        for fw, (m1, a), (m2, b) in pairs:
            sides = (framework_name(REFERENCE), framework_name(fw))
            speed = ratio_ci(run_samples(data, a), run_samples(data, b))
            mem = ratio_ci(*[[np.array([v]) for v in r[mem_col].dropna()] for r in (a, b)])
            rows.append(
                {
                    **dict(zip(CASE, key, strict=True)),
                    "pair": " / ".join(sides),
                    "against": fw,  # the denominator's framework code
                    "modes": f"{m1 or 'default'} / {m2 or 'default'}",
                    "runs": f"{len(a)} / {len(b)}",
                    **ci_columns("speed", speed, "faster", *sides),
                    "memory": mem_col,
                    **ci_columns("memory", mem, "uses more memory", *sides),
                }
            )
    return sort_cases(pd.DataFrame(rows))


def ci_columns(prefix: str, ci: RatioCI, words: str, num: str, den: str) -> dict:
    """The ratio, its interval and the verdict naming `num` (the ratio's numerator side) or `den`."""
    return {
        f"{prefix}_ratio": ci.ratio,
        f"{prefix}_low": ci.low,
        f"{prefix}_high": ci.high,
        f"{prefix}_verdict": verdict(ci, words, num, den),
    }


def per_framework(data: ReportData, columns: list[str], by: tuple[str, ...] = ()) -> pd.DataFrame:
    """Median of each column per case (and `by` columns, where the runs have them) and framework,
    one column per framework ("<col> PyTorch")."""
    runs = data.measured()
    columns = [c for c in columns if c in runs]
    if runs.empty or not columns:
        return pd.DataFrame()
    index = [*CASE, *(b for b in by if b in runs)]
    runs = runs.assign(**{b: runs[b].fillna("").astype(str) for b in by if b in runs})
    med = runs.groupby([*index, "framework"])[columns].median().reset_index()
    wide = med.pivot_table(index=index, columns="framework", values=columns, aggfunc="first")
    frameworks = [f for f in FRAMEWORK_ORDER if f in med["framework"].unique()]
    wide = wide.reindex(columns=[(c, f) for c in columns for f in frameworks])
    wide.columns = [f"{c} {framework_name(f)}" for c, f in wide.columns]
    return sort_cases(wide.reset_index())


def compile_table(data: ReportData) -> pd.DataFrame:
    """First-call (tracing/compilation) and warm-up seconds, kept apart from the timed steps; runs
    compiled from a warm persistent cache are never pooled with cold ones (`compile_cache`)."""
    return per_framework(data, ["first_step_s", "warmup_s", "build_s"], by=("compile_cache",))


def params_table(data: ReportData) -> pd.DataFrame:
    """Trainable parameter counts; every framework build the same spec, so they must agree."""
    runs = data.measured()
    if not {"params_g", "params_d"} <= set(runs.columns):
        return pd.DataFrame()
    rows = []
    for variant, g in runs.groupby("variant"):
        counts = g.groupby("framework")[["params_g", "params_d"]].first()
        same = len(counts.drop_duplicates()) <= 1
        detail = "; ".join(f"{framework_name(f)} {r.params_g:,}/{r.params_d:,}" for f, r in counts.iterrows())
        rows.append(
            {
                "variant": variant,
                "params_g": counts["params_g"].iloc[0],
                "params_d": counts["params_d"].iloc[0],
                "frameworks": ", ".join(framework_name(f) for f in FRAMEWORK_ORDER if f in counts.index),
                "agree": "yes" if same else f"NO: {detail}",
            }
        )
    return sort_cases(pd.DataFrame(rows))


def batch_sweeps(table: pd.DataFrame) -> pd.DataFrame:
    """The throughput rows of variants measured at several batch sizes by the same framework and mode."""
    if table.empty:
        return table
    n = table.groupby(["variant", "dataset", "device", "precision", "framework", "mode"])["batch_size"].transform(
        "nunique"
    )
    return table[n > 1]
