"""`python -m bench parity`: run the parity levels for the variants, write and print the parity table.

Exit 0 when every level passes, 1 when one fails, 2 (one line `error: ...`) for bad input.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench.data import dataset_available
from bench.errors import BenchError, Parser
from bench.frameworks import FRAMEWORKS, REFERENCE, drop_missing_optional
from bench.parity.compare import Row, compare_variant
from bench.parity.levels import LEVELS, Job
from bench.parity.precision import DRIFT_UNITS, compare_variant_precision
from bench.parity.runner import collect, run_workers, run_workers_on
from bench.results import write_table_atomic
from bench.variants import VARIANTS

TABLE = Path("parity") / "parity.parquet"
NOTES = ("float32 is over", "looser check")  # detail parts the summary repeats for rows that pass


def build_parser() -> Parser:
    p = Parser(prog="python -m bench parity", description="Cross-framework parity checks (levels L1-L5).")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated variant names (default: all)")
    p.add_argument(
        "--frameworks", default="", help=f"frameworks to compare with {REFERENCE} (default: every one installed)"
    )
    p.add_argument("--levels", default=",".join(LEVELS), help=f"comma-separated levels among {', '.join(LEVELS)}")
    p.add_argument("--steps", type=int, default=50, help="L5 trajectory length")
    p.add_argument("--batch-size", type=int, default=0, help="batch size for every variant (default: each variant's)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, data and noise")
    p.add_argument(
        "--data", choices=("synthetic", "real"), default="synthetic", help="synthetic images or the real dataset"
    )
    p.add_argument("--data-dir", default="", help="directory holding the dataset files (with --data real)")
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16", "fp16"),
        default="fp32",
        help="bf16, fp16: also each framework's levels in that precision against its float32 ones and "
        "against the reference's, and the drift table",
    )
    p.add_argument("--device", default="cpu", help="cpu, or a GPU index (float32 with TF32 off on either)")
    p.add_argument("--threads", type=int, default=0, help="threads per worker (default: half the cores each)")
    p.add_argument("--results-dir", default="results", help="the table goes to RESULTS_DIR/parity/parity.parquet")
    p.add_argument("--timeout", type=float, default=7200.0, help="seconds before the workers are stopped")
    p.add_argument("--executor", choices=("local", "ray"), default="local", help="where the workers run")
    p.add_argument("--ray-address", help="Ray cluster (default: $RAY_ADDRESS, else a local instance)")
    p.add_argument("--workdir", default="", help="keep the workers' dumps and logs here (default: a temporary dir)")
    return p


def parse_job(argv: list[str]) -> tuple[Job, argparse.Namespace]:
    args = build_parser().parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    levels = [lv.strip() for lv in args.levels.split(",") if lv.strip()]
    for v in variants:
        if v not in VARIANTS:
            raise BenchError(f"unknown variant {v!r}; known: {', '.join(VARIANTS)}")
    for lv in levels:
        if lv not in LEVELS:
            raise BenchError(f"unknown level {lv!r}; known: {', '.join(LEVELS)}")
    if not variants or not levels:
        raise BenchError("nothing to check: give at least one variant and one level")
    args.frameworks = parse_frameworks(args.frameworks)
    if args.steps < 1 or args.batch_size < 0 or args.threads < 0:
        raise BenchError("steps must be >= 1, batch size and threads >= 0")
    if not (args.device == "cpu" or args.device.isdigit()):
        raise BenchError(f"device must be 'cpu' or a GPU index such as 0, got {args.device!r}")
    job = Job(variants, levels, args.steps, args.batch_size, args.seed, args.threads, args.data, args.data_dir,
              device=args.device, precision=args.precision)  # fmt: skip
    if job.data == "real":
        check_datasets(job)
    return job, args


def parse_frameworks(text: str) -> tuple[str, ...]:
    """The reference first, then the others named (installed or not: a missing one fails its rows).
    None named: every registered framework but the optional ones not installed (a note says which)."""
    names = [f.strip() for f in text.split(",") if f.strip()]
    if not names:
        names, notes = drop_missing_optional(FRAMEWORKS)
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
    for fw in names:
        if fw not in FRAMEWORKS:
            raise BenchError(f"unknown framework {fw!r}; known: {', '.join(FRAMEWORKS)}")
    others = tuple(dict.fromkeys(f for f in names if f != REFERENCE))
    if not others:
        raise BenchError(f"nothing to compare: name a framework besides the reference, {REFERENCE}")
    return (REFERENCE, *others)


def check_datasets(job: Job) -> None:
    """With --data real, every variant's dataset must be there now (the workers never download)."""
    for name in job.variants:
        ok, where = dataset_available(VARIANTS[name].dataset, job.data_dir or None)
        if not ok:
            raise BenchError(f"--data real: {name} needs {VARIANTS[name].dataset}, which is not available: {where}")


def run_parity(
    job: Job, workdir: Path, timeout: float, log=print, session=None, frameworks: tuple[str, ...] = FRAMEWORKS
) -> list[Row]:
    """One worker per framework on `job` (here, or as jobs of a Ray `session`), then the comparison of
    every variant's dumps, each framework against the reference (the first)."""
    progress = lambda line: log(f"  {line}")  # noqa: E731
    if session is not None:
        outs = run_workers_on(session, job, workdir, timeout, frameworks, on_progress=progress)
    else:
        outs = run_workers(job, workdir, timeout, frameworks, on_progress=progress)
    rows = []
    for name in job.variants:
        dumps = collect(outs, name, workdir)
        rows += compare_variant(name, dumps, job)
        if job.precision != "fp32":
            rows += compare_variant_precision(name, dumps, job)
    return rows


