"""Ray executor: each run is one Ray task that still runs one worker subprocess, on any node.

The task reserves the run's threads as CPUs (and one GPU for a GPU run; the worker is pinned to
the GPU Ray assigned), runs `bench.worker` in a scratch directory on its node and returns the run's
files as data, so no shared filesystem is needed. The driver writes them into the results
directory exactly as the local executor does: same run ids, same resume, same rows, plus where the
run ran (`executor`, `node`, `attempt`).

Faults: the per-run timeout is enforced inside the task (the worker's process group is killed) and
by the driver as a backstop (`ray.cancel(force=True)`). A node lost mid-run is retried elsewhere by
Ray (`max_retries`); only the attempt that finishes is recorded, so a run is never recorded twice.
Checkpoints travel as data too: the task uploads each one its worker writes (in the task's own scratch
directory) to a small actor on the driver's node, which keeps them in the results directory as the
local executor does; a retried task first fetches the newest one from it and resumes there.
Ctrl-C cancels every task and records none of the unfinished runs. Nothing is written before a
task has finished, so a driver killed with kill -9 leaves a results directory that resumes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import checkpoint, evals, launch, resume
from bench.errors import BenchError
from bench.executor import (
    Progress,
    continuation,
    finish_from_files,
    pending,
    record,
    skipped_row,
    summary,
    timeout_row,
)
from bench.jobs import DIR, Job, JobResult, run_job
from bench.spec import RunSpec

MAX_RETRIES = 3  # attempts after the first when a node or worker process is lost
BACKSTOP_GRACE_S = 120.0  # the driver cancels a task this long after its own timeout should have fired
POLL_S = 2.0
UPLOAD_POLL_S = 1.0  # how often a task looks for a new checkpoint of its worker


def check_address(address: str | None) -> None:
    """A `host:port` cluster address must answer now: Ray itself waits minutes on a wrong one.
    (`auto`, `local` and `ray://` client addresses are left to Ray.)"""
    address = address or os.environ.get("RAY_ADDRESS") or ""
    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except OSError as e:
        raise BenchError(
            f"no Ray cluster answers at {address} ({e.strerror or e}); start one with `ray start --head`"
        ) from None


def import_ray():
    """Ray, or one clear error when the optional extra is not installed."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError:
        raise BenchError('--executor ray needs Ray: pip install -c constraints.txt -e ".[ray]"') from None
    return ray


@dataclass
class Session:
    """A connection to a Ray cluster: an existing one (address or RAY_ADDRESS), or a local instance
    started for the suite and stopped after it."""

    address: str | None = None
    cpus: int | None = None  # CPUs of a local instance (default: this machine's)
    counter: object = field(default=None, repr=False)

    def __enter__(self) -> Session:
        ray = import_ray()
        address = self.address or os.environ.get("RAY_ADDRESS") or None
        env = {"env_vars": {"PYTHONPATH": launch.pythonpath()}}
        try:
            if address:
                ray.init(address=address, runtime_env=env, log_to_driver=False, logging_level=logging.WARNING)
            else:
                cpus = self.cpus or len(os.sched_getaffinity(0))
                ray.init(num_cpus=cpus, include_dashboard=False, runtime_env=env, log_to_driver=False,
                         logging_level=logging.WARNING)  # fmt: skip
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise BenchError(f"cannot connect to the Ray cluster at {address or 'a new local instance'}: {e}") from None
        self.counter = attempt_counter(ray)
        return self

    def __exit__(self, *exc) -> None:
        import ray

        ray.shutdown()  # a local instance stops with it; a cluster stays up

    @property
    def nodes(self) -> int:
        import ray

        return max(1, sum(1 for n in ray.nodes() if n.get("Alive") and n["Resources"].get("CPU", 0) > 0))

    def run_jobs(self, jobs: list[Job], log: Callable[[str], None] = print) -> list[JobResult]:
        """Run jobs as tasks (an evaluator, a parity worker), all at once; their results in order.
        A job's `cpus` 0 means a whole node; Ctrl-C cancels them all."""
        import ray
        from ray.exceptions import RayError

        whole = cluster_check(ray, [])
        task = ray.remote(max_retries=MAX_RETRIES)(remote_job)
        refs = [task.options(num_cpus=j.cpus or whole, num_gpus=j.gpus).remote(j, self.counter) for j in jobs]
        try:
            pending = list(refs)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                res: JobResult = ray.get(done[0])
                count = f"{len(refs) - len(pending)}/{len(refs)}"
                log(f"{res.name}: finished on {res.node} in {res.seconds:.0f} s ({count})")
            return [ray.get(r) for r in refs]
        except BaseException as e:  # a failed task, or Ctrl-C: cancel them all
            for ref in refs:
                ray.cancel(ref, force=True)
            if isinstance(e, RayError):
                raise BenchError(f"a Ray task failed: {type(e).__name__}: {str(e).splitlines()[0]}"[:300]) from None
            raise


