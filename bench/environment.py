"""The environment block recorded with every run (no framework import: versions come from metadata)."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from bench import launch
from bench.frameworks import REGISTRY
from bench.launch import REPO


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


BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 instructions that do bfloat16 arithmetic natively


@lru_cache(maxsize=1)
def cpu_bf16_flags() -> str:
    """The CPU's native bfloat16 instruction sets (comma-separated, "" when bf16 is emulated there)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return ",".join(f for f in BF16_FLAGS if f in have)
    except OSError:
        pass
    return ""


def gpu_precision_support(capability: str) -> dict[str, bool]:
    """TF32 and native bf16 tensor cores came with NVIDIA's compute capability 8.0 (Ampere)."""
    major = int(capability.split(".")[0]) if capability else 0
    return {"gpu_tf32": major >= 8, "gpu_bf16": major >= 8}


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
        "cpu_bf16": cpu_bf16_flags(),
        "cpu_bf16_native": bool(cpu_bf16_flags()),
        "git_commit": git_commit(),
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
    }


def framework_importable(framework: str) -> tuple[bool, str]:
    """Whether a framework imports here, checked in a subprocess so this process stays framework-free."""
    code = f"import {REGISTRY[framework].module} as m; print(m.__version__)"
    try:
        p = launch.run(["-c", code], timeout=120, env={"TF_CPP_MIN_LOG_LEVEL": "3"})
    except subprocess.TimeoutExpired:
        return False, "import timed out"
    if p.returncode == 0:
        return True, p.stdout.strip().splitlines()[-1]
    lines = p.stderr.strip().splitlines()
    return False, lines[-1] if lines else f"exit code {p.returncode}"
