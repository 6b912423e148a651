"""Shared fixtures: paths, a CLI runner, and small worker settings that keep tests fast."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("BENCH_OFFLINE", "1")  # tests never reach for the network (data tests patch mirrors)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Tests give each FID a fresh cache directory, where runtime="auto" would measure the runtimes again
# (~25 s each time); they use the PyTorch path. tests/test_fid_runtimes.py checks auto and the others.
os.environ.setdefault("BENCH_FID_RUNTIME", "torch")

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO.parent / "shared" / "datasets" / "mnist"


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    if not (SHARED_MNIST / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real MNIST not found at {SHARED_MNIST}")
    return SHARED_MNIST


def run_cli(*args: str, env: dict | None = None, timeout: float = 540, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """`python -m bench ARGS` in a subprocess, as a user would type it (in `cwd`: the repo by default)."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bench", *args], cwd=cwd, capture_output=True, text=True, env=full_env,
        timeout=timeout,
    )  # fmt: skip