def rows_frame(rows: list[Row]) -> pd.DataFrame:
    df = pd.DataFrame([r.to_dict() for r in rows])
    df["drift_step"] = df["drift_step"].astype("Int64")
    return df


def summary(df: pd.DataFrame) -> str:
    """The table as text: one line per variant and level, then the details of what failed; with a low
    precision, its rows and the drift table after the float32 ones."""
    base = df[df["precision"] == "fp32"] if "precision" in df else df
    cols = f"{'max|diff|':>10s} {'max rel':>9s} {'tol':>7s} {'f64 rel':>9s}"
    head = f"{'variant':12s} {'vs ' + REFERENCE:9s} {'level':5s} {cols} {'ok':4s} {'drift':>5s}"
    lines = [head, "-" * len(head)]
    for r in base.itertuples():
        drift = "-" if pd.isna(r.drift_step) else str(r.drift_step)
        ok = "ok" if r.passed else "FAIL"
        f64 = "-" if pd.isna(r.f64_rel_diff) else f"{r.f64_rel_diff:.2e}"
        nums = f"{r.max_abs_diff:10.2e} {r.max_rel_diff:9.2e} {r.tolerance:7.0e} {f64:>9s}"
        lines.append(f"{r.variant:12s} {r.framework:9s} {r.level:5s} {nums} {ok:4s} {drift:>5s}")
    low = df[df["precision"] != "fp32"] if "precision" in df else df.iloc[:0]
    if len(low):
        lines += ["", *precision_lines(low)]
    notes = [(r, n) for r in df[df["passed"]].itertuples() for n in r.detail.split("; ") if n.startswith(NOTES)]
    if notes:
        lines += ["", "passed with a note:"] + [f"  {row_name(r)}: {n}" for r, n in notes]
    failed = df[~df["passed"]]
    if len(failed):
        lines += ["", "failed:"] + [f"  {row_name(r)}: {r.detail}" for r in failed.itertuples()]
    return "\n".join(lines)


def row_name(r) -> str:
    """`variant framework level`, and `precision vs baseline` for a low-precision row."""
    low = getattr(r, "precision", "fp32") != "fp32"
    return f"{r.variant} {r.framework} {r.level}" + (f" {r.precision} vs {r.against}" if low else "")


def precision_lines(low: pd.DataFrame) -> list[str]:
    """The low-precision rows (each framework against its own fp32 and against the reference at that
    precision), then the drift table: the step at which each loss curve leaves the other by > 16 u."""
    p = low["precision"].iloc[0]
    head = f"{'variant':12s} {'framework':9s} {'against':8s} {'level':5s} {'max rel':>9s} {'tol':>8s} ok"
    lines = [f"{p}: each framework against its own fp32 and against {REFERENCE} at {p}", head, "-" * len(head)]
    for r in low.itertuples():
        against = "fp32" if r.against == "fp32" else f"{r.against}@{p}"
        ok = "ok" if r.passed else "FAIL"
        lines.append(f"{r.variant:12s} {r.framework:9s} {against:8s} {r.level:5s} {r.max_rel_diff:9.2e} "
                     f"{r.tolerance:8.1e} {ok}")  # fmt: skip
    traj = low[low["level"] == "L5"]
    if len(traj):
        lines += ["", f"drift table ({p}): first step whose loss is off by > {DRIFT_UNITS} u of its size "
                  "('-': none in the trajectory)"]  # fmt: skip
        lines.append(f"{'variant':12s} {'framework':9s} {'vs fp32':>8s} {'vs ' + REFERENCE + '@' + p:>12s}")
        for (variant, fw), g in traj.groupby(["variant", "framework"], sort=False):
            step = {r.against: ("-" if pd.isna(r.drift_step) else str(int(r.drift_step))) for r in g.itertuples()}
            ref = step.get(REFERENCE, "") if fw != REFERENCE else ""
            lines.append(f"{variant:12s} {fw:9s} {step.get('fp32', ''):>8s} {ref:>12s}")
    return lines


def main_parity(argv: list[str]) -> int:
    try:
        job, args = parse_job(argv)
        started = time.perf_counter()
        print(
            f"parity: {len(job.variants)} variant(s), levels {','.join(job.levels)}, {job.steps} L5 steps, "
            f"{', '.join(args.frameworks[1:])} against {REFERENCE}",
            flush=True,
        )
        with tempfile.TemporaryDirectory(prefix="bench-parity-") as tmp, contextlib.ExitStack() as stack:
            workdir = Path(args.workdir or tmp)
            session = None
            if args.executor == "ray":
                from bench.executor_ray import Session, check_address

                check_address(args.ray_address)
                session = stack.enter_context(Session(args.ray_address))
            elif args.ray_address:
                raise BenchError("--ray-address is for --executor ray")
            log = lambda s: print(s, flush=True)  # noqa: E731
            rows = run_parity(job, workdir, args.timeout, log, session, args.frameworks)
        df = rows_frame(rows)
        path = Path(args.results_dir) / TABLE
        try:
            write_table_atomic(df, path)
        except OSError as e:
            raise BenchError(f"cannot write the parity table {path}: {e.strerror or e}") from None
        print(summary(df))
        took = time.perf_counter() - started
        print(f"\n{int(df['passed'].sum())}/{len(df)} checks passed in {took:.0f} s; table: {path}")
        return 0 if bool(df["passed"].all()) else 1
    except (BenchError, OSError) as e:  # OSError: a results or work directory that cannot be written
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main_parity(sys.argv[1:]))
