"""What can be checked is checked before any work starts: one `error:` line, exit 2, nothing written.

Each case below used to be found late: inside every worker (a cache directory that is a file), after
training (a FID runtime name, a sample count the evaluator cannot score: exit 0 with FID NaN), or never
(a comparison written into a results directory's tables, which every later load then warns about).
"""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import REPO, run_cli

RECORDED = REPO / "tests" / "fixtures" / "recorded" / "gan"
RUN = ["run", "--variants", "gan", "--frameworks", "torch", "--steps", "2", "--warmup", "1", "--no-report"]


def refused(proc, message: str) -> None:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("cache", "message"),
    [("file", "is not a directory"), ("file/below", "cannot write to cache directory")],
)
def test_a_cache_directory_that_cannot_be_one_is_refused_before_any_worker(cache, message, tmp_path):
    (tmp_path / "file").write_text("not a directory")
    results = tmp_path / "results"
    proc = run_cli(*RUN, "--results-dir", str(results), env={"BENCH_CACHE_DIR": str(tmp_path / cache)})
    refused(proc, message)
    assert not results.exists(), "work started: the results directory was created"


def test_an_unknown_fid_runtime_is_refused_before_training(tmp_path):
    results = tmp_path / "results"
    proc = run_cli(*RUN, "--fid-samples", "16", "--results-dir", str(results), env={"BENCH_FID_RUNTIME": "garbage"})
    refused(proc, "BENCH_FID_RUNTIME='garbage' is not a runtime")
    assert not results.exists()


def test_one_fid_sample_is_refused_before_training(tmp_path):
    results = tmp_path / "results"
    refused(run_cli(*RUN, "--fid-samples", "1", "--results-dir", str(results)), "fid_samples must be 0")
    assert not results.exists()


@pytest.mark.parametrize("inside", ["runs", "metrics/deeper"])
def test_a_comparison_inside_a_results_table_is_refused_and_the_results_stay_as_they_were(inside, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(RECORDED / "quiet", a)
    shutil.copytree(RECORDED / "busy", b)
    before = sorted(p.relative_to(a) for p in a.rglob("*"))
    refused(run_cli("compare", str(a), str(b), "--out", str(a / inside)), "lies inside")
    assert sorted(p.relative_to(a) for p in a.rglob("*")) == before


def test_the_checks_pass_a_good_cache_directory(tmp_path, monkeypatch):
    """The probe itself leaves nothing behind and accepts a cache that does not exist yet."""
    from bench.validate import check_cache_dir

    cache = tmp_path / "new" / "cache"
    monkeypatch.setenv("BENCH_CACHE_DIR", str(cache))
    check_cache_dir()
    assert cache.is_dir() and not list(cache.iterdir())


def test_every_result_file_follows_the_umask_checkpoints_and_sample_sets_included(tmp_path, mnist_dir):
    """Under umask 022 every file a run leaves (tables, checkpoints, grid) is 0644 as open() would make it;
    mkstemp's 0600 used to hide checkpoints and sample sets from a shared group. Sample sets along training
    are written by `bench.files.write_atomic`, checked here directly (scoring them would need FID)."""
    import os
    import subprocess
    import sys

    from bench.evals import save_set

    results = tmp_path / "r"
    argv = [sys.executable, "-m", "bench", *RUN, "--steps", "4", "--checkpoint-every", "2",
            "--data-dir", str(mnist_dir), "--results-dir", str(results)]  # fmt: skip
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=540,
                          preexec_fn=lambda: os.umask(0o022))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    files = [p for p in results.rglob("*") if p.is_file() and ".lock" not in p.name]
    assert {"runs", "steps", "checkpoints", "grids"} <= {p.relative_to(results).parts[0] for p in files}
    modes = {p.relative_to(results).as_posix(): oct(p.stat().st_mode & 0o777) for p in files}
    assert set(modes.values()) == {"0o644"}, modes
    old = os.umask(0o022)
    try:
        import numpy as np

        path = save_set(tmp_path / "sets", 4, np.zeros((2, 28, 28, 1), np.uint8), np.zeros(2, np.int64))
    finally:
        os.umask(old)
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~old)


@pytest.mark.parametrize("command", ["report", "compare"])
def test_a_table_of_the_wrong_schema_is_skipped_with_the_loaders_warning(command, tmp_path):
    """batch_size written as text in one runs file, images_per_s missing from every runs file: the file is
    skipped with one warning naming it (the registry's dtype), and the rest is read; no traceback."""
    import pandas as pd

    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(RECORDED / "quiet", a)
    shutil.copytree(RECORDED / "busy", b)
    texty = sorted((b / "runs").glob("*.parquet"))[0]
    for f in (b / "runs").glob("*.parquet"):
        df = pd.read_parquet(f).drop(columns=["images_per_s"])
        (df.assign(batch_size=df["batch_size"].astype(str)) if f == texty else df).to_parquet(f, index=False)
    if command == "report":
        proc = run_cli("report", "--results-dir", str(b), "--out", str(tmp_path / "out"))
    else:
        proc = run_cli("compare", str(a), str(b), "--out", str(tmp_path / "out"))
    assert "Traceback" not in proc.stderr and proc.returncode in (0, 1), proc.stderr
    warned = [ln for ln in proc.stderr.splitlines() if ln.startswith("warning: skipping")]
    assert len(warned) == 1 and texty.name in warned[0] and "batch_size column holds" in warned[0], proc.stderr
