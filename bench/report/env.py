"""Environment, dataset and suite-parameter tables: what a reader needs to trust the numbers."""

from __future__ import annotations

import pandas as pd

from bench.frameworks import REGISTRY
from bench.report.data import FRAMEWORK_ORDER, ReportData, framework_name
from bench.report.tables import sort_cases

ENV_ITEMS = {
    "framework_version": "framework version",
    "python_version": "Python",
    "numpy_version": "NumPy",
    "cpu_model": "CPU",
    "cpu_count": "CPU cores",
    "gpu_name": "GPU",
    "device": "device",
    "threads": "intra-op threads (0: default)",
    "deterministic": "determinism flags",
    "mode": "execution mode",
    "machine_peak_flops": "machine float32 peak: best matmul of any framework (FLOP utilisation's denominator)",
    "peak_matmul_flops": "this framework's own float32 matmul",
    "theoretical_peak_flops": "CPU theoretical float32 peak (lanes x FMA x 2 units x cores x clock)",
    "git_commit": "commit",
    "hostname": "host",
    "platform": "platform",
}


def distinct(values: pd.Series) -> str:
    """The distinct non-empty values of a column, joined; a mixed set is visible at a glance."""
    seen = sorted({str(v) for v in values.dropna() if str(v) not in ("", "nan")})
    return ", ".join(seen) if seen else "—"


def framework_versions(runs: pd.DataFrame) -> pd.Series:
    """`framework_version`, or the torch/tf version columns when a row lacks it."""
    own = runs["framework_version"] if "framework_version" in runs else pd.Series(pd.NA, index=runs.index)
    by_fw = runs["framework"].map({name: f.version_column for name, f in REGISTRY.items()})
    fallback = [runs.at[i, c] if c in runs else pd.NA for i, c in by_fw.items()]
    return own.fillna(pd.Series(fallback, index=runs.index, dtype=object))


def environment_table(data: ReportData) -> pd.DataFrame:
    """One row per item, one column per framework; also the dates the runs span."""
    runs = data.runs.assign(framework_version=framework_versions(data.runs))
    if "git_commit" in runs:
        runs["git_commit"] = runs["git_commit"].map(short_commit)
    for col in ("machine_peak_flops", "peak_matmul_flops", "theoretical_peak_flops"):
        if col in runs:
            runs[col] = runs[col].map(gflops)
    frameworks = [f for f in FRAMEWORK_ORDER if f in set(runs["framework"])]
    frameworks += sorted(set(runs["framework"]) - set(frameworks))
    rows = []
    for col, label in ENV_ITEMS.items():
        if col in runs:
            rows.append(
                {"item": label, **{framework_name(f): distinct(runs[runs["framework"] == f][col]) for f in frameworks}}
            )
    for col, label, pick in (("started_at", "first run started", min), ("finished_at", "last run finished", max)):
        if col in runs:
            rows.append(
                {
                    "item": label,
                    **{framework_name(f): span(runs[runs["framework"] == f][col], pick) for f in frameworks},
                }
            )
    return pd.DataFrame(rows)


def gflops(value: object) -> str:
    try:
        return f"{float(value) / 1e9:.1f} GFLOP/s" if float(value) > 0 else ""
    except (TypeError, ValueError):
        return ""


def short_commit(commit: object) -> object:
    """12 hex digits are unique enough and keep the table narrow; `-dirty` stays visible."""
    if not isinstance(commit, str) or not commit:
        return commit
    return commit[:12] + ("-dirty" if commit.endswith("-dirty") else "")


def span(values: pd.Series, pick) -> str:
    values = [str(v) for v in values.dropna() if str(v)]
    return pick(values)[:19].replace("T", " ") + " UTC" if values else "—"


def dataset_table(data: ReportData) -> pd.DataFrame:
    """Datasets the runs used, where from, and whether the 5,000-digit offline fallback stood in."""
    runs = data.runs
    cols = [c for c in ("dataset", "dataset_source", "offline_default") if c in runs]
    if "dataset" not in cols:
        return pd.DataFrame()
    keys = runs[cols].astype(str).replace({"nan": "—", "<NA>": "—", "None": "—"})
    table = keys.value_counts(sort=False).rename("runs").reset_index()
    return table.rename(columns={"dataset_source": "source", "offline_default": "offline default"})


def used_offline_default(data: ReportData) -> bool:
    runs = data.runs
    flag = runs["offline_default"].fillna(False).astype(bool).any() if "offline_default" in runs else False
    return bool(flag or (runs.get("dataset", pd.Series(dtype=str)) == "mnist-5k").any())


def suite_table(data: ReportData) -> pd.DataFrame:
    """The suite parameters, per suite and variant, as recorded in the run rows."""
    runs = data.runs
    rows = []
    for (suite, variant), g in runs.groupby(["suite", "variant"], sort=False):
        row = {"suite": suite or "—", "variant": variant}
        for col in ("steps", "warmup", "n_critic", "batch_size", "seed", "repeat"):
            if col in g:
                row[col if col not in ("seed", "repeat", "batch_size") else col + "s"] = values_text(g[col])
        row["intervals/run"] = intervals_per_run(data, g)
        row["runs"] = len(g)
        rows.append(row)
    return sort_cases(pd.DataFrame(rows)).rename(columns={"repeats": "repeat ids"})


def values_text(values: pd.Series) -> str:
    seen = sorted({int(v) for v in values.dropna()})
    return ", ".join(map(str, seen)) if seen else "—"


def intervals_per_run(data: ReportData, runs: pd.DataFrame) -> str:
    iv = data.intervals
    if iv.empty or "run_id" not in iv:
        return "—"
    counts = iv[iv["run_id"].isin(runs["run_id"])].groupby("run_id").size()
    return values_text(counts) if len(counts) else "—"
