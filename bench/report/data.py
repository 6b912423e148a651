"""Everything a report reads, loaded once from the result tables (never from live objects)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bench.errors import BenchError
from bench.frameworks import FRAMEWORKS, REFERENCE, REGISTRY
from bench.results import load, load_table, read_table_file

FRAMEWORK_NAMES = {name: f.label for name, f in REGISTRY.items()}
FRAMEWORK_ORDER = (REFERENCE, *(f for f in FRAMEWORKS if f != REFERENCE))  # the reference first
FAILED = ("failed", "timeout", "skipped", "diverged")
MEASURED = ("ok", "diverged")  # statuses whose speed and memory figures exist


@dataclass
class ReportData:
    """The tables of one results directory; optional tables are empty DataFrames when absent."""

    results_dir: Path
    runs: pd.DataFrame
    steps: pd.DataFrame
    intervals: pd.DataFrame
    parity: pd.DataFrame
    fid_floor: pd.DataFrame  # real-vs-real FID per dataset and sample count (bench.quality)
    evals: pd.DataFrame = field(default_factory=pd.DataFrame)  # FID along training (bench/evals.py)

    def measured(self) -> pd.DataFrame:
        """Runs that trained (ok or diverged) and have a throughput figure."""
        runs = self.runs[self.runs["status"].isin(MEASURED)]
        return runs[runs["images_per_s"].notna()] if "images_per_s" in runs else runs.iloc[0:0]

    def grid_path(self, run_id: str) -> Path:
        return self.results_dir / "grids" / f"{run_id}.png"


def load_report_data(results_dir: Path) -> ReportData:
    """Load and sanity-check the tables; every problem becomes one BenchError line."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise BenchError(f"results directory {results_dir} does not exist (run `python -m bench run` first)")
    try:
        runs, steps = load(results_dir)
        intervals = load_table(results_dir, "intervals")
        parity_file = results_dir / "parity" / "parity.parquet"
        parity = read_table_file(parity_file, "parity") if parity_file.exists() else None
        parity = pd.DataFrame() if parity is None else parity
        fid_floor = load_table(results_dir, "fid_floor")
        evals = load_table(results_dir, "evals")
    except (OSError, ValueError) as e:  # pyarrow's errors derive from these
        raise BenchError(f"cannot read the result tables in {results_dir}: {e}") from None
    if runs.empty:
        raise BenchError(f"no runs in {results_dir / 'runs'} (run `python -m bench run` first)")
    for col in ("run_id", "variant", "framework", "status"):
        if col not in runs:
            raise BenchError(f"the runs table in {results_dir} has no {col!r} column; is it a results directory?")
    return ReportData(results_dir, with_machine_peak(normalise(runs)), steps, intervals, parity, fid_floor, evals)


MACHINE = ["hostname", "cpu_model", "device", "gpu_name", "peak_threads"]


def with_machine_peak(runs: pd.DataFrame) -> pd.DataFrame:
    """One peak per machine, device and threads: the best matmul any framework measured there (its rows'
    own figures and what each run saw), and FLOP utilisation recomputed against it (bench/peak.py)."""
    if "peak_matmul_flops" not in runs or "flops_per_s" not in runs:
        return runs
    keys = [c for c in MACHINE if c in runs] or [c for c in ("hostname", "cpu_model", "device") if c in runs]
    measured = runs[["peak_matmul_flops", "machine_peak_flops"]] if "machine_peak_flops" in runs else None
    best = (measured.max(axis=1) if measured is not None else runs["peak_matmul_flops"]).astype(float)
    grouped = best.groupby([runs[k].astype(str) for k in keys]).transform("max") if keys else best.max()
    out = runs.assign(machine_peak_flops=grouped)
    out["flop_utilisation"] = out["flops_per_s"].astype(float) / out["machine_peak_flops"]
    out["framework_utilisation"] = out["flops_per_s"].astype(float) / out["peak_matmul_flops"].astype(float)
    return out


def normalise(runs: pd.DataFrame) -> pd.DataFrame:
    """Fill the identity columns a skipped or failed row may lack, so grouping never drops rows."""
    runs = runs.copy()
    defaults = {"seed": 0, "repeat": 0, "batch_size": 0, "device": "cpu", "reason": "", "arch": "", "suite": ""}
    defaults["dataset"] = ""
    defaults["precision"] = "fp32"  # runs recorded before precisions existed were all float32
    for col, value in defaults.items():
        runs[col] = runs[col].fillna(value) if col in runs else value
    runs["reason"] = runs["reason"].astype(str)
    for col in ("seed", "repeat", "batch_size"):
        runs[col] = runs[col].astype(int)
    for col in ("device", "dataset", "precision"):
        runs[col] = runs[col].astype(str)
    return runs.sort_values(["variant", "batch_size", "seed", "repeat", "framework"], kind="stable", ignore_index=True)


def framework_rank(framework: str) -> int:
    """The reference framework first, then registry order, then anything else: every table and legend."""
    return FRAMEWORK_ORDER.index(framework) if framework in FRAMEWORK_ORDER else len(FRAMEWORK_ORDER)


def framework_name(framework: str) -> str:
    return FRAMEWORK_NAMES.get(framework, framework)


def frameworks_phrase(frameworks: Iterable[str], sep: str = ", ", last: str = " and ") -> str:
    """The frameworks' names in report order, for prose: "PyTorch, TensorFlow and JAX"."""
    names = [framework_name(f) for f in sorted(set(frameworks), key=framework_rank)]
    return last.join([sep.join(names[:-1]), names[-1]]) if len(names) > 1 else "".join(names)