def attempt_counter(ray):
    """A small actor on the driver's node that numbers each run's attempts (Ray retries a task
    after a lost node without telling the driver)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    @ray.remote(num_cpus=0)
    class Attempts:
        def __init__(self) -> None:
            self.seen: dict[str, int] = {}

        def next(self, key: str) -> int:
            self.seen[key] = self.seen.get(key, 0) + 1
            return self.seen[key]

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    return Attempts.options(scheduling_strategy=here).remote()


def checkpoint_store(ray, results_dir: Path):
    """An actor on the driver's node that keeps the runs' checkpoints in the results directory (tasks on
    other nodes send and fetch them as data: no shared filesystem)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    @ray.remote(num_cpus=0)
    class Checkpoints:
        def __init__(self, root: str) -> None:
            self.root = Path(root)

        def put(self, run_id: str, name: str, data: bytes) -> None:
            checkpoint.add_file(checkpoint.run_folder(self.root, run_id), name, data)

        def put_eval(self, run_id: str, name: str, data: bytes) -> None:
            evals.add_file(checkpoint.run_folder(self.root, run_id) / evals.FOLDER, name, data)

        def newest(self, run_id: str) -> tuple[str, bytes] | None:
            found = checkpoint.latest(checkpoint.run_folder(self.root, run_id), lambda msg: None)
            return (found.path.name, found.path.read_bytes()) if found else None

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    return Checkpoints.options(scheduling_strategy=here).remote(str(Path(results_dir).resolve()))


class Uploader(threading.Thread):
    """Sends each checkpoint the worker completes in `folder` to the store, newest state first."""

    def __init__(self, ray, store, run_id: str, folder: Path) -> None:
        super().__init__(daemon=True)
        self.ray, self.store, self.run_id, self.folder = ray, store, run_id, folder
        self.sent: set[str] = set()
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(UPLOAD_POLL_S):
            self.sweep()

    def sweep(self) -> None:
        """Sample sets first (a checkpoint implies the sets taken before it), then checkpoints, oldest first."""
        for _, path in evals.sets(self.folder / evals.FOLDER):
            self.send(path, self.store.put_eval)
        for path in reversed(checkpoint.checkpoints(self.folder)):
            self.send(path, self.store.put)

    def send(self, path: Path, put) -> None:
        if path.name not in self.sent:
            with contextlib.suppress(OSError):  # a checkpoint pruned meanwhile by the worker
                self.ray.get(put.remote(self.run_id, path.name, path.read_bytes()))
                self.sent.add(path.name)

    def finish(self) -> None:
        self.done.set()
        self.join()
        self.sweep()


def remote_job(job: Job, counter, store=None) -> JobResult:
    """Body of every Ray task: run the job in a scratch directory on this node, return its files. A
    worker job with a checkpoint store resumes from the store's newest checkpoint and sends it its own."""
    import ray

    attempt = ray.get(counter.next.remote(job.name)) if counter is not None else 1
    if job.gpus:  # the worker uses the GPU Ray assigned to this task, not index 0 of the node
        job.env["BENCH_VISIBLE_GPUS"] = ",".join(str(g) for g in ray.get_gpu_ids())
    label = re.sub(r"[^A-Za-z0-9._-]", "-", job.name)[:100]
    sweep_scratch(Path(tempfile.gettempdir()))
    with contextlib.ExitStack() as stack:
        scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix=f"bench-ray-{label}-p{os.getpid()}-"))
        uploader = None
        if store is not None:
            ckpts = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"bench-ray-ckpt-p{os.getpid()}-")))
            if (newest := ray.get(store.newest.remote(job.name))) is not None:
                checkpoint.add_file(ckpts, *newest)
            job.env[resume.ENV] = str(ckpts)
            uploader = Uploader(ray, store, job.name, ckpts)
            uploader.sent.update(p.name for p in checkpoint.checkpoints(ckpts))
            uploader.start()
        try:
            result = run_job(job, Path(scratch))
        finally:
            if uploader is not None:
                uploader.finish()
    result.node = f"{socket.gethostname()}/{ray.get_runtime_context().get_node_id()[:8]}"
    result.attempt = attempt
    return result


def sweep_scratch(root: Path) -> None:
    """Remove scratch directories of tasks whose process is gone: a task cancelled by force (Ctrl-C,
    timeout backstop) or on a lost node is killed before its own cleanup runs."""
    for path in root.glob("bench-ray-*-p*-*"):
        match = re.search(r"-p(\d+)-[^-]*$", path.name)
        if match is None or not path.is_dir() or path.is_symlink():
            continue
        try:
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except (PermissionError, OverflowError):  # another user's live process, or not a pid
            continue


