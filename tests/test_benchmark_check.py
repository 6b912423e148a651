"""The pytest-benchmark regression check catches a slower step and passes an unchanged one.

A real round trip of benchmarks/run.py on the smallest model (gan, PyTorch, batch 16, 1 thread), built to
hold on a busy machine: every timed step carries an injected sleep (`BENCH_INJECT_SLEEP_MS`) far longer
than the step itself (a few ms), so the timings are the sleep's. Save a baseline at 250 ms a step;
compare the unchanged tree at 250 ms (passes: load can stretch the few ms of real work, not the sleep);
compare at 750 ms (fails with pytest-benchmark's "Performance has regressed": +200% against the 50%
threshold, more than any load on the baseline could hide). Before, the baseline and the unchanged run
were timed live without the sleep, and a busy machine failed the unchanged comparison.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib

import pytest

from tests.conftest import REPO

ARGS = ["--threshold", "50%", "--step-variants", "gan", "--step-frameworks", "torch", "--step-threads", "1",
        "--step-rounds", "8", "--step-warmup", "1"]  # fmt: skip
STEP_MS = 250  # injected into every timed step: the timings are this sleep's, whatever the load


def bench(action: str, storage, inject_ms: int = 0) -> subprocess.CompletedProcess:
    env = {**os.environ, "BENCH_BENCHMARK_STORAGE": str(storage), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("BENCH_INJECT_SLEEP_MS", None)
    if inject_ms:
        env["BENCH_INJECT_SLEEP_MS"] = str(inject_ms)
    cmd = [sys.executable, str(REPO / "benchmarks" / "run.py"), action, *ARGS]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow
def test_regression_check_fails_on_an_injected_slowdown_only(tmp_path):
    saved = bench("save", tmp_path, inject_ms=STEP_MS)
    assert saved.returncode == 0, saved.stdout[-3000:] + saved.stderr[-2000:]
    assert len(list(tmp_path.glob("*/0001_baseline.json"))) == 1
    same = bench("compare", tmp_path, inject_ms=STEP_MS)
    assert same.returncode == 0, same.stdout[-3000:]
    slower = bench("compare", tmp_path, inject_ms=3 * STEP_MS)
    assert slower.returncode != 0
    assert "Performance has regressed" in slower.stdout + slower.stderr
    assert "test_train_step[torch-gan]" in slower.stdout


def test_benchmarks_are_not_part_of_the_test_run():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert config["testpaths"] == ["tests"]
    assert not list((REPO / "tests").glob("**/bench_*.py"))


@pytest.mark.slow
@pytest.mark.parametrize(("variant", "framework"), [("wgan-gp", "torch"), ("wgan", "tf")])
def test_overhead_benchmark_runs_its_bare_loops(variant, framework):
    """benchmarks/overhead.py end to end on the objectives with a penalty (torch) and clipping (tf), a
    few tiny rounds: its bare loops read the trainer's objective, so a refactor cannot silently break them."""
    cmd = [sys.executable, str(REPO / "benchmarks" / "overhead.py"), "--variants", variant, "--frameworks", framework,
           "--steps", "2", "--rounds", "2", "--max-rounds", "2", "--batch-size", "4", "--threads", "1"]  # fmt: skip
    p = subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    )
    assert p.returncode == 0, p.stderr[-2000:]
    line = next(ln for ln in p.stdout.splitlines() if ln.startswith(variant))
    assert "failed" not in line and "CI not narrowed" in line  # two rounds cannot narrow a 95% interval
