"""The Ray executor (issue 14), run for real: a local Ray instance started by the suite, and a
simulated two-node cluster (`ray.cluster_utils.Cluster`) that loses a node mid-suite."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from bench import cli
from bench.results import load, load_table
from tests.conftest import REPO, run_cli
from tests.test_executor import default_sigint, workers_of

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed (.[ray])")
FAST = ["--steps", "2", "--warmup", "1", "--fid-samples", "0", "--no-report"]
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_ADDRESS": ""}
IDENTITY = ["run_id", "suite", "variant", "framework", "mode", "arch", "objective", "dataset", "seed", "repeat",
            "batch_size", "steps", "warmup", "n_critic", "device", "threads", "deterministic", "jobs",
            "status"]  # fmt: skip


def ray_workers() -> list[int]:
    """bench.worker processes started by Ray tasks (their scratch directories are bench-ray-<run id>-...)."""
    return workers_of("bench-ray-")


def test_ray_gives_the_same_rows_as_the_local_executor(tmp_path):
    args = ["run", "--suite", "quick", "--variants", "gan,dcgan", "--frameworks", "torch,tf", "--no-report"]
    local = run_cli(*args, "--results-dir", str(tmp_path / "local"))
    assert local.returncode == 0, local.stderr
    ray = run_cli(*args, "--executor", "ray", "--results-dir", str(tmp_path / "ray"), env=RAY_ENV)
    assert ray.returncode == 0 and "Traceback" not in ray.stderr, ray.stderr
    a, b = (load(tmp_path / d)[0].sort_values("run_id", ignore_index=True) for d in ("local", "ray"))
    assert len(a) == 4 and set(a["status"]) == {"ok"}
    assert a[IDENTITY].equals(b[IDENTITY])
    assert set(a["executor"]) == {"local"} and set(b["executor"]) == {"ray"} and set(b["attempt"]) == {1}
    assert b["node"].str.len().gt(0).all() and b["images_per_s"].gt(0).all()
    for table, key in (("steps", "step"), ("intervals", "interval")):
        ta, tb = load_table(tmp_path / "local", table), load_table(tmp_path / "ray", table)
        assert len(ta) == len(tb) and not tb.duplicated(["run_id", key]).any()
    assert sorted(p.name for p in (tmp_path / "ray" / "grids").iterdir()) == sorted(
        p.name for p in (tmp_path / "local" / "grids").iterdir()
    )
    assert "[on " in ray.stderr and "suite ETA" in ray.stderr
    # the evaluation phase ran as jobs on the cluster, and judged the same samples the same way
    assert "fid: fid reference + floor: finished on" in ray.stderr and "coverage: coverage: finished on" in ray.stderr
    for col in ("fid", "kid_mean", "classes_covered", "class_kl"):
        assert a[col].notna().all() and np.allclose(a[col], b[col], rtol=1e-6, atol=1e-9), (col, a[col], b[col])


def test_crash_and_hang_under_ray_are_rows_as_locally(tmp_path):
    env = {**RAY_ENV, "BENCH_TEST_CRASH": "dcgan", "BENCH_TEST_HANG": "lsgan"}
    p = run_cli("run", "--executor", "ray", "--variants", "dcgan,lsgan,gan", "--frameworks", "torch", "--timeout", "60",
                "--results-dir", str(tmp_path), *FAST, env=env)  # fmt: skip
    assert p.returncode == 1, p.stderr
    runs, _ = load(tmp_path)
    status = dict(zip(runs["variant"], runs["status"], strict=True))
    assert status == {"dcgan": "failed", "lsgan": "timeout", "gan": "ok"}
    reasons = dict(zip(runs["variant"], runs["reason"], strict=True))
    assert "exited with code 3" in reasons["dcgan"] and "within 60 s" in reasons["lsgan"]  # as locally: 60 s
    assert not ray_workers() and not list((tmp_path / ".work").iterdir())


def test_bad_input_and_a_missing_ray_are_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    for argv, message in (
        (["--executor", "slurm"], "unknown executor 'slurm'; known: local, ray"),
        (["--ray-address", "127.0.0.1:1"], "--ray-address is for --executor ray"),
        (["--executor", "ray", "--steps", "0"], "steps must be an integer from 1"),
        (["--executor", "ray", "--ray-address", "127.0.0.1:1"], "no Ray cluster answers at 127.0.0.1:1"),
    ):
        assert cli.main(["run", *argv, "--results-dir", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and message in err and "\n" not in err, err
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    assert cli.main(["run", "--executor", "ray", "--results-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == 'error: --executor ray needs Ray, which is not installed: pip install -c constraints.txt -e ".[ray]"'
    assert not (tmp_path / "r").exists()


def test_ctrl_c_cancels_every_task_and_records_none(tmp_path):
    env = {**os.environ, **RAY_ENV, "BENCH_TEST_HANG": "gan", "TF_CPP_MIN_LOG_LEVEL": "3"}
    args = ["run", "--executor", "ray", "--variants", "gan", "--frameworks", "torch", "--seeds", "0,1",
            "--threads", "1", "--results-dir", str(tmp_path), *FAST]  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "bench", *args], cwd=REPO, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)  # fmt: skip
    try:
        deadline = time.time() + 90
        while len(ray_workers()) < 2 and time.time() < deadline:
            time.sleep(0.2)
        assert len(ray_workers()) == 2, "the two tasks did not start together"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
    deadline = time.time() + 15
    while ray_workers() and time.time() < deadline:
        time.sleep(0.2)
    assert not ray_workers() and not list(tmp_path.glob("runs/*.parquet"))


@pytest.mark.slow
def test_a_node_lost_mid_suite_is_retried_from_its_last_checkpoint_and_every_run_recorded_once(tmp_path):
    """The cluster's fault promise, in CI: the retried task fetches the run's newest checkpoint from the
    driver (tasks and driver share no directory: checkpoints travel as data) and resumes there."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    try:
        nodes = [cluster.add_node(num_cpus=1) for _ in range(2)]
        cluster.wait_for_nodes()
        args = ["run", "--executor", "ray", "--ray-address", cluster.address, "--variants", "dcgan", "--frameworks",
                "torch", "--seeds", "0,1,2,3", "--threads", "1", "--steps", "24", "--warmup", "1", "--fid-samples",
                "0", "--checkpoint-every", "3", "--no-report", "--results-dir", str(tmp_path)]  # fmt: skip
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
        proc = subprocess.Popen([sys.executable, "-m", "bench", *args], cwd=REPO, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        deadline = time.time() + 120
        while len(ray_workers()) < 2 and time.time() < deadline:
            time.sleep(0.2)
        assert len(ray_workers()) == 2, "the two nodes did not both start a run"
        while len(list(tmp_path.glob("checkpoints/*/ckpt-*.npz"))) < 2 and time.time() < deadline:
            time.sleep(0.2)  # both running runs have sent the driver a checkpoint
        assert not (tmp_path / ".work").exists()  # nothing of a Ray run is written under the results directory
        cluster.remove_node(nodes[1])  # its running task dies with it
        out, err = proc.communicate(timeout=540)
        assert proc.returncode == 0 and "Traceback" not in err, err
    finally:
        cluster.shutdown()
    runs, steps = load(tmp_path)
    assert sorted(runs["seed"]) == [0, 1, 2, 3] and runs["run_id"].is_unique and set(runs["status"]) == {"ok"}
    assert len(steps) == 4 * 25 and not steps.duplicated(["run_id", "step"]).any()
    retried = runs[runs["attempt"] == 2]
    assert len(retried) >= 1 and set(runs["attempt"]) <= {1, 2}, runs[["seed", "node", "attempt"]]
    assert (retried["resumed"] >= 1).all() and retried["resumed_from"].str.len().gt(0).all(), retried["resumed_from"]
    assert (runs.loc[runs["attempt"] == 1, "resumed"] == 0).all()


def test_parity_runs_its_workers_as_ray_tasks(tmp_path):
    p = run_cli("parity", "--executor", "ray", "--variants", "gan", "--levels", "L1,L2,L3", "--batch-size", "8",
                "--results-dir", str(tmp_path), "--workdir", str(tmp_path / "work"), env=RAY_ENV)  # fmt: skip
    assert p.returncode == 0, p.stdout + p.stderr
    assert "parity-torch: finished on" in p.stdout and "parity-tf: finished on" in p.stdout
    table = pd.read_parquet(tmp_path / "parity" / "parity.parquet")
    assert set(table["level"]) == {"L1", "L2", "L3"} and table["passed"].all()


def test_a_file_sent_back_cannot_leave_its_directory(tmp_path):
    from bench.errors import BenchError
    from bench.jobs import write_file

    assert write_file(tmp_path, "a/b.npz", b"x").read_bytes() == b"x"
    for bad in ("../x", "/etc/passwd", "a/../../x", "."):
        with pytest.raises(BenchError, match="outside its directory"):
            write_file(tmp_path / "a", bad, b"x")
    assert not (tmp_path / "x").exists()


def test_a_driver_killed_with_kill_9_leaves_a_directory_that_resumes(tmp_path):
    args = ["run", "--executor", "ray", "--variants", "gan,dcgan,lsgan", "--frameworks", "torch", "--threads", "1",
            "--results-dir", str(tmp_path), *FAST]  # fmt: skip
    env = {**os.environ, **RAY_ENV, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen([sys.executable, "-m", "bench", *args], cwd=REPO, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 120
    while not list(tmp_path.glob("runs/*.parquet")) and time.time() < deadline:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)  # the driver only: its local Ray instance and workers are orphaned
    proc.wait()
    done_before = len(list(tmp_path.glob("runs/*.parquet")))
    assert 1 <= done_before < 3
    p = run_cli(*args, env=RAY_ENV)
    assert p.returncode == 0 and p.stderr.count("already done") == done_before, p.stderr
    runs, steps = load(tmp_path)
    assert sorted(runs["variant"]) == ["dcgan", "gan", "lsgan"] and set(runs["status"]) == {"ok"}
    assert not steps.duplicated(["run_id", "step"]).any() and len(steps) == 3 * 3


def test_a_gpu_run_sees_the_gpu_ray_assigned(tmp_path):
    code = (
        "import os; from bench.spec import RunSpec; from bench.worker import set_environment; "
        "set_environment(RunSpec('gan', 'torch', device='0')); print(os.environ['CUDA_VISIBLE_DEVICES'])"
    )
    for assigned, expected in (("3", "3"), ("", "0")):
        env = {**os.environ, "BENCH_VISIBLE_GPUS": assigned}
        out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
        assert out.stdout.strip() == expected, out.stderr


def test_the_driver_cancels_a_task_far_past_its_timeout():
    from bench.executor_ray import BACKSTOP_GRACE_S, _backstop
    from bench.spec import RunSpec

    class FakeRay:
        cancelled: list = []

        def cancel(self, ref, force=False):
            self.cancelled.append((ref, force))

    spec = RunSpec("gan", "torch", timeout=10.0)
    now = time.monotonic()
    live = {"late": ("h", spec, now - 10.0 - BACKSTOP_GRACE_S - 1), "fine": ("h", spec, now - 10.0)}
    ray = FakeRay()
    _backstop(ray, live)
    assert ray.cancelled == [("late", True)]


def test_scratch_of_killed_tasks_is_swept(tmp_path):
    """A task cancelled by force dies before its TemporaryDirectory cleanup; the next task on the node
    removes such directories (their process is gone) and nothing else."""
    from bench.executor_ray import sweep_scratch

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead, live = tmp_path / f"bench-ray-gan-p{gone.stdout.strip()}-abc", tmp_path / f"bench-ray-gan-p{os.getpid()}-x"
    other = tmp_path / "bench-ray-notes"
    for d in (dead, live, other):
        d.mkdir()
        (d / "spec.json").write_text("{}")
    sweep_scratch(tmp_path)
    assert not dead.exists() and live.exists() and other.exists()
