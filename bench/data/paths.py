"""Where datasets live on disk: the user cache and the per-dataset directories inside it."""

from __future__ import annotations

import json
import os
from pathlib import Path


def cache_root() -> Path:
    """`$BENCH_CACHE_DIR`, else `$XDG_CACHE_HOME/gan-bench`, else `~/.cache/gan-bench` (read on every call)."""
    if os.environ.get("BENCH_CACHE_DIR"):
        return Path(os.environ["BENCH_CACHE_DIR"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "gan-bench"


def dataset_cache_dir(name: str) -> Path:
    """Downloads and extracted archives of dataset `name` go here."""
    return cache_root() / "datasets" / name


def write_cache_json(path: Path, data: dict) -> None:
    """Atomic JSON write into a cache; a cache that cannot be written only costs a re-measurement later."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_name(path)
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)
    except OSError:
        pass


def temp_name(path: Path) -> Path:
    """A sibling name unique to this process: write there, then `os.replace` into place atomically."""
    return path.with_name(f".{path.name}.{os.getpid()}.part")
