"""FID along training (--eval-every): a sample set at each evaluated step, scored into the `evals` table in
every framework, kept across an interruption, and plotted by the report."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from bench.report import build_report
from bench.results import load, load_table
from tests.conftest import run_cli
from tests.fixtures import browser

ARGS = ["--variants", "dcgan", "--steps", "12", "--warmup", "1", "--batch-size", "16", "--eval-every", "4",
        "--fid-samples", "32", "--threads", "1", "--no-report"]  # fmt: skip
STEPS = [5, 9, 13]  # warm-up step 0, then 4, 8 and 12 timed steps


@pytest.fixture(scope="module")
def results(tmp_path_factory, mnist_dir):
    out = tmp_path_factory.mktemp("evals") / "results"
    proc = run_cli(
        "run", *ARGS, "--frameworks", "torch,tf,jax", "--data-dir", str(mnist_dir), "--results-dir", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    return out


def test_every_framework_has_fid_at_each_evaluated_step(results):
    ev = load_table(results, "evals")
    runs = load_table(results, "runs")
    assert sorted(runs["framework"]) == ["jax", "tf", "torch"] and set(runs["eval_every"]) == {4}
    for run_id, g in ev.groupby("run_id"):
        assert list(g.sort_values("step")["step"]) == STEPS, run_id
        assert np.isfinite(g["fid"]).all() and (g["fid_n_fake"] == 32).all() and g["classes_covered"].notna().all()
    assert set(ev["run_id"]) == set(runs["run_id"])
    assert (runs["eval_s"] > 0).all()


def test_the_report_plots_fid_against_step_and_gives_final_and_best(results, tmp_path):
    out = build_report(results, tmp_path / "report")
    md = (out / "report.md").read_text()
    assert "## FID along training" in md and "figures/fid_along_training.png" in md
    assert (out / "figures" / "fid_along_training.png").stat().st_size > 10_000
    section = md.split("## FID along training")[1].split("\n## ")[0]
    ev = load_table(results, "evals").merge(load_table(results, "runs")[["run_id", "framework"]], on="run_id")
    torch = ev[ev["framework"] == "torch"].sort_values("step")
    assert f"{torch['fid'].iloc[-1]:.2f} (n=1)" in section and f"{torch['fid'].min():.2f} (n=1)" in section
    if browser.CHROMIUM.exists() or os.environ.get("CI"):  # CI installs it: there a missing browser fails
        page = browser.check_page(out / "index.html", tmp_path / "page.png")
        assert page.broken_images == [] and page.errors == []
        assert any(src == "figures/fid_along_training.png" for src, _, _ in page.images)


def test_sample_sets_taken_before_an_interruption_are_scored_after_the_resume(mnist_dir, tmp_path):
    argv = ["run", *ARGS, "--frameworks", "torch", "--checkpoint-every", "4", "--data-dir", str(mnist_dir),
            "--results-dir", str(tmp_path)]  # fmt: skip
    killed = run_cli(*argv, env={"BENCH_TEST_KILL_IN_CHECKPOINT": "2"})  # after the sets of steps 5 and 9
    assert "worker killed by SIGKILL" in killed.stdout + killed.stderr
    proc = run_cli(*argv)
    assert proc.returncode == 0, proc.stderr
    row = load_table(tmp_path, "runs").iloc[0]
    assert row["resumed_from"] == "5"  # the checkpoint at step 5; the set at step 9 is taken again
    ev = load_table(tmp_path, "evals")
    assert list(ev.sort_values("step")["step"]) == STEPS and np.isfinite(ev["fid"]).all()
    assert sorted(p.name for p in (tmp_path / "samples" / row["run_id"]).iterdir()) == [
        f"step-{s:08d}.npz" for s in STEPS
    ]
    assert not pd.isna(load(tmp_path)[0]["fid"].iloc[0])  # the final FID as well
