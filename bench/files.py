"""File helpers that several writers share: a file's SHA-256, and bytes written under a name atomically."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


FILE_MODE = 0o666 & ~_umask()  # what open() would give; mkstemp's 0600 hid results from a shared group


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_atomic(folder: Path, name: str, data: bytes) -> Path:
    """`folder/name` holding `data`, appearing by one rename (a reader never sees half of it)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    os.fchmod(fd, FILE_MODE)  # result files follow the umask, as the tables do
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, folder / name)
    return folder / name


def cache_root() -> Path:
    """`$BENCH_CACHE_DIR`, else `$XDG_CACHE_HOME/gan-bench`, else `~/.cache/gan-bench` (read on every call)."""
    if os.environ.get("BENCH_CACHE_DIR"):
        return Path(os.environ["BENCH_CACHE_DIR"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "gan-bench"


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
