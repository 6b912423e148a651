"""Loss comparison on one architecture (dcgan28): quality, coverage and stability over seeds.

Every metric column is optional: the metrics table is filled after training by another stage and
may be missing, partial, or carry a `metrics_reason` where a metric could not be computed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.report.data import MEASURED, ReportData
from bench.report.fmt import plain
from bench.report.tables import sort_cases, variant_order

LOSS_ARCH = "dcgan28"
GROUP = ["variant", "dataset", "precision", "framework"]  # seeds (and repeats) are what a group summarises
QUALITY = {"fid": "fid", "kid_mean": "kid", "classifier_fd": "fid"}
COVERAGE = {
    "classes_covered": "f1",
    "classes_covered_any": "f1",
    "class_kl": "g3",
    "cond_accuracy": "pct",
    "classifier_accuracy": "pct",
}
STABILITY = {
    "loss_d_dispersion": "g3",
    "loss_g_dispersion": "g3",
    "loss_d_mean_abs_change": "g3",
    "loss_g_mean_abs_change": "g3",
    "grad_norm_d_median": "g3",
    "grad_norm_g_median": "g3",
    "grad_norm_d_max": "g3",
    "grad_norm_g_max": "g3",
}
FID_SETUP = ("fid_n_fake", "fid_n_real", "fid_extractor", "fid_runtime", "fid_biased")
LABELS = {
    "fid": "FID",
    "kid_mean": "KID",
    "classifier_fd": "classifier FD",
    "classes_covered": "classes covered",
    "classes_covered_any": "classes covered (any)",
    "classifier_accuracy": "classifier accuracy (real test)",
    "class_kl": "class KL",
    "cond_accuracy": "conditional accuracy",
    "loss_d_dispersion": "D loss dispersion",
    "loss_g_dispersion": "G loss dispersion",
    "loss_d_mean_abs_change": "D loss mean |change|",
    "loss_g_mean_abs_change": "G loss mean |change|",
    "grad_norm_d_median": "D grad norm median",
    "grad_norm_g_median": "G grad norm median",
    "grad_norm_d_max": "D grad norm max",
    "grad_norm_g_max": "G grad norm max",
}


def loss_runs(data: ReportData) -> pd.DataFrame:
    """All runs of the loss-comparison architecture, whatever their status."""
    runs = data.runs
    return runs[runs["arch"] == LOSS_ARCH] if "arch" in runs else runs.iloc[0:0]


def present(runs: pd.DataFrame, columns) -> list[str]:
    """The columns that exist and hold at least one value."""
    return [c for c in columns if c in runs and runs[c].notna().any()]


def seed_summary(data: ReportData, columns: dict[str, str]) -> pd.DataFrame:
    """Per loss variant and framework: mean, sample std (ddof=1) and count over seeds of each column."""
    runs = loss_runs(data)
    runs = runs[runs["status"].isin(MEASURED)]
    cols = present(runs, columns)
    if runs.empty or not cols:
        return pd.DataFrame()
    rows = []
    for (variant, dataset, precision, framework), g in runs.groupby(GROUP, sort=False):
        row = {"variant": variant, "dataset": dataset, "precision": precision, "framework": framework,
               "seeds": g["seed"].nunique()}  # fmt: skip
        for c in cols:
            values = pd.to_numeric(g[c], errors="coerce").dropna()
            row[f"{c}_mean"] = values.mean() if len(values) else np.nan
            row[f"{c}_std"] = values.std(ddof=1) if len(values) > 1 else np.nan
            row[f"{c}_n"] = len(values)
        rows.append(row)
    return sort_cases(pd.DataFrame(rows))


def divergence_table(data: ReportData) -> pd.DataFrame:
    """Per loss variant and framework: how many runs hit a non-finite loss, and how early."""
    runs = loss_runs(data)
    if runs.empty:
        return pd.DataFrame()
    rows = []
    for (variant, dataset, precision, framework), g in runs.groupby(GROUP, sort=False):
        step = pd.to_numeric(g["divergence_step"], errors="coerce") if "divergence_step" in g else pd.Series([])
        diverged = (g["status"] == "diverged") | (step.reindex(g.index) >= 0)
        first = step[step >= 0]
        rows.append(
            {
                "variant": variant,
                "dataset": dataset,
                "precision": precision,
                "framework": framework,
                "runs": len(g),
                "diverged": int(diverged.sum()),
                "first_divergence_step": first.min() if len(first) else np.nan,
            }
        )
    return sort_cases(pd.DataFrame(rows))


def metric_notes(data: ReportData) -> list[str]:
    """Why metrics are missing: every distinct `metrics_reason`, with the runs it applies to."""
    runs = data.runs
    if "metrics_reason" not in runs:
        return []
    reasons = runs[runs["metrics_reason"].fillna("").astype(str).str.strip() != ""]
    return [
        f"{reason} ({len(g)} runs: {', '.join(variant_order(g['variant']))})"
        for reason, g in reasons.groupby("metrics_reason", sort=True)
    ]


def fid_setup(data: ReportData) -> str:
    """One line on how FID was computed (sample counts, extractor), from the metric columns."""
    runs = loss_runs(data)
    parts = []
    for col in present(runs, FID_SETUP):
        values = sorted({plain(v) for v in runs[col].dropna()} - {""})
        if values:
            parts.append(f"{col.removeprefix('fid_')}: {', '.join(values)}")
    return "; ".join(parts)
