"""Save or compare the step-speed baseline of this machine (pytest-benchmark, one store per machine).

    python benchmarks/run.py save    [pytest args]   # records a baseline: .benchmarks/<machine>/
    python benchmarks/run.py compare [pytest args]   # fails on a median regression > 10% against it

Why a wrapper: pytest-benchmark files its runs per platform ("Linux-CPython-3.11-64bit"), which two
different machines share; a baseline is only meaningful on the machine that made it, so the store is
`.benchmarks/<hostname>-<cpu model>` (or `$BENCH_BENCHMARK_STORAGE`). `compare` compares against the
latest saved run there; `--threshold` changes the 10% (pytest-benchmark's `median:10%` syntax).
Extra arguments go to pytest (e.g. `--step-variants gan,dcgan --step-rounds 20`).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.environment import cpu_model  # noqa: E402


def storage_dir() -> Path:
    if os.environ.get("BENCH_BENCHMARK_STORAGE"):
        return Path(os.environ["BENCH_BENCHMARK_STORAGE"])
    machine = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{socket.gethostname()}-{cpu_model()}").strip("-")
    return REPO / ".benchmarks" / machine


def pytest_args(action: str, threshold: str, storage: Path) -> list[str]:
    # -n 0 --dist no: timed alone, with no test workers beside (the test run's addopts start two; with any
    # --dist, pytest-benchmark turns itself off)
    common = ["-p", "no:cacheprovider", "-n", "0", "--dist", "no", "--benchmark-only", f"--benchmark-storage=file://{storage}",
              "--benchmark-columns=min,median,max,iqr,rounds", "--benchmark-sort=name", "--timeout=3600"]  # fmt: skip
    if action == "save":
        return [*common, "--benchmark-save=baseline"]
    return [*common, "--benchmark-compare", f"--benchmark-compare-fail=median:{threshold}"]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=("save", "compare"))
    ap.add_argument("--threshold", default="10%", help="median regression that fails `compare` (default 10%%)")
    a, rest = ap.parse_known_args(argv)
    storage = storage_dir()
    if a.action == "compare" and not any(storage.glob("*/*.json")):
        print(f"no baseline in {storage}: run `python benchmarks/run.py save` first", file=sys.stderr)
        return 2
    cmd = [sys.executable, "-m", "pytest", str(REPO / "benchmarks" / "test_step_speed.py"),
           *pytest_args(a.action, a.threshold, storage), *rest]  # fmt: skip
    print(f"benchmark store: {storage}", file=sys.stderr, flush=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST_")}  # not a test worker's
    return subprocess.run(cmd, cwd=REPO, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
