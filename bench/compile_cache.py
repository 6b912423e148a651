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

from bench.files import cache_root
from bench.frameworks import REGISTRY


def compile_dir(framework: str) -> Path:
    """The framework's persistent compile cache directory under `$BENCH_CACHE_DIR/compile/`."""
    return cache_root() / "compile" / (REGISTRY[framework].cache_dir or framework)


def set_environment(enabled: bool, workdir: Path) -> None:
    """Environment variables the frameworks read at import time (bench/frameworks.py says which)."""
    for fw in REGISTRY.values():
        for var, value in fw.compile_cache_env(compile_dir(fw.name) if enabled else None,
                                               workdir).items():  # fmt: skip
            os.environ[var] = merge_flags(os.environ.get(var, ""), value) if var.endswith("_FLAGS") else value


def merge_flags(old: str, new: str) -> str:
    """A flags variable keeps the user's other flags; ours replace any earlier value of the same flag."""
    ours = {f.split("=", 1)[0] for f in new.split()}
    return " ".join([*(f for f in old.split() if f.split("=", 1)[0] not in ours), *new.split()])
