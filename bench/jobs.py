"""A job: one `python -m MODULE ...` subprocess in a scratch directory of its own.

Its input files are written there first and every file it leaves there comes back as bytes, so an
executor can run it on any machine (a Ray node) without a shared filesystem. Training runs,
evaluators and parity workers are all jobs; the executors (`bench/executor.py`,
`bench/executor_ray.py`) decide where they run.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import launch
from bench.errors import BenchError

DIR = "{dir}"  # in a job's arguments: its scratch directory


@dataclass
class Job:
    """What to run and what it needs; `cpus`/`gpus` are what a scheduler reserves for it."""

    name: str
    module: str
    args: tuple[str, ...] = ()
    inputs: dict[str, bytes] = field(default_factory=dict)  # relative path -> content
    timeout: float | None = None
    cpus: float = 1.0
    gpus: int = 0
    env: dict[str, str] = field(default_factory=dict)
    in_scratch: bool = False  # run with the scratch directory as working directory (relative paths)


@dataclass
class JobResult:
    """How a job ended: `returncode` None means it was killed at its timeout."""

    name: str
    returncode: int | None
    files: dict[str, bytes]  # every file it left in its scratch directory, inputs excluded
    stderr_tail: list[str]
    node: str = ""
    attempt: int = 1
    seconds: float = 0.0


def run_job(job: Job, scratch: Path) -> JobResult:
    """Run `job` in `scratch` (an empty directory) here; its stdout is not kept."""
    for name, data in job.inputs.items():
        (scratch / name).parent.mkdir(parents=True, exist_ok=True)
        (scratch / name).write_bytes(data)
    args = ["-m", job.module, *(a.replace(DIR, str(scratch)) for a in job.args)]
    t0 = time.perf_counter()
    with open(scratch / "stderr.log", "w") as err:
        proc = launch.start(args, stderr=err, env=job.env, cwd=scratch if job.in_scratch else None, renice=True)
        try:
            code: int | None = launch.wait(proc, job.timeout)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            launch.kill_group(proc)  # on a timeout, and on anything that interrupts us
    lines = [ln for ln in (scratch / "stderr.log").read_text(errors="replace").splitlines() if ln.strip()]
    files = {
        p.relative_to(scratch).as_posix(): p.read_bytes()
        for p in sorted(scratch.rglob("*"))
        if p.is_file() and p.relative_to(scratch).as_posix() not in job.inputs
    }
    return JobResult(job.name, code, files, lines[-20:], socket.gethostname(), 1, time.perf_counter() - t0)


def write_file(root: Path, relative: str, data: bytes) -> Path:
    """Write a file a job sent back under `root`; a name that would leave `root` is refused."""
    target = (root / relative).resolve()
    if not target.is_relative_to(root.resolve()) or target == root.resolve():
        raise BenchError(f"a job sent back a file named {relative!r}, outside its directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


def ok(result: JobResult, what: str) -> JobResult:
    """The result of a job that must succeed, or one BenchError with its last stderr line."""
    if result.returncode != 0:
        how = "timed out" if result.returncode is None else f"exited with code {result.returncode}"
        last = result.stderr_tail[-1] if result.stderr_tail else "no output"
        raise BenchError(f"{what} {how} on {result.node}: {last}")
    return result
