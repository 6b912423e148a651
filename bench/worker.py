"""One run in its own process: `python -m bench.worker WORKDIR` (WORKDIR/spec.json in, files out).

The worker sets threads, visible devices and determinism flags in the environment BEFORE importing
its one framework, trains, and writes into WORKDIR: row.json (the run row), steps.parquet,
intervals.parquet, samples.npz and grid.png. The orchestrator moves them into the results
directory. Progress goes to stdout as `PROGRESS done total steps_per_s` lines.
"""

from __future__ import annotations

import builtins
import importlib
import json
import os
import signal
import sys
import threading
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from bench import compile_cache, frameworks
from bench.errors import BenchError
from bench.spec import RunSpec


def set_environment(spec: RunSpec) -> None:
    """Environment variables the frameworks read at import time."""
    if spec.threads > 0:
        os.environ.update(frameworks.thread_environment(spec.threads))
    # A GPU run sees only its GPU: the one a scheduler assigned (Ray), else the index asked for.
    gpu = os.environ.get("BENCH_VISIBLE_GPUS") or str(spec.device)
    os.environ["CUDA_VISIBLE_DEVICES"] = "" if spec.device == "cpu" else gpu
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.update(frameworks.import_environment())
    if spec.deterministic:
        os.environ["TF_DETERMINISTIC_OPS"] = "1"
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
    if os.environ.get("BENCH_TEST_LOSS_SCALE"):  # test hook: fp16 loss scales start here (2**60 overflows)
        from bench import precision

        precision.set_initial_scale(float(os.environ["BENCH_TEST_LOSS_SCALE"]))
    if os.environ.get("BENCH_TEST_CRASH") == spec.variant:  # test hook: a worker that dies hard
        os._exit(3)
    if os.environ.get("BENCH_TEST_HANG") == spec.variant:  # test hook: a worker that never ends
        time.sleep(3600)
    if os.environ.get("BENCH_TEST_KILL") == spec.variant:  # test hook: killed as the OOM killer would
        print("an unrelated warning a framework printed", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


def raise_test_error(spec: RunSpec) -> None:
    """Test hook: `BENCH_TEST_RAISE=variant:ExceptionName` raises that built-in exception, no message."""
    variant, _, name = os.environ.get("BENCH_TEST_RAISE", "").partition(":")
    error = getattr(builtins, name, None)
    if variant == spec.variant and isinstance(error, type) and issubclass(error, Exception):
        raise error()


def import_framework(framework: str):
    """(runtime, train) modules of one framework, or a one-line error naming what is missing."""
    try:
        package = frameworks.get(framework).package
        runtime = importlib.import_module(f"{package}.runtime")
        train = importlib.import_module(f"{package}.train")
    except ImportError as e:
        raise BenchError(f"framework {framework!r} is not installed or does not import: {e}") from None
    return runtime, train


def progress(done: int, total: int, rate: float) -> None:
    try:
        print(f"PROGRESS {done} {total} {rate:.4f}", flush=True)
    except BrokenPipeError:  # the orchestrator is gone: nobody will read this run
        os._exit(1)


def exit_with_parent(poll_s: float = 1.0) -> None:
    """Exit when the orchestrator dies (the worker has its own session, so a killpg misses it).

    The orchestrator passes its PID: one killed while this process was still starting up has
    already been replaced by the reaper as our parent.
    """
    parent = int(os.environ.get("BENCH_ORCHESTRATOR_PID") or os.getppid())

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def main(argv: list[str]) -> int:
    workdir = Path(argv[0])
    exit_with_parent()
    spec = RunSpec.from_dict(json.loads((workdir / "spec.json").read_text()))
    started = datetime.now(UTC)
    set_environment(spec)
    compile_cache.set_environment(spec.compile_cache, workdir)
    row: dict = {}
    try:
        from bench.run_one import run  # imports numpy-side modules only

        runtime, train = import_framework(spec.framework)
        raise_test_error(spec)
        row = run(spec, workdir, runtime, train, progress)
        code = 0
    except BenchError as e:
        row = {"status": "failed", "reason": failure_reason(e, with_type=False)}
        code = 1
    except Exception as e:  # any crash becomes a row; the traceback goes to stderr for the log
        traceback.print_exc()
        row = {"status": "failed", "reason": failure_reason(e)}
        code = 1
    row["started_at"] = started.isoformat()
    row["finished_at"] = datetime.now(UTC).isoformat()
    row["wall_s"] = (datetime.now(UTC) - started).total_seconds()
    (workdir / "row.json").write_text(json.dumps(row, default=_json_default))
    return code


def failure_reason(e: BaseException, with_type: bool = True) -> str:
    """One line: the exception's first non-empty message line, its type when there is no message
    (MemoryError() says nothing else)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    if not lines:
        return f"{type(e).__name__} (no message)"
    return (f"{type(e).__name__}: {lines[0]}" if with_type else lines[0])[:500]


def _json_default(o):
    if isinstance(o, (np.integer, np.floating, np.bool_)):
        return o.item()
    if isinstance(o, pd.Timestamp):
        return o.isoformat()
    return str(o)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
