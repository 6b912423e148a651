"""The report built from a small fixture results set: numbers, wording, files, and a real browser."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bench.report import build_report
from bench.report.data import load_report_data
from bench.report.stats import N_BOOT, SEED
from bench.report.tables import ratio_table
from tests.fixtures import browser
from tests.fixtures.report_results import (
    DCGAN_SPEED,
    FAILED_REASON,
    METRICS_REASON,
    SKIPPED_REASON,
    TIMEOUT_REASON,
    build_results,
)
from tests.test_report_stats import direct_bootstrap, runs_of

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, Path]:
    """(results dir, report dir), built once for the module."""
    root = tmp_path_factory.mktemp("report")
    results = build_results(root / "results")
    return results, build_report(results, root / "out")


@pytest.fixture(scope="module")
def md(report) -> str:
    return (report[1] / "report.md").read_text()


@pytest.fixture(scope="module")
def page(report) -> str:
    return (report[1] / "index.html").read_text()


def image_sources(page: str) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', page)


def test_report_files_and_figures_are_valid_pngs(report, md, page):
    out = report[1]
    figures = sorted((out / "figures").glob("*.png"))
    names = {f.name for f in figures}
    assert {"throughput.png", "memory.png", "speed_ratio.png", "fid.png", "batch_sweep.png"} <= names
    assert {"curves_dcgan.png", "curves_lsgan.png", "curves_wgan.png", "curves_gan.png"} <= names
    for png in [*figures, *(out / "grids").glob("*.png")]:
        assert png.read_bytes()[:8] == PNG_SIGNATURE, png
        with Image.open(png) as im:
            im.verify()
    sources = image_sources(page)
    assert len(sources) == len(figures) + 8  # 4 variants x 2 grids
    for src in sources:
        assert not src.startswith(("/", "http:", "https:")) and (out / src).is_file(), src
        assert f"]({src})" in md


def test_html_is_self_contained(page):
    assert "<script" not in page and "<link" not in page and "<style>" in page
    assert not re.search(r'(src|href)="(https?:)?//', page)


def test_speed_ratio_and_its_interval(report, md):
    ratios = ratio_table(load_report_data(report[0])).set_index("variant")
    dcgan = ratios.loc["dcgan"]
    by_hand = np.median(np.concatenate(runs_of(DCGAN_SPEED, "torch"))) / np.median(
        np.concatenate(runs_of(DCGAN_SPEED, "tf"))
    )
    assert dcgan["speed_ratio"] == pytest.approx(205.0 / 102.0) == by_hand
    low, high = direct_bootstrap(runs_of(DCGAN_SPEED, "torch"), runs_of(DCGAN_SPEED, "tf"), N_BOOT, SEED)
    assert dcgan["speed_low"] == pytest.approx(low) and dcgan["speed_high"] == pytest.approx(high)
    assert low < 2.0 < high
    assert f"| 2.01 [{low:.2f}, {high:.2f}]" in md and "PyTorch faster" in md
    assert dcgan["memory_ratio"] == pytest.approx(501.0 / 801.0)  # median peak RSS over seeds 500..502 / 800..802
    assert dcgan["memory_verdict"] == "TensorFlow uses more memory"


def test_no_clear_difference_wording(report, md, page):
    lsgan = ratio_table(load_report_data(report[0])).set_index("variant").loc["lsgan"]
    assert lsgan["speed_low"] < 1.0 < lsgan["speed_high"]
    assert lsgan["speed_verdict"] == "no clear difference"
    assert re.search(r"\| lsgan .*\| no clear difference", md)
    assert "no clear difference" in page


def test_throughput_table_numbers(md):
    row = next(
        line
        for line in md.splitlines()
        if re.match(r"\| dcgan +\| mnist-5k +\| 64 +\| cpu +\| PyTorch +\| eager ", line)
    )
    assert "| 205.0 " in row and "| 193.8 " in row  # pooled median and p10 of the 15 intervals
    assert "FLOP utilisation" in md and "12.0%" in md
    assert "| batch 32 " in md and "1,400.0 [1,344.0, 1,456.0]" in md  # the batch-size sweep


def test_fid_mean_and_std_over_seeds(md, page):
    assert re.search(r"\| dcgan +\| mnist-5k +\| PyTorch +\| 3 +\| 32\.00 ± 2\.00 +\| 0\.0120 ± 0\.0020", md)
    assert re.search(r"\| dcgan +\| mnist-5k +\| TensorFlow +\| 3 +\| 34\.00 ± 3\.61 ", md)
    assert "32.00 ± 2.00" in page and "34.00 ± 3.61" in page
    assert re.search(r"\| lsgan +\| mnist-5k +\| PyTorch +\| 3 +\| not computed +\| not computed", md)
    assert METRICS_REASON in md and "Not computed: classifier FD." in md
    assert "n_fake: 1024" in md
    assert re.search(r"\| mnist-5k +\| 1,024 +\| 1\.23 +\| 0\.0001 ", md)  # the real-vs-real FID floor


def test_failed_skipped_and_diverged_runs_with_reasons(md, page):
    section = md.split("## Failed, skipped and diverged runs")[1]
    for status, reason in (("failed", FAILED_REASON), ("timeout", TIMEOUT_REASON), ("skipped", SKIPPED_REASON)):
        assert re.search(rf"\| {status} +\| {re.escape(reason)}", section)
        assert reason in page
    assert "| diverged | non-finite loss at step 7" in section
    assert re.search(
        r"\| wgan +\| mnist-5k +\| TensorFlow +\| 1 +\| 1 +\| 7 ", md
    )  # divergence table: 1 of 1 runs, step 7


def test_environment_parity_and_offline_default(md):
    env = md.split("## Environment")[1].split("## Framework comparison")[0]
    assert "| framework version " in env and "2.13.0+cpu" in env and "2.21.0" in env
    assert "0123456789ab " in env and "mnist-5k" in env and "offline default" in env
    assert re.search(r"\| fixture +\| dcgan +\| 20 +\| 2 +\| 1 +\| 64 +\| 0, 1, 2 ", env)
    assert "| trajectory | 4.1e-03 " in md and "| FAIL " in md and "losses drift apart at step 12" in md
    assert "float64 rel diff" in md and "9.3e-13" in md


@pytest.mark.skipif(
    not browser.CHROMIUM.exists() and not os.environ.get("CI"),  # CI installs it: there a missing browser fails
    reason="needs Debian's chromium at /usr/bin/chromium (.ci/install-chromium installs it)",
)
def test_report_renders_in_chromium(report, page, tmp_path):
    shot = tmp_path / "report.png"
    result = browser.check_page(report[1] / "index.html", shot)
    assert len(result.images) == len(image_sources(page))
    assert result.broken_images == [] and result.errors == []
    with Image.open(shot) as im:
        assert im.width == 1280 and im.height > 3000  # the full page, not just the first screen


@pytest.mark.skipif(
    not browser.CHROMIUM.exists() and not os.environ.get("CI"),  # CI installs it: there a missing browser fails
    reason="needs Debian's chromium at /usr/bin/chromium (.ci/install-chromium installs it)",
)
def test_browser_check_catches_a_missing_image(report, tmp_path):
    broken = shutil.copytree(report[1], tmp_path / "broken")
    (broken / "figures" / "fid.png").unlink()
    result = browser.check_page(broken / "index.html", tmp_path / "broken.png")
    assert result.broken_images == ["figures/fid.png"]
    assert any("ERR_FILE_NOT_FOUND" in e and "fid.png" in e for e in result.errors)


def test_runs_that_shared_the_machine_carry_a_speed_caveat(report, md, tmp_path):
    assert "Speed caveat" not in md  # the fixture's runs each had the machine to themselves
    results = Path(shutil.copytree(report[0], tmp_path / "results"))
    for path in sorted((results / "runs").glob("*.parquet"))[:2]:
        pd.read_parquet(path).assign(jobs=2).to_parquet(path)
    shared = (build_report(results, tmp_path / "out") / "report.md").read_text()
    assert "**Speed caveat:** 2 runs ran concurrently" in shared


def test_a_third_framework_gets_its_own_ratio_to_the_reference_and_a_colour(tmp_path):
    """N frameworks: every framework is compared with the reference (PyTorch); an unregistered one is
    shown under its own name with the fallback colour, and the whole report still builds."""
    from bench.results import load_table, table_path, write_table_atomic

    results = build_results(tmp_path / "results")
    runs, intervals = load_table(results, "runs"), load_table(results, "intervals")
    tf_dcgan = runs[(runs["variant"] == "dcgan") & (runs["framework"] == "tf")]
    for _, row in tf_dcgan.iterrows():
        new_id = row["run_id"].replace("-tf-", "-other-")
        third = row.to_frame().T.assign(run_id=new_id, framework="other", images_per_s=row["images_per_s"] / 2)
        write_table_atomic(third, table_path(results, "runs", new_id))
        iv = intervals[intervals["run_id"] == row["run_id"]]
        write_table_atomic(iv.assign(run_id=new_id, images_per_s=iv["images_per_s"] / 2),
                           table_path(results, "intervals", new_id))  # fmt: skip
    ratios = ratio_table(load_report_data(results))
    dcgan = ratios[ratios["variant"] == "dcgan"].set_index("pair")
    assert set(dcgan.index) == {"PyTorch / TensorFlow", "PyTorch / other"}
    assert dcgan.loc["PyTorch / other", "speed_ratio"] == pytest.approx(
        2 * dcgan.loc["PyTorch / TensorFlow", "speed_ratio"]
    )
    out = build_report(results, tmp_path / "out")
    md = (out / "report.md").read_text()
    assert "PyTorch / other" in md and "PyTorch / TensorFlow" in md
    assert "PyTorch vs TensorFlow vs other, built" in md  # the subtitle names every framework in the results


def test_framework_names_in_prose_follow_the_report_order():
    from bench.report.data import frameworks_phrase

    assert frameworks_phrase(["jax", "tf", "torch", "tf"]) == "PyTorch, TensorFlow and JAX"
    assert frameworks_phrase(["tf", "torch"], " | ", " | ") == "PyTorch | TensorFlow"
    assert frameworks_phrase(["jax"]) == "JAX"


def test_the_precision_section_compares_each_precision_with_fp32(tmp_path):
    """bf16 copies of the fixture's PyTorch dcgan runs, 1.5x as fast, FID 10% higher, with skipped updates:
    the precision section shows the speed ratio to fp32, the stability table and FID against fp32; the cross-
    framework table gets a case per precision; the page renders in a real browser."""
    from bench.results import load_table, table_path, write_table_atomic

    results = build_results(tmp_path / "results")
    runs, intervals = load_table(results, "runs"), load_table(results, "intervals")
    metrics = load_table(results, "metrics")
    for _, row in runs[(runs["variant"] == "dcgan") & (runs["framework"] == "torch")].iterrows():
        new_id = row["run_id"] + "-bf16"
        low = row.to_frame().T.assign(run_id=new_id, precision="bf16", compute_dtype="bfloat16",
                                      images_per_s=row["images_per_s"] * 1.5, skipped_updates_d=2,
                                      skipped_updates_g=1, cpu_bf16="avx512_bf16")  # fmt: skip
        write_table_atomic(low, table_path(results, "runs", new_id))
        iv = intervals[intervals["run_id"] == row["run_id"]]
        write_table_atomic(iv.assign(run_id=new_id, images_per_s=iv["images_per_s"] * 1.5),
                           table_path(results, "intervals", new_id))  # fmt: skip
        m = metrics[metrics["run_id"] == row["run_id"]]
        write_table_atomic(m.assign(run_id=new_id, fid=m["fid"] * 1.1), table_path(results, "metrics", new_id))
    out = build_report(results, tmp_path / "out")
    md = (out / "report.md").read_text()
    section = md[md.index("## Precision") : md.index("## Loss comparison")]
    row = re.search(
        r"\| dcgan +\| 64 +\| cpu +\| PyTorch +\| eager +\| bf16 +\| 3 / 3 +\| 1\.50 \[([\d.]+), ([\d.]+)\]", section
    )
    assert row and 1.0 < float(row[1]) <= 1.5 <= float(row[2]), section
    assert "bf16 faster" in section and "native bf16 (avx512_bf16)" in section
    stab = [ln for ln in section.splitlines() if ln.startswith("| ns ") and "bf16" in ln and "PyTorch" in ln]
    assert stab and "| 9 " in stab[0]  # 3 runs x (2 + 1) skipped updates
    assert "| 1.10 " in section  # FID 35.2 against 32.0
    speed = (
        md[md.index("## Framework comparison") : md.index("## Precision")] if "## Framework comparison" in md else md
    )
    assert "bf16" in speed  # the cross-framework tables hold the bf16 case apart from fp32
    result = browser.check_page(out / "index.html", tmp_path / "page.png")
    assert result.broken_images == [] and result.errors == []


def test_markup_from_input_is_escaped_in_the_markdown_as_in_the_html(tmp_path):
    """A suite name and a failure reason holding HTML reach report.md as text, not markup (the HTML
    report escaped them already; Markdown viewers render raw HTML)."""
    results = build_results(tmp_path / "results")
    script, img = "<script>alert(1)</script>", "<img src=x onerror=alert(2)>"
    for f in (results / "runs").glob("*.parquet"):
        df = pd.read_parquet(f)
        df["suite"] = script
        df.loc[df["status"] == "failed", "reason"] = img
        df.to_parquet(f, index=False)
    out = build_report(results, tmp_path / "out")
    md, page = (out / "report.md").read_text(), (out / "index.html").read_text()
    assert "&lt;script&gt;" in md and "<script>" not in md, [ln for ln in md.splitlines() if "script" in ln][:3]
    assert "&lt;img src=x" in md and "<img src=x" not in md
    assert "<script>alert" not in page and "<img src=x" not in page
