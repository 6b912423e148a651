"""Run the two framework workers (in parallel, one process each) and collect their dumps."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from bench import launch
from bench.parity.compare import FRAMEWORKS, Dump, load_dump
from bench.parity.levels import Job


def worker_args(fw: str, job_path: Path, outdir: Path) -> list[str]:
    return ["-m", launch.CHILDREN["parity"], fw, str(job_path), str(outdir)]


def run_workers(
    job: Job,
    workdir: Path,
    timeout: float = 3600.0,
    frameworks: tuple[str, ...] = FRAMEWORKS,
    on_progress: Callable[[str], None] = lambda line: None,
) -> dict[str, Path]:
    """Start one worker per framework on `job`; return each framework's output directory.

    Workers run side by side; with threads unset each gets its share of the cores, so they do not fight
    over them. A worker that exits non-zero or times out simply leaves fewer dumps: the comparison
    reports what is missing and why (the worker's log is `workdir/{fw}.log`).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    if job.threads <= 0 and len(frameworks) > 1:
        job.threads = max(1, (os.cpu_count() or 2) // len(frameworks))
    job_path = workdir / "job.json"
    job.write(job_path)
    procs, outs = {}, {}
    try:
        for fw in frameworks:
            outs[fw] = workdir / fw
            log = open(workdir / f"{fw}.log", "w")  # noqa: SIM115 - closed below, after the process ends
            args = worker_args(fw, job_path, outs[fw])
            procs[fw] = (launch.start(args, stdout=log, stderr=subprocess.STDOUT, cwd=launch.REPO), log)
        _wait(procs, outs, job, timeout, on_progress)
    finally:
        for p, log in procs.values():
            launch.kill_group(p)  # after a timeout, and on anything that interrupts us
            log.close()
    return outs


def run_workers_on(
    session,
    job: Job,
    workdir: Path,
    timeout: float = 3600.0,
    frameworks: tuple[str, ...] = FRAMEWORKS,
    on_progress: Callable[[str], None] = lambda line: None,
) -> dict[str, Path]:
    """The same workers as `run_workers`, as jobs on a cluster (`bench.executor_ray.Session`): each
    framework's dumps and log land where `run_workers` puts them, so `collect` reads them alike.
    A worker with no thread count reserves a whole node."""
    from bench.jobs import Job as SubprocessJob
    from bench.jobs import write_file

    workdir.mkdir(parents=True, exist_ok=True)
    job.write(workdir / "job.json")
    spec = (workdir / "job.json").read_bytes()
    jobs = [SubprocessJob(f"parity-{fw}", "bench.parity.worker", (fw, "job.json", "out"), {"job.json": spec}, timeout,
                          cpus=float(job.threads), in_scratch=True) for fw in frameworks]  # fmt: skip
    outs = {}
    for fw, res in zip(frameworks, session.run_jobs(jobs, on_progress), strict=True):
        outs[fw] = workdir / fw
        outs[fw].mkdir(parents=True, exist_ok=True)
        for name, data in res.files.items():
            if name.startswith("out/"):
                write_file(outs[fw], name.removeprefix("out/"), data)
        (workdir / f"{fw}.log").write_bytes(res.files.get("stderr.log", b""))
        if res.returncode is None:
            on_progress(f"{fw} worker timed out after {timeout:.0f} s")
    return outs


def _wait(procs: dict, outs: dict[str, Path], job: Job, timeout: float, on_progress: Callable[[str], None]) -> None:
    deadline = time.monotonic() + timeout
    seen: set[tuple[str, str]] = set()
    while True:
        for fw, out in outs.items():
            for name in job.variants:
                if (fw, name) not in seen and any((out / f"{name}{ext}").exists() for ext in (".npz", ".error")):
                    seen.add((fw, name))
                    on_progress(f"{fw:5s} {name} done ({sum(1 for f, _ in seen if f == fw)}/{len(job.variants)})")
        running = [fw for fw, (p, _) in procs.items() if p.poll() is None]
        if not running:
            break
        if time.monotonic() > deadline:
            for fw in running:
                on_progress(f"{fw} worker timed out after {timeout:.0f} s")
            break
        time.sleep(0.5)


def collect(outs: dict[str, Path], variant: str, workdir: Path) -> dict[str, Dump | str]:
    """Each framework's dump for `variant`, or why there is none (with the log's last line)."""
    got: dict[str, Dump | str] = {}
    for fw, out in outs.items():
        d = load_dump(out, variant)
        if isinstance(d, str) and not (out / f"{variant}.error").exists():
            d += f"; last log line: {_last_line(workdir / f'{fw}.log')}"
        got[fw] = d
    return got


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "(no log)"
    return lines[-1][:300] if lines else "(empty log)"
