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
