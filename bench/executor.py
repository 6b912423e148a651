"""Local executor: one worker subprocess per RunSpec, with a timeout, progress and atomic results.

The orchestrator never imports a framework. A crash, a hang (timeout) or a non-finite loss becomes
a row with its status and a one-line reason, and the suite goes on. The run row is written last,
so a suite killed half way leaves only complete runs behind and resumes where it stopped.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bench import checkpoint, evals, launch, resume
from bench.data import dataset_available
from bench.environment import environment
from bench.eta import Estimator, clock, expected, fid_s
from bench.results import check_run_id, is_finished, load_table, table_path, write_table_atomic
from bench.spec import RunSpec
from bench.validate import resolve

Session = None  # evaluators and parity workers run on this machine directly (see bench/executors.py)
STOPPING = threading.Event()  # set when the suite is interrupted: running workers are killed, not recorded
MOVED_FILES = {"steps.parquet": "steps", "intervals.parquet": "intervals"}


@dataclass
class Progress:
    """Prints `[i/N] variant framework: step a/b, x steps/s, suite ETA` (in place on a terminal).

    The ETA is bench/eta.py's: the running runs' remaining time, every run not started yet from the
    FLOP model and the speed of the runs finished so far, and the FID phase that follows."""

    total: int
    stream: object = sys.stderr
    jobs: int = 1  # runs at once; only a single run rewrites its line in place on a terminal
    queue: list[RunSpec] = field(default_factory=list)  # not started yet
    evaluated: list[RunSpec] = field(default_factory=list)  # scored in the FID phase after training
    running: dict[str, tuple[RunSpec, float]] = field(default_factory=dict)  # run id -> (spec, started)
    fid_phase_s: float = 0.0  # the FID phase after training, estimated again as each run ends
    estimator: Estimator = field(default_factory=Estimator)
    _last_print: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def due(self) -> bool:
        """Whether a non-final line would be printed now (so that an ETA is computed only then)."""
        return self._tty() or time.perf_counter() - self._last_print >= 10.0

    def _tty(self) -> bool:
        return self.jobs == 1 and getattr(self.stream, "isatty", lambda: False)()

    def line(self, msg: str, final: bool = False) -> None:
        tty = self._tty()
        with self.lock:
            now = time.perf_counter()
            if not final and not tty and now - self._last_print < 10.0:
                return
            self._last_print = now
            end = "\n" if final or not tty else ""
            print(("\r\033[K" if tty else "") + msg, end=end, file=self.stream, flush=True)

    def started(self, spec: RunSpec) -> None:
        with self.lock:
            self.queue = [s for s in self.queue if s.run_id != spec.run_id]
            self.running[spec.run_id] = (spec, time.monotonic())

    def finished(self, spec: RunSpec, row: dict) -> None:
        with self.lock:
            _, t0 = self.running.pop(spec.run_id, (spec, time.monotonic()))
            self.estimator.observe(spec, row, time.monotonic() - t0)
            self.fid_phase_s = fid_s(self.evaluated)  # the first run measured the matmul peak it stands on

    def eta(self, spec: RunSpec | None = None, left_s: float | None = None) -> str:
        """Suite ETA; `left_s` is what `spec`'s own progress says remains of it (better than the model)."""
        with self.lock:
            now, running = time.monotonic(), 0.0
            for run_id, (other, t0) in self.running.items():
                own = spec is not None and run_id == spec.run_id and left_s is not None
                running += left_s if own else max(0.0, self.estimator.predict(other) - (now - t0))
            rest = self.estimator.training_s(self.queue, self.jobs) + self.fid_phase_s
            return clock(running / max(1, min(self.jobs, len(self.running) or 1)) + rest)

    def plan(self, todo: list[RunSpec], results_dir: Path, suite: list[RunSpec] | None = None) -> None:
        """The runs to come (a run whose data is absent costs nothing), and what this machine recorded
        before for any run of the `suite` (the finished ones of a resumed suite, or all with --force)."""
        self.queue = [s for s in todo if skipped_row(s, with_environment=False) is None]
        self.evaluated = [s for s in self.queue if s.fid_samples]
        self.fid_phase_s = fid_s(self.evaluated)
        earlier = load_table(results_dir, "runs") if todo else pd.DataFrame()
        known = {s.run_id: s for s in (suite if suite is not None else todo)}
        self.estimator.learn_from_results(earlier.to_dict("records"), known)

    def announce(self) -> None:
        """The up-front line: runs to do and the expected duration (once `jobs` is known)."""
        how_long = expected(self.estimator, self.queue, self.evaluated, self.jobs)
        self.line(f"{len(self.queue)} runs to train; {how_long}", final=True)