def cluster_check(ray, specs: list[RunSpec]) -> float:
    """CPUs one run reserves when it sets no thread count: the smallest node's, so it fits anywhere.
    A GPU run on a cluster without GPUs is an error before any task starts."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if any(s.device != "cpu" for s in specs) and not ray.cluster_resources().get("GPU", 0):
        raise BenchError("GPU runs were asked for (--device) but the Ray cluster has no GPUs")
    return min((n["Resources"].get("CPU", 1.0) for n in nodes), default=1.0) or 1.0


def worker_job(spec: RunSpec, whole_node_cpus: float, results_dir: Path) -> Job:
    import json

    gpu = spec.device != "cpu"
    return Job(
        name=spec.run_id,
        module=launch.CHILDREN["worker"],
        args=(DIR,),
        inputs={"spec.json": json.dumps(spec.to_dict()).encode()},
        timeout=spec.timeout,
        cpus=float(spec.threads) if spec.threads > 0 else whole_node_cpus,
        gpus=1 if gpu else 0,
        env=continuation(spec, results_dir),  # its checkpoint folder is the task's own (remote_job)
    )


def run_specs(
    specs: list[RunSpec],
    results_dir: Path,
    force: bool = False,
    log: Callable = print,
    jobs: int = 1,
    address: str | None = None,
    cpus: int | None = None,
    session: Session | None = None,
) -> list[dict]:
    """Run every spec not already finished as Ray tasks; return the rows written, in finishing order."""
    progress = Progress(len(specs), jobs=max(1, jobs))
    todo = pending(specs, results_dir, force, progress)
    rows: list[dict] = []
    runnable = []
    for head, spec in todo:
        if (row := skipped_row(spec)) is not None:
            rows.append(record(spec, row, results_dir, {"executor": "ray", "node": "", "attempt": 0}))
            progress.line(f"{head}: {summary(rows[-1])}", final=True)
        else:
            runnable.append((head, spec))
    if not runnable:
        return rows
    with contextlib.ExitStack() as stack:
        session = session or stack.enter_context(Session(address, cpus))
        import ray

        whole = cluster_check(ray, [s for _, s in runnable])
        progress.jobs = _slots(ray, runnable[0][1], whole)  # runs at once, for the ETA
        progress.announce()
        task = ray.remote(max_retries=MAX_RETRIES)(remote_job)
        store = checkpoint_store(ray, results_dir)
        rows += _drive(ray, task, (session.counter, store), runnable, whole, results_dir, progress)
    return rows


def _drive(ray, task, actors, runnable, whole: float, results_dir: Path, progress: Progress) -> list[dict]:
    """Submit as many tasks as the cluster can run at once, record each as it finishes."""
    queue, live, rows = list(runnable), {}, []
    try:
        while queue or live:
            while queue and len(live) < _slots(ray, queue[0][1], whole):
                head, spec = queue.pop(0)
                job = worker_job(spec, whole, results_dir)
                ref = task.options(num_cpus=job.cpus, num_gpus=job.gpus).remote(job, *actors)
                live[ref] = (head, spec, time.monotonic())  # the start, for the backstop
                progress.started(spec)
            done, _ = ray.wait(list(live), num_returns=1, timeout=POLL_S)
            for ref in done:
                head, spec, _ = live.pop(ref)
                rows.append(_finish(ray, ref, spec, results_dir))
                progress.finished(spec, rows[-1])
                where = rows[-1]["node"] + (f", attempt {rows[-1]['attempt']}" if rows[-1]["attempt"] > 1 else "")
                progress.line(f"{head}: {summary(rows[-1])} [on {where}], suite ETA {progress.eta()}", final=True)
            _backstop(ray, live)
    except BaseException:
        for ref in live:  # Ctrl-C (or any error): cancel everything, record none of it
            ray.cancel(ref, force=True)
        raise
    return rows


def _slots(ray, spec: RunSpec, whole: float) -> int:
    """Runs the cluster can hold at once (at least one): its CPUs over one run's reservation."""
    cpus = ray.cluster_resources().get("CPU", 1.0)
    return max(1, int(cpus // (float(spec.threads) if spec.threads > 0 else whole)))


def _backstop(ray, live: dict) -> None:
    """Cancel tasks far past their timeout (a node that hangs, a task stuck in the queue)."""
    now = time.monotonic()
    for ref, (_, spec, started) in list(live.items()):
        if now - started > spec.timeout + max(BACKSTOP_GRACE_S, spec.timeout):
            ray.cancel(ref, force=True)


def _finish(ray, ref, spec: RunSpec, results_dir: Path) -> dict:
    """The run row of a finished task (a cancelled or lost task becomes a timeout or failed row)."""
    from ray.exceptions import RayError, TaskCancelledError

    try:
        result: JobResult = ray.get(ref)
    except TaskCancelledError:
        row = timeout_row(spec, "task cancelled by the driver")
        return record(spec, row, results_dir, {"executor": "ray", "node": "", "attempt": 0})
    except RayError as e:
        reason = f"Ray task failed after {MAX_RETRIES + 1} attempts: {type(e).__name__}: {str(e).splitlines()[0]}"
        return record(spec, {"status": "failed", "reason": reason[:500]}, results_dir,
                      {"executor": "ray", "node": "", "attempt": MAX_RETRIES + 1})  # fmt: skip
    row = finish_from_files(spec, result.files, result.returncode, results_dir)
    return record(spec, row, results_dir, {"executor": "ray", "node": result.node, "attempt": result.attempt})
