"""pytest-benchmark regression checks: one training step per variant × framework, and the FID
evaluator's feature extraction of one batch (skipped where bench/fid/inception.py or its weights
are missing, and when `--step-variants` picks a subset).

Not part of the test run (pyproject's testpaths is `tests`); run through `python benchmarks/run.py`
(or `tox -e bench-save` / `tox -e bench-compare`), which keeps one baseline per machine.

How a benchmark is timed: a fresh worker process per variant × framework (benchmarks/step_worker.py)
imports one framework, warms up, then times each step itself (train_step plus the fetch of its losses,
which waits for the device) and prints the times. Those times become this benchmark's rounds, so
pytest-benchmark's statistics and `--benchmark-compare-fail=median:10%` see exactly one training step
per round: no process start, import, tracing or inter-process latency in them. pytest-benchmark has no
public call for "record these durations", so `record` uses its `_make_stats`, the method its own
timing loops call (pytest-benchmark is pinned in constraints.txt).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.variants import VARIANTS

HERE = Path(__file__).resolve().parent
WORKER_TIMEOUT_S = 1800


def worker_times(config: pytest.Config, *args: str) -> list[float]:
    """Per-round seconds from a step_worker.py process run with the benchmark options and `args`."""
    opt = config.getoption
    cmd = [sys.executable, str(HERE / "step_worker.py"), *args, "--batch", str(opt("--step-batch")),
           "--rounds", str(opt("--step-rounds")), "--warmup", str(opt("--step-warmup")),
           "--threads", str(opt("--step-threads")), "--device", opt("--step-device")]  # fmt: skip
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=WORKER_TIMEOUT_S)
    if p.returncode == 3:
        pytest.skip(p.stderr.strip().splitlines()[-1])
    if p.returncode != 0:
        pytest.fail(f"worker {' '.join(args)} failed: {p.stderr.strip().splitlines()[-1:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])["seconds"]


def record(benchmark, seconds: list[float]) -> None:
    """The worker's per-step times as this benchmark's rounds (one iteration each)."""
    benchmark._mode = "worker-timed"  # what benchmark(...) and pedantic(...) set: the fixture was used
    stats = benchmark._make_stats(1)
    for s in seconds:
        stats.update(s)


def test_train_step(benchmark, request, framework: str, variant: str) -> None:
    benchmark.group = f"train step, batch {request.config.getoption('--step-batch')}"
    benchmark.extra_info.update(framework=framework, variant=variant, batch=request.config.getoption("--step-batch"))
    record(benchmark, worker_times(request.config, "--framework", framework, "--variant", variant))


def test_fid_features(benchmark, request) -> None:
    """The FID evaluator's feature extraction (resize + Inception-v3) of one batch of 28x28 images."""
    if request.config.getoption("--step-variants") != ",".join(VARIANTS):
        pytest.skip("a subset of variants was asked for")
    benchmark.group = f"FID features, batch {request.config.getoption('--step-batch')}"
    record(benchmark, worker_times(request.config, "--fid-features"))