def run_specs(
    specs: list[RunSpec],
    results_dir: Path,
    force: bool = False,
    log: Callable = print,
    jobs: int = 1,
    session: None = None,
) -> list[dict]:
    """Run every spec not already finished, `jobs` at a time; return the rows written (skipped-as-done
    ones excluded). With jobs > 1 the runs share the machine, so their speed figures are not for
    comparison (the row's `jobs` column says so); the rest of each run is unchanged."""
    progress = Progress(len(specs), jobs=max(1, jobs))
    todo = pending(specs, results_dir, force, progress)
    if todo:
        progress.announce()
    if jobs <= 1:
        return [_timed(spec, results_dir, progress, head) for head, spec in todo]
    STOPPING.clear()
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:  # submitting starts workers, so a Ctrl-C may land here too
        futures = [pool.submit(_timed, spec, results_dir, progress, head) for head, spec in todo]
        return [f.result() for f in futures]
    except BaseException:
        STOPPING.set()  # Ctrl-C: stop the running workers; they leave no row behind
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def pending(specs: list[RunSpec], results_dir: Path, force: bool, progress: Progress) -> list[tuple[str, RunSpec]]:
    """(progress label, spec) of every run still to do; finished ones are announced as skipped."""
    for spec in specs:
        resolve(spec)  # checked before any worker starts
    todo = []
    for i, spec in enumerate(specs, 1):
        head = f"[{i}/{len(specs)}] {spec.variant} {spec.framework} seed {spec.seed}"
        if not force and is_finished(results_dir, spec.run_id):
            progress.line(f"{head}: already done, skipped (--force reruns)", final=True)
        else:
            if force:  # a forced rerun starts at step 0; an unfinished run resumes from its checkpoints
                checkpoint.clear(checkpoint.run_folder(results_dir, spec.run_id))
                evals.clear(checkpoint.run_folder(results_dir, spec.run_id) / evals.FOLDER)
                evals.clear(evals.samples_folder(results_dir, spec.run_id))
            todo.append((head, spec))
    progress.plan([spec for _, spec in todo], results_dir, specs)
    return todo


def _timed(spec: RunSpec, results_dir: Path, progress: Progress, head: str) -> dict:
    progress.started(spec)
    row = execute(spec, results_dir, progress, head)
    progress.finished(spec, row)
    progress.line(f"{head}: {summary(row)}, suite ETA {progress.eta()}", final=True)
    return row


def summary(row: dict) -> str:
    if row["status"] in ("ok", "diverged"):
        s = f"{row['status']}, {row.get('images_per_s', float('nan')):.1f} images/s"
        return s + (f" ({row['reason']})" if row.get("reason") else "")
    return f"{row['status']}: {row.get('reason', '')}"


def execute(spec: RunSpec, results_dir: Path, progress: Progress, head: str) -> dict:
    """One run: skipped row if its data is absent, else a worker; write and return its row."""
    row = skipped_row(spec) or run_worker(spec, results_dir, progress, head)
    return record(spec, row, results_dir, {"executor": "local", "node": socket.gethostname(), "attempt": 1})


def skipped_row(spec: RunSpec, with_environment: bool = True) -> dict | None:
    """The row of a run whose data is absent (checked where the suite is started), else None."""
    run = resolve(spec)
    present, why = dataset_available(run.dataset, run.data_dir, not spec.data_dir)
    return None if present else {"status": "skipped", "reason": why, **(environment() if with_environment else {})}


def record(spec: RunSpec, row: dict, results_dir: Path, where: dict) -> dict:
    """Write the run row (identity, outcome, where it ran) last: its presence means the run is done."""
    row = {"run_id": spec.run_id, **identity(spec), **row, **where}
    write_table_atomic(pd.DataFrame([row]), table_path(results_dir, "runs", spec.run_id))
    if row["status"] in ("ok", "diverged"):  # finished: only the final state is worth its disk (train further)
        checkpoint.keep_newest(checkpoint.run_folder(results_dir, spec.run_id), 1)
    return row


WORKER_FILES = ("row.json", "stderr.log", *MOVED_FILES, "samples.npz", "grid.png")


def finish_from_files(spec: RunSpec, files: dict[str, bytes], returncode: int | None, results_dir: Path) -> dict:
    """A run's outcome from the files its worker left elsewhere (a Ray node): the same row, tables
    and samples as a local run. Only the worker's known file names are written."""
    if returncode is None:
        return timeout_row(spec)
    workdir = fresh_workdir(Path(results_dir) / ".work", spec.run_id)
    try:
        for name in WORKER_FILES:
            if name in files:
                (workdir / name).write_bytes(files[name])
        (workdir / "stderr.log").touch()
        row = _read_row(workdir, returncode)
        _collect(workdir, results_dir, spec.run_id)
        return row
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def identity(spec: RunSpec) -> dict:
    return resolve(spec).columns()


def run_worker(spec: RunSpec, results_dir: Path, progress: Progress, head: str) -> dict:
    workdir = fresh_workdir(Path(results_dir) / ".work", spec.run_id)
    try:
        return _run_in(workdir, spec, results_dir, progress, head)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # also after a timeout or a Ctrl-C


