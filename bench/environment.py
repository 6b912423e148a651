"""The environment block recorded with every run (no framework import: versions come from metadata)."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from bench.frameworks import REGISTRY

REPO = Path(__file__).resolve().parents[1]


def package_version(*names: str) -> str:
    """Installed version of the first distribution found among `names`, or "" if none is installed."""
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return ""


@lru_cache(maxsize=1)
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@lru_cache(maxsize=1)
def git_commit() -> str:
    """HEAD's commit, with `-dirty` when tracked files differ from it; "" outside a checkout."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return ""


def environment() -> dict[str, str | int]:
    return {
        "python_version": platform.python_version(),
        "numpy_version": package_version("numpy"),
        **{f.version_column: package_version(*f.distributions) for f in REGISTRY.values()},
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count() or 0,
        "git_commit": git_commit(),
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
    }


def framework_importable(framework: str) -> tuple[bool, str]:
    """Whether a framework imports here, checked in a subprocess so this process stays framework-free."""
    import sys

    module = REGISTRY[framework].module
    code = f"import {module} as m; print(m.__version__)"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    try:
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    except subprocess.TimeoutExpired:
        return False, "import timed out"
    if p.returncode == 0:
        return True, p.stdout.strip().splitlines()[-1]
    lines = p.stderr.strip().splitlines()
    return False, lines[-1] if lines else f"exit code {p.returncode}"
