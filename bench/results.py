"""Result tables: one Parquet file per run per table, written atomically, loaded as DataFrames.

Layout under a results directory:
  runs/<run_id>.parquet       one row per run (spec, status, figures, environment) — written LAST,
                              so its presence means the run is finished
  steps/<run_id>.parquet      one row per training step (losses, gradient norms)
  intervals/<run_id>.parquet  one row per timed interval (steps, seconds, images/s)
  metrics/<run_id>.parquet    per-run quality metrics (FID, KID, coverage...) added after training
  evals/<run_id>.parquet      FID along training (--eval-every): run_id, step, the FID/KID and coverage
                              columns of `metrics` at that step (samples/<run_id>/step-<step>.npz)
  samples/<run_id>.npz        generated uint8 images (fixed noise) for FID; grids/<run_id>.png

Schema of `runs` (bench/columns.py has every column of every table, with its meaning):
  identity   run_id, suite, variant, framework, mode, arch, objective, dataset, dataset_source,
             offline_default, seed, repeat, batch_size, steps, warmup, n_critic, device, threads,
             deterministic, jobs, labeled_fraction
  outcome    status (ok | diverged | failed | timeout | skipped), reason (one line), steps_done
  speed      images_per_s (median over intervals), images_per_s_p10, images_per_s_p90,
             step_time_s (median), first_step_s (first call: tracing/compilation + one step),
             warmup_s, timed_s, build_s, compile_s
  flops      flops_per_step (analytic), flops_per_s, flop_utilisation (of machine_peak_flops),
             framework_utilisation (of peak_matmul_flops)
  memory     baseline_rss_mb (after imports), peak_rss_mb, rss_increase_mb, peak_device_mem_mb
  model      params_g, params_d
  training   loss_d_final, loss_g_final (mean over the last 10% of steps), divergence_step (-1: none),
             d_test_accuracy (ssgan)
  env        python_version, numpy_version, <framework>_version (each registered one), framework_version, cpu_model,
             cpu_count, gpu_name, git_commit, hostname, platform, started_at, finished_at, wall_s,
             peak_matmul_flops, peak_matmul_n, peak_matmul_cached, machine_peak_flops, theoretical_peak_flops,
             peak_threads
  placement  executor (local | ray), node, attempt
Schema of `steps`: run_id, step (0-based, warm-up included), phase (warmup | timed), loss_d,
  loss_g, grad_norm_d, grad_norm_g. Schema of `intervals`: run_id, interval, steps, seconds,
  images_per_s, segment (0, or the resumed segment it belongs to), counted (False for the first interval
  of a resumed segment: it paid that process's tracing/compilation, so speed figures leave it out).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from bench.columns import COLUMNS, RUN_COLUMNS  # noqa: F401  (RUN_COLUMNS importable from here, as before)
from bench.errors import BenchError, show
from bench.files import FILE_MODE

SAFE_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")  # run ids become file names


def check_run_id(run_id: object) -> str:
    """Run ids become file names: only letters, digits, '.', '_' and '-' (no separators, no '..' head)."""
    if not isinstance(run_id, str) or not SAFE_RUN_ID.fullmatch(run_id):
        raise BenchError(f"unsafe run id {show(run_id)}: run ids may hold only letters, digits, '.', '_' and '-'")
    return run_id


TABLES = ("runs", "steps", "intervals", "metrics", "evals")
FINISHED = ("ok", "diverged", "skipped")


# Columns a file must have to belong to a table (a foreign or truncated file is skipped, not fatal).
REQUIRED = {
    "runs": ("run_id", "variant", "framework", "status"),
    "steps": ("run_id", "step"),
    "intervals": ("run_id",),
    "metrics": ("run_id",),
    "evals": ("run_id", "step"),
}
_reported: set[Path] = set()


def write_table_atomic(df: pd.DataFrame, path: Path) -> None:
    """Write Parquet to a temporary name in the same directory, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, FILE_MODE)
        df.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def table_path(results_dir: str | Path, table: str, run_id: str) -> Path:
    """`<results>/<table>/<run_id>.parquet`; an unsafe run id never becomes a path."""
    return Path(results_dir) / table / f"{check_run_id(run_id)}.parquet"


def is_finished(results_dir: str | Path, run_id: str) -> bool:
    """A run counts as finished once its run row exists with a final status (failures are retried)."""
    path = table_path(results_dir, "runs", run_id)
    if not path.exists():
        return False
    try:
        return str(pd.read_parquet(path, columns=["status"])["status"].iloc[0]) in FINISHED
    except Exception:
        return False


def warn_stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def read_table_file(path: Path, table: str, warn: Callable[[str], None] = warn_stderr) -> pd.DataFrame | None:
    """One file of a table, or None after one warning line when it is corrupt or foreign."""
    try:
        df = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises many types for truncated or non-Parquet bytes
        return _skip(path, f"not a readable Parquet file ({type(e).__name__})", warn)
    missing = [c for c in REQUIRED.get(table, ()) if c not in df.columns]
    if missing:
        return _skip(path, f"not a {table} table (no {', '.join(missing)} column)", warn)
    if table in REQUIRED and not all(isinstance(r, str) and SAFE_RUN_ID.fullmatch(r) for r in df["run_id"]):
        return _skip(path, "holds a run_id that is not a valid run id", warn)
    if table in REQUIRED and not (df["run_id"] == path.stem).all():
        return _skip(path, f"its rows belong to another run than {path.stem}", warn)
    if wrong := wrong_type(df, table):
        return _skip(path, wrong, warn)
    return df


def wrong_type(df: pd.DataFrame, table: str) -> str:
    """Why a column holds another kind of value than the column registry says (numbers as text, text as
    numbers), or ''. Columns the registry does not know, and columns with no value at all, pass."""
    for name, col in COLUMNS.get(table, {}).items():
        if name not in df or df[name].isna().all():
            continue
        values = df[name]
        if col.dtype == "str":
            bad = pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)
        else:  # numbers or booleans: text there is the fault (object columns of numbers and nulls pass)
            bad = values.map(lambda v: isinstance(v, str | bytes)).any()
        if bad:
            return f"its {name} column holds {values.dtype} values, not {col.dtype} (bench/columns.py)"
    return ""


def _skip(path: Path, why: str, warn: Callable[[str], None]) -> None:
    if path not in _reported:  # once per file and process: several loads read the same table
        _reported.add(path)
        warn(f"warning: skipping {path}: {why}")
    return None


def load_table(results_dir: str | Path, table: str, warn: Callable[[str], None] = warn_stderr) -> pd.DataFrame:
    """All files of one table concatenated (empty DataFrame when there are none); corrupt or foreign
    files are named in one warning line each and left out."""
    folder = Path(results_dir) / table
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    frames = [df for f in files if (df := read_table_file(f, table, warn)) is not None and not df.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def load(results_dir: str | Path = "results") -> tuple[pd.DataFrame, pd.DataFrame]:
    """`(runs, steps)`: one row per run (with its quality metrics merged in) and one per step."""
    runs = load_table(results_dir, "runs")
    metrics = load_table(results_dir, "metrics")
    if not runs.empty and not metrics.empty and "run_id" in metrics:
        extra = [c for c in metrics.columns if c not in runs.columns or c == "run_id"]
        runs = runs.merge(metrics[extra].drop_duplicates("run_id", keep="last"), on="run_id", how="left")
    return runs, load_table(results_dir, "steps")
