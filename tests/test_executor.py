"""One process per run: crashes and hangs become rows, the suite goes on, and a killed suite resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from bench.columns import GPU_ONLY
from bench.results import RUN_COLUMNS, load, load_table
from tests.conftest import REPO, run_cli

FAST = ["--frameworks", "torch", "--steps", "2", "--warmup", "1", "--fid-samples", "0", "--no-report"]


def test_crash_and_hang_are_recorded_and_the_suite_goes_on(tmp_path):
    env = {"BENCH_TEST_CRASH": "dcgan", "BENCH_TEST_HANG": "lsgan"}
    p = run_cli(
        "run", "--variants", "dcgan,lsgan,gan", "--timeout", "60", "--results-dir", str(tmp_path), *FAST, env=env
    )  # 60 s: the hang is cut there; the healthy gan run (~10 s on a quiet 2-core host) fits it on a busy one
    assert p.returncode == 1, p.stderr
    runs, _ = load(tmp_path)
    status = dict(zip(runs["variant"], runs["status"], strict=True))
    assert status == {"dcgan": "failed", "lsgan": "timeout", "gan": "ok"}
    reasons = dict(zip(runs["variant"], runs["reason"], strict=True))
    assert "exited with code 3" in reasons["dcgan"] and "within 60 s" in reasons["lsgan"]
    assert "failed dcgan torch" in p.stdout and "timeout lsgan torch" in p.stdout


def test_rerun_skips_finished_runs_unless_forced(tmp_path):
    args = ("run", "--variants", "gan", "--results-dir", str(tmp_path), *FAST)
    assert run_cli(*args).returncode == 0
    first = load(tmp_path)[0]["finished_at"].iloc[0]
    again = run_cli(*args)
    assert "already done" in again.stderr and load(tmp_path)[0]["finished_at"].iloc[0] == first
    run_cli(*args, "--force")
    runs, steps = load(tmp_path)
    assert len(runs) == 1 and runs["finished_at"].iloc[0] != first and len(steps) == 3


def test_resume_after_killing_a_suite_half_way(tmp_path):
    args = ["run", "--variants", "gan", "--seeds", "0,1,2,3", "--results-dir", str(tmp_path), *FAST]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen([sys.executable, "-m", "bench", *args], cwd=REPO, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 300
    while len(list((tmp_path / "runs").glob("*.parquet"))) < 2 and time.time() < deadline:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the orchestrator dies mid-run; its worker has its own session
    proc.wait()
    deadline = time.time() + 20
    while workers_of(tmp_path) and time.time() < deadline:
        time.sleep(0.2)
    assert not workers_of(tmp_path), "the orphaned worker outlived its orchestrator"
    done_before = {p.name for p in (tmp_path / "runs").glob("*.parquet")}
    assert 2 <= len(done_before) < 4
    p = run_cli(*args)
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("already done") == len(done_before)
    runs, steps = load(tmp_path)
    assert sorted(runs["seed"]) == [0, 1, 2, 3] and runs["run_id"].is_unique
    assert len(steps) == 4 * 3 and not steps.duplicated(["run_id", "step"]).any()


def test_a_worker_exits_when_its_orchestrator_is_killed(tmp_path):
    env = {**os.environ, "BENCH_TEST_HANG": "gan"}  # the worker would otherwise sleep for an hour
    proc = subprocess.Popen([sys.executable, "-m", "bench", "run", "--variants", "gan", "--results-dir", str(tmp_path),
                             *FAST], cwd=REPO, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 60
    while not workers_of(tmp_path) and time.time() < deadline:
        time.sleep(0.2)
    assert workers_of(tmp_path), "no worker started"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 15
    while workers_of(tmp_path) and time.time() < deadline:
        time.sleep(0.2)
    leftover = workers_of(tmp_path)
    for pid in leftover:
        os.kill(pid, signal.SIGKILL)
    assert not leftover, "the orphaned worker outlived its orchestrator"


def default_sigint() -> None:
    """Ctrl-C as a terminal delivers it: a test runner started in the background (nohup, `cmd &`)
    hands its children SIGINT ignored or blocked, and Python then never raises KeyboardInterrupt."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def workers_of(results_dir) -> list[int]:
    """PIDs of live bench.worker processes working under results_dir (Linux /proc)."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"bench.worker" in cmd and any(str(results_dir).encode() in c for c in cmd) and state != "Z":
            pids.append(int(proc.name))
    return pids


def test_result_schema(tmp_path):
    p = run_cli("run", "--variants", "gan", "--frameworks", "torch,tf", "--results-dir", str(tmp_path),
                "--steps", "4", "--warmup", "1", "--fid-samples", "0", "--no-report")  # fmt: skip
    assert p.returncode == 0, p.stderr
    runs, steps = load(tmp_path)
    assert set(RUN_COLUMNS) - set(GPU_ONLY) <= set(runs.columns)
    assert (runs["status"] == "ok").all() and runs["images_per_s"].gt(0).all()
    assert runs["peak_rss_mb"].gt(runs["baseline_rss_mb"]).all() and runs["dataset"].notna().all()
    assert runs["torch_version"].str.startswith("2.13").all() and runs["tf_version"].str.startswith("2.21").all()
    assert runs.groupby("framework")["params_g"].first().nunique() == 1
    assert list(steps.columns[:2]) == ["step", "phase"] or {"step", "phase", "run_id"} <= set(steps.columns)
    for col in ("loss_d", "loss_g", "grad_norm_d", "grad_norm_g"):
        assert steps[col].notna().all()
    intervals = load_table(tmp_path, "intervals")
    assert set(intervals.columns) >= {"run_id", "interval", "steps", "seconds", "images_per_s"}
    assert isinstance(runs, pd.DataFrame) and (tmp_path / "grids").is_dir()


def test_jobs_run_concurrently_and_say_so_in_their_rows(tmp_path):
    p = run_cli("run", "--variants", "gan,dcgan", "--jobs", "2", "--results-dir", str(tmp_path), *FAST)
    assert p.returncode == 0, p.stderr
    runs, _ = load(tmp_path)
    assert sorted(runs["variant"]) == ["dcgan", "gan"] and set(runs["status"]) == {"ok"}
    assert set(runs["jobs"]) == {2} and (runs["threads"] >= 1).all()  # the cores split between the two
    start, end = (pd.to_datetime(runs[c]) for c in ("started_at", "finished_at"))
    assert start.max() < end.min(), "the two runs did not overlap"


def test_interrupting_concurrent_jobs_stops_their_workers_and_records_nothing(tmp_path):
    env = {**os.environ, "BENCH_TEST_HANG": "gan", "TF_CPP_MIN_LOG_LEVEL": "3"}
    args = ["run", "--variants", "gan", "--seeds", "0,1", "--jobs", "2", "--results-dir", str(tmp_path), *FAST]
    proc = subprocess.Popen([sys.executable, "-m", "bench", *args], cwd=REPO, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)  # fmt: skip
    deadline = time.time() + 60
    while len(workers_of(tmp_path)) < 2 and time.time() < deadline:
        time.sleep(0.2)
    assert len(workers_of(tmp_path)) == 2, "the two workers did not start together"
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert not workers_of(tmp_path)
    assert not list(tmp_path.glob("runs/*.parquet")), "an interrupted run was recorded"
