"""Persistent compilation caches: where they live and how a worker turns them on or off.

On by default, under `$BENCH_CACHE_DIR/compile/`: PyTorch Inductor's FX-graph and AOTAutograd caches
(`torch/`, through TORCHINDUCTOR_CACHE_DIR) and TensorFlow's XLA persistent cache (`tf-xla/`,
through TF_XLA_FLAGS). They must be set before the framework is imported, so the worker calls
`set_environment` first. With the caches off (`--no-compile-cache`) every compilation is cold: the
caches are disabled and Inductor gets an empty directory of the run's own. Each run row says whether
its compilation was `warm` (served from the cache), `cold`, `partial`, `off`, or empty for modes
that compile nothing, so cold and warm `compile_s` are never mixed.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.data.paths import cache_root

XLA_FLAG = "--tf_xla_persistent_cache_directory"


def compile_dir(name: str) -> Path:
    return cache_root() / "compile" / name


def set_environment(enabled: bool, workdir: Path) -> None:
    """Environment variables the frameworks read at import time."""
    if enabled:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(compile_dir("torch"))
        os.environ["TORCHINDUCTOR_FX_GRAPH_CACHE"] = "1"
        os.environ["TORCHINDUCTOR_AUTOGRAD_CACHE"] = "1"
        flags = [f for f in os.environ.get("TF_XLA_FLAGS", "").split() if not f.startswith(XLA_FLAG)]
        os.environ["TF_XLA_FLAGS"] = " ".join([*flags, f"{XLA_FLAG}={compile_dir('tf-xla')}"])
    else:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(workdir / "inductor-cold")
        os.environ["TORCHINDUCTOR_FX_GRAPH_CACHE"] = "0"
        os.environ["TORCHINDUCTOR_AUTOGRAD_CACHE"] = "0"


def xla_entries() -> int:
    """Files in the XLA persistent cache (TensorFlow cannot say whether a compile was a hit)."""
    root = compile_dir("tf-xla")
    return sum(1 for p in root.rglob("*") if p.is_file()) if root.is_dir() else 0
