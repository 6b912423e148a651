"""One orchestrator at a time per results directory.

Two suites writing into one directory would delete each other's live work directories and could
overwrite each other's rows. The lock is an advisory `flock` on `<results>/.lock`: the kernel
drops it when its holder dies (even by kill -9), so a lock left by a killed process is simply
taken over, and the file's content (pid, host, command, start time) only serves the message
shown to a second orchestrator. flock is per host: on a network filesystem shared by several
machines it may not exclude a process on another host.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from bench.errors import BenchError, oneline

LOCK_NAME = ".lock"


@contextlib.contextmanager
def results_lock(results_dir: Path, kind: str = "results directory", option: str = "--results-dir") -> Iterator[None]:
    """Hold the lock of `results_dir` (created if needed) for the duration of the block; `kind` and
    `option` name the directory in the refusal (a report directory is locked the same way)."""
    results_dir = Path(results_dir)
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(results_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise BenchError(f"cannot write to {kind} {results_dir} ({e.strerror or e})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BenchError(
                f"{kind} {results_dir} is in use by another bench run ({holder(fd)}); "
                f"wait for it to finish, or use another {option}"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(_me()).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _me() -> dict:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "command": oneline(" ".join(["python -m bench", *sys.argv[1:]]), 300),
    }


def holder(fd: int) -> str:
    """Who holds the lock, as the holder wrote it (best effort: it may be mid-write)."""
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {info['pid']} on {info['host']}, since {info['since']}: {info['command']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "holder unknown"