def _run_in(workdir: Path, spec: RunSpec, results_dir: Path, progress: Progress, head: str) -> dict:
    (workdir / "spec.json").write_text(json.dumps(spec.to_dict()))
    with open(workdir / "stderr.log", "w") as err:
        args = ["-m", launch.CHILDREN["worker"], str(workdir)]
        proc = launch.start(args, stdout=subprocess.PIPE, stderr=err, env=checkpoint_env(results_dir, spec), text=True)
        reader = threading.Thread(target=_follow, args=(proc, progress, head, spec), daemon=True)
        reader.start()
        try:
            launch.wait(proc, spec.timeout, STOPPING.is_set)
        except subprocess.TimeoutExpired:
            launch.kill_group(proc)
            reader.join(5)
            return timeout_row(spec)
        except BaseException:
            launch.kill_group(proc)  # Ctrl-C: take the worker down with us, keep what is recorded
            raise
        reader.join(5)
    row = _read_row(workdir, proc.returncode)
    _collect(workdir, results_dir, spec.run_id)
    return row


def checkpoint_env(results_dir: Path, spec: RunSpec) -> dict[str, str]:
    """The run's checkpoint folder for its worker: it resumes from what is there, saves what it takes."""
    return {
        resume.ENV: str(checkpoint.run_folder(results_dir, spec.run_id).resolve()),
        **continuation(spec, results_dir),
    }


def continuation(spec: RunSpec, results_dir: Path) -> dict[str, str]:
    """Train further: a run with no checkpoint of its own whose spec equals a finished run's but for more
    steps starts from that run's final checkpoint (copied into its own folder); {} when there is none."""
    own = checkpoint.run_folder(results_dir, spec.run_id)
    if checkpoint.checkpoints(own):
        return {}
    finals = []  # (steps, final checkpoint) of finished runs of this spec with fewer steps
    for folder in own.parent.glob(f"{glob.escape(spec.run_id.rsplit('-', 1)[0])}-*"):
        for path in checkpoint.checkpoints(folder):
            steps = checkpoint.step_of(path) - spec.warmup  # a final checkpoint is at warm-up + steps
            if 0 < steps < spec.steps and spec.with_(steps=steps).run_id == folder.name:
                finals.append((steps, path))
    for _, path in sorted(finals, reverse=True):  # the longest first
        if is_finished(results_dir, path.parent.name):
            checkpoint.add_file(own, path.name, path.read_bytes())
            return {resume.CONTINUES: path.parent.name}
    return {}


def fresh_workdir(root: Path, run_id: str) -> Path:
    """A new directory per attempt, after removing earlier attempts' leftovers.

    A worker orphaned by a killed orchestrator may still be finishing; with its own directory it
    can never write into (or be read as) a later attempt at the same run.
    """
    check_run_id(run_id)  # it names what is deleted here
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob(f"{glob.escape(run_id)}-*"):
        if old.parent == root:
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{run_id}-", dir=root))


def _follow(proc: subprocess.Popen, progress: Progress, head: str, spec: RunSpec) -> None:
    for line in proc.stdout:
        parts = line.split()
        if line.startswith("warning:"):
            progress.line(f"{head}: {line.strip()}", final=True)
        elif len(parts) == 4 and parts[0] == "PROGRESS":
            done, total, rate = int(parts[1]), int(parts[2]), float(parts[3])
            if progress.due():  # the ETA reads the model for every queued run: only when a line is printed
                left = (total - done) / rate if rate > 0 else 0.0
                progress.line(f"{head}: step {done}/{total}, {rate:.2f} steps/s, suite ETA {progress.eta(spec, left)}")


def timeout_row(spec: RunSpec, how: str = "worker killed") -> dict:
    return {"status": "timeout", "reason": f"no result within {spec.timeout:g} s; {how}"}


def _read_row(workdir: Path, returncode: int) -> dict:
    path = workdir / "row.json"
    if path.exists():
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            pass
    return {"status": "failed", "reason": exit_reason(returncode, workdir / "stderr.log")}


def exit_reason(returncode: int, stderr_log: Path) -> str:
    """Why a worker ended without a row: the signal that killed it, or its code and last stderr line.

    A signal's victim did not choose its last words, so they are not quoted as the reason.
    """
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        oom = ", possibly out of memory (the kernel's OOM killer sends SIGKILL)" if name == "SIGKILL" else ""
        return f"worker killed by {name}{oom}"
    lines = [ln for ln in stderr_log.read_text(errors="replace").splitlines() if ln.strip()]
    last = lines[-1].strip() if lines else "no output"
    return f"worker exited with code {returncode}: {last}"[:500]


def _collect(workdir: Path, results_dir: Path, run_id: str) -> None:
    """Move the worker's files into the results tables (before the run row is written)."""
    for name, table in MOVED_FILES.items():
        if (workdir / name).exists():
            write_table_atomic(
                pd.read_parquet(workdir / name).assign(run_id=run_id), table_path(results_dir, table, run_id)
            )
    evals.collect(checkpoint.run_folder(results_dir, run_id) / evals.FOLDER, results_dir, run_id)
    evals.collect(workdir / evals.FOLDER, results_dir, run_id)  # a worker given no checkpoint folder
    for name, folder in (("samples.npz", "samples"), ("grid.png", "grids")):
        if (workdir / name).exists():
            dest = Path(results_dir) / folder / f"{run_id}{Path(name).suffix}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(workdir / name, dest)
