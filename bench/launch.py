"""Starting a Python child of the project: the one place that builds its command line and environment,
starts it in a process group of its own, waits for it and kills it.

Workers, evaluators, parity workers and the framework probe all start here. What a child sets for itself
(thread counts, compile caches) stays in the child, since a Ray task starts the same modules elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[1]  # the repository root: what makes `bench` importable

CHILDREN = {  # what `python -m` runs, by role: module paths as strings, not imports
    "worker": "bench.worker",
    "fid": "bench.fid.child",
    "coverage": "bench.metrics.evaluate",
    "parity": "bench.parity.worker",
}


def pythonpath() -> str:
    """The repository root first, then whatever PYTHONPATH this process was given."""
    return os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A child's environment: `bench` importable, unbuffered output, and this process's pid, so that a
    worker exits when whoever started it is gone."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(extra or {})}
    env["PYTHONPATH"] = pythonpath()
    env["BENCH_ORCHESTRATOR_PID"] = str(os.getpid())
    return env


def start(
    args: list[str],
    *,
    stdout: int | IO[Any] | None = subprocess.DEVNULL,
    stderr: int | IO[Any] | None = subprocess.DEVNULL,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    text: bool = False,
    renice: bool = False,
) -> subprocess.Popen:
    """`python ARGS...` (e.g. ["-m", CHILDREN["worker"], dir]) in a session of its own, so that
    `kill_group` takes down everything it started; `renice` undoes an inherited niceness."""
    return subprocess.Popen(
        [sys.executable, *args], stdout=stdout, stderr=stderr, env=child_env(env), cwd=cwd, text=text,
        start_new_session=True, preexec_fn=normal_priority if renice else None,
    )  # fmt: skip


def normal_priority() -> None:
    """Undo an inherited niceness (Ray runs its task processes at nice 15): a run measured at low
    priority would lose the CPU to every daemon on the node. Needs the privilege to raise priority;
    without it the child keeps the niceness it inherited."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, 0)


def wait(proc: subprocess.Popen, timeout: float | None, stop: Callable[[], bool] = lambda: False) -> int:
    """The child's exit code; TimeoutExpired after `timeout` s, KeyboardInterrupt as soon as `stop()`.

    The child keeps running on either: the caller kills it (`kill_group`), usually in a `finally`."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = 0.5 if deadline is None else min(0.5, max(0.0, deadline - time.monotonic()))
        try:
            return proc.wait(timeout=left)
        except subprocess.TimeoutExpired:
            if deadline is not None and time.monotonic() >= deadline:
                raise
            if stop():
                raise KeyboardInterrupt from None


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the child's process group (it runs in its own session) and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def run(args: list[str], timeout: float | None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `python ARGS...` to its end, capturing its output as text; killed (with its group) after
    `timeout` s, which raises TimeoutExpired."""
    proc = start(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        kill_group(proc)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
