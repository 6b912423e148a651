"""Checkpoints and exact resume: a run killed with SIGKILL at random points (one of them inside a
checkpoint's write) and rerun ends bit for bit where an uninterrupted run ends, in every framework."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench import checkpoint
from tests.conftest import REPO, run_cli

SUITE = """name = "resume"
variants = ["dcgan"]
batch_sizes = [16]
steps = 24
warmup = 2
intervals = 8
checkpoint_every = 6
fid_samples = 0
"""


def args(results: Path, suite: Path, mnist: Path, framework: str) -> list[str]:
    return ["run", "--suite-file", str(suite), "--frameworks", framework, "--deterministic", "--threads", "1",
            "--data-dir", str(mnist), "--results-dir", str(results), "--no-report"]  # fmt: skip


def kill_everything_under(results: Path) -> None:
    """SIGKILL the orchestrator and its worker (both name the results directory on their command line)."""
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and str(results) in (proc / "cmdline").read_bytes().decode(errors="replace"):
                os.kill(int(proc.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass


def killed_after(argv: list[str], seconds: float, results: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "bench", *argv], cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        kill_everything_under(results)
        proc.wait()


def final(results: Path) -> tuple[checkpoint.Checkpoint, pd.DataFrame, pd.DataFrame]:
    (folder,) = (results / "checkpoints").iterdir()
    run_id = folder.name
    ckpt = checkpoint.read(checkpoint.checkpoints(folder)[0])
    return (
        ckpt,
        pd.read_parquet(results / "steps" / f"{run_id}.parquet"),
        pd.read_parquet(results / "runs" / f"{run_id}.parquet"),
    )


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("suite") / "resume.toml"
    path.write_text(SUITE)
    return path


@pytest.mark.parametrize("framework", ["torch", "tf", "jax"])
def test_killed_at_random_points_and_rerun_ends_bit_for_bit_as_an_uninterrupted_run(
    framework, suite, mnist_dir, tmp_path
):
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    t0 = time.monotonic()
    proc = run_cli(*args(whole, suite, mnist_dir, framework))
    duration = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    argv = args(broken, suite, mnist_dir, framework)
    # inside the second checkpoint's write (the temporary file complete, not yet renamed) ...
    hooked = run_cli(*argv, env={"BENCH_TEST_KILL_IN_CHECKPOINT": "2"})
    assert "worker killed by SIGKILL" in hooked.stdout + hooked.stderr
    assert list((broken / "checkpoints").glob("*/.ckpt-*.tmp")), "the interrupted write left its temporary file"
    rng = np.random.default_rng(27)
    for at in sorted(rng.uniform(0.3, 1.0, 2) * duration):  # ... then at random points of the rerun
        killed_after(argv, at, broken)
    proc = run_cli(*argv)
    assert proc.returncode == 0, proc.stderr
    a, steps_a, _ = final(whole)
    b, steps_b, row = final(broken)
    assert a.step == b.step == 26
    for key in a.arrays:
        if key.startswith(("fw/", "weights/", "steps/")):
            assert np.array_equal(a.arrays[key], b.arrays[key]), key
    pd.testing.assert_frame_equal(steps_a, steps_b)  # none missing, none twice, same losses
    assert list(steps_b["step"]) == list(range(26))
    r = row.iloc[0]
    assert r["status"] == "ok" and r["resumed"] >= 1 and r["resumed_from"].split(",")[0] in ("8", "14", "20")
    intervals = pd.read_parquet(broken / "intervals" / f"{r['run_id']}.parquet")
    assert list(intervals["interval"]) == list(range(8)) and (~intervals["counted"]).sum() == r["resumed"] - (
        r["resumed_from"].split(",").count("26")
    )  # each resumed segment's first interval is untimed, unless it had none left


def test_a_truncated_or_bit_flipped_checkpoint_is_passed_over_with_one_warning(tmp_path):
    folder = tmp_path / "ck"
    for step in (4, 8, 12):
        checkpoint.save(folder, step, {"w": np.full(1000, step, np.float32)}, {"step": step})
    paths = checkpoint.checkpoints(folder)
    assert [checkpoint.read(p).step for p in paths] == [12, 8]  # the last two are kept
    paths[0].write_bytes(paths[0].read_bytes()[:-100])  # truncated
    warnings: list[str] = []
    assert checkpoint.latest(folder, warnings.append).step == 8
    assert len(warnings) == 1 and "resuming from the one before" in warnings[0]
    data = bytearray(paths[1].read_bytes())
    data[len(data) // 2] ^= 0x10  # one bit flipped
    paths[1].write_bytes(bytes(data))
    warnings.clear()
    assert checkpoint.latest(folder, warnings.append) is None
    assert len(warnings) == 2 and "step 0" in warnings[1]
    with pytest.raises(TypeError):
        checkpoint.save(folder, 16, {"o": np.array([object()])}, {})  # would need a pickle to read back


def test_a_corrupt_newest_checkpoint_resumes_from_the_one_before_and_says_so(suite, mnist_dir, tmp_path):
    results = tmp_path / "r"
    argv = args(results, suite, mnist_dir, "torch")
    run_cli(*argv, env={"BENCH_TEST_KILL_IN_CHECKPOINT": "3"})  # checkpoints at steps 8 and 14 exist
    newest, older = checkpoint.checkpoints(next((results / "checkpoints").iterdir()))
    older_step = checkpoint.read(older).step
    newest.write_bytes(newest.read_bytes()[:-64])
    proc = run_cli(*argv)
    assert proc.returncode == 0, proc.stderr
    warned = [ln for ln in proc.stderr.splitlines() if "warning: checkpoint" in ln]
    assert len(warned) == 1 and str(newest) in warned[0] and "the one before" in warned[0]
    _, _, row = final(results)
    assert row["resumed_from"].iloc[0] == str(older_step) == "8"


def test_force_starts_again_at_step_0(suite, mnist_dir, tmp_path):
    results = tmp_path / "r"
    argv = args(results, suite, mnist_dir, "torch")
    assert run_cli(*argv).returncode == 0
    proc = run_cli(*argv, "--force")
    assert proc.returncode == 0, proc.stderr
    _, _, row = final(results)
    assert row["resumed"].iloc[0] == 0 and row["checkpoints"].iloc[0] == 4  # at 6, 12, 18 and 24 timed steps
    assert 0 < row["checkpoint_s"].iloc[0] < row["timed_s"].iloc[0]
    (folder,) = (results / "checkpoints").iterdir()
    assert [checkpoint.step_of(p) for p in checkpoint.checkpoints(folder)] == [26]  # finished: its final state


def test_more_steps_than_a_finished_run_continue_it_and_end_where_one_longer_run_ends(suite, mnist_dir, tmp_path):
    """--steps 24 after a finished 12-step run starts from its final checkpoint, under its own run id, and
    ends bit for bit where a 24-step run from step 0 ends (same data order, noise and dropout streams)."""
    direct, grown = tmp_path / "direct", tmp_path / "grown"
    assert run_cli(*args(direct, suite, mnist_dir, "torch")).returncode == 0
    assert run_cli(*args(grown, suite, mnist_dir, "torch"), "--steps", "12").returncode == 0
    proc = run_cli(*args(grown, suite, mnist_dir, "torch"), "--steps", "24")
    assert proc.returncode == 0, proc.stderr
    runs = pd.concat([pd.read_parquet(f) for f in sorted((grown / "runs").glob("*.parquet"))])
    short, long = runs.sort_values("steps")["run_id"]
    row = runs[runs["run_id"] == long].iloc[0]
    assert row["continued_from"] == short and row["resumed_from"] == "14" and row["status"] == "ok"
    a = checkpoint.read(checkpoint.checkpoints(next((direct / "checkpoints").iterdir()))[0])
    b = checkpoint.read(checkpoint.checkpoints(grown / "checkpoints" / long)[0])
    assert a.step == b.step == 26
    for key in (k for k in a.arrays if k.startswith(("fw/", "weights/"))):
        assert np.array_equal(a.arrays[key], b.arrays[key]), key
    steps = pd.read_parquet(grown / "steps" / f"{long}.parquet")
    assert list(steps["step"]) == list(range(26))
    pd.testing.assert_frame_equal(steps, pd.read_parquet(next((direct / "steps").iterdir())))
