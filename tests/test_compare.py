"""`python -m bench compare A B`: real runs against themselves and against edited copies, recorded here;
and runs recorded once on a quiet machine against the same runs recorded while two busy loops held
both cores (committed under tests/fixtures/recorded/: whether the rule flags a real slowdown must not
depend on how busy the machine running the tests is)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.compare.stats import ALPHA, INSUFFICIENT, NO_CHANGE, REGRESSION, apart, mark, min_p
from bench.results import write_table_atomic
from tests.conftest import run_cli
from tests.fixtures import browser

SUITE = """name = "cmp"
variants = ["gan"]
frameworks = ["torch"]
steps = 48
warmup = 2
intervals = 8
repeats = 2
fid_samples = 0
"""


def record(results: Path, suite: Path, mnist: Path) -> None:
    proc = run_cli("run", "--suite-file", str(suite), "--data-dir", str(mnist), "--results-dir", str(results),
                   "--threads", "2", "--no-report")  # fmt: skip
    assert proc.returncode == 0, proc.stderr


RECORDED = Path(__file__).resolve().parent / "fixtures" / "recorded"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, mnist_dir) -> tuple[Path, Path]:
    """(A, slow): two runs recorded now, and the same suite's runs recorded on busy cores (committed)."""
    root = tmp_path_factory.mktemp("compare")
    suite = root / "cmp.toml"
    suite.write_text(SUITE)
    record(root / "A", suite, mnist_dir)
    return root / "A", busy_pair(root, "gan")[1]


def busy_pair(root: Path, name: str) -> tuple[Path, Path]:
    """(quiet, busy) copies of a committed pair of recordings (tests/fixtures/recorded/README.md)."""
    out = root / f"recorded-{name}"
    if not out.exists():
        shutil.copytree(RECORDED / name, out)
    return out / "quiet", out / "busy"


def compare(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_cli("compare", *args, cwd=cwd, env={"PYTHONPATH": str(Path(__file__).resolve().parents[1])})


def table(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "comparison.parquet")


def edited(src: Path, dst: Path, table_name: str, edit) -> Path:
    """A copy of a results directory with one table's files changed by `edit(df) -> df`."""
    shutil.copytree(src, dst)
    for f in sorted((dst / table_name).glob("*.parquet")):
        write_table_atomic(edit(pd.read_parquet(f)), f)
    return dst


def marks(out: Path, metric: str) -> set[str]:
    t = table(out)
    return set(t.loc[t["metric"] == metric, "mark"])


def test_the_rule_needs_the_threshold_and_the_test():
    assert min_p(2, 2) == pytest.approx(1 / 3) and min_p(3, 3) == pytest.approx(0.1) and min_p(4, 4) < ALPHA
    assert mark(0.5, 0.001, 2, 2, 0.05, True) == INSUFFICIENT  # a big change on two samples a side
    assert mark(0.97, 0.001, 20, 20, 0.05, True) == NO_CHANGE  # significant but inside the threshold
    assert mark(0.80, 0.20, 20, 20, 0.05, True) == NO_CHANGE  # beyond the threshold but not significant
    assert mark(0.80, 0.001, 20, 20, 0.05, True) == REGRESSION
    assert mark(1.25, 0.001, 20, 20, 0.05, False) == REGRESSION  # memory or FID up is worse
    assert mark(1.25, 0.001, 20, 20, 0.05, True) == "improvement"


def test_few_samples_decide_by_the_99_percent_intervals():
    """asv's fallback: where the U test cannot reach ALPHA, separate 99% intervals decide; else insufficient."""
    quiet, busy = np.array([100.0, 102.0, 98.0]), np.array([26.0, 30.0, 18.0])
    assert apart(quiet, busy) and not apart(quiet, quiet * 1.01)
    assert not apart(np.array([100.0]), np.array([25.0]))  # one sample a side: an unbounded interval
    assert mark(0.25, 0.1, 3, 3, 0.05, True, separated=True) == REGRESSION
    assert mark(4.0, 0.1, 3, 3, 0.05, True, separated=True) == "improvement"
    assert mark(1.02, 0.1, 3, 3, 0.05, True, separated=True) == NO_CHANGE  # apart, but inside the threshold
    assert mark(0.25, 0.1, 3, 3, 0.05, True, separated=False) == INSUFFICIENT
    assert mark(0.80, 0.20, 20, 20, 0.05, True, separated=True) == NO_CHANGE  # enough samples: the test decides


def test_one_run_a_side_with_a_4x_slowdown_is_a_regression_with_exit_1(tmp_path):
    """dcgan, one run of 60 steps (3 intervals) a side: recorded quiet, then with both cores busy."""
    quiet, busy = busy_pair(tmp_path, "dcgan")
    proc = compare(str(quiet), str(busy), "--out", str(tmp_path / "c"), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    speed = table(tmp_path / "c").query("metric == 'images/s'").iloc[0]
    assert speed["n_a"] == speed["n_b"] == 3 and speed["ratio"] < 0.5 and speed["mark"] == REGRESSION
    same = compare(str(quiet), str(quiet), "--out", str(tmp_path / "d"), cwd=tmp_path)
    assert same.returncode == 0, same.stdout + same.stderr  # an unchanged pair
    assert REGRESSION not in marks(tmp_path / "d", "images/s")


def test_a_against_itself_is_no_change_and_exit_0(recorded, tmp_path):
    a, _ = recorded
    proc = compare(str(a), str(a), "--out", str(tmp_path / "c"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    t = table(tmp_path / "c")
    assert set(t.loc[t["metric"] != "peak memory", "mark"]) == {NO_CHANGE}
    assert marks(tmp_path / "c", "peak memory") == {INSUFFICIENT}  # one value per run: 2 against 2
    speed = t[t["metric"] == "images/s"].iloc[0]
    assert speed["ratio"] == 1.0 and speed["n_a"] == speed["n_b"] == 16 and speed["p_value"] == 1.0
    assert "marks: " in proc.stdout and (tmp_path / "c" / "compare.md").is_file()


def test_the_same_runs_on_busy_cores_are_a_regression_with_exit_1(tmp_path):
    a, slow = busy_pair(tmp_path, "gan")
    proc = compare(str(a), str(slow), "--out", str(tmp_path / "c"), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    speed = table(tmp_path / "c").query("metric == 'images/s'").iloc[0]
    assert speed["mark"] == REGRESSION and speed["ratio"] < 0.8 and speed["high"] < 1 and speed["p_value"] < ALPHA
    assert "regression" in proc.stdout
    back = compare(str(slow), str(a), "--out", str(tmp_path / "d"), cwd=tmp_path)  # the reverse is an improvement
    assert back.returncode == 0 and marks(tmp_path / "d", "images/s") == {"improvement"}


def test_a_change_inside_the_noise_is_no_significant_change(recorded, tmp_path):
    a, _ = recorded
    rng = np.random.default_rng(0)
    jitter = edited(a, tmp_path / "B", "intervals", lambda df: df.assign(
        images_per_s=df["images_per_s"] * (1.02 + rng.normal(0, 0.005, len(df)))))  # fmt: skip
    proc = compare(str(a), str(jitter), "--out", str(tmp_path / "c"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout
    speed = table(tmp_path / "c").query("metric == 'images/s'").iloc[0]
    assert speed["mark"] == NO_CHANGE and 1.0 < speed["ratio"] < 1.05  # 2% faster: under the 5% threshold


def test_different_specs_and_hosts_are_not_comparable(recorded, tmp_path):
    a, _ = recorded
    longer = edited(a, tmp_path / "B", "runs", lambda df: df.assign(steps=96))
    proc = compare(str(a), str(longer), "--out", str(tmp_path / "c"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    t = table(tmp_path / "c")
    assert list(t["mark"]) == ["not comparable"] and "steps 48 vs 96" in t["note"].iloc[0]
    host = edited(a, tmp_path / "H", "runs", lambda df: df.assign(cpu_model="Another CPU", executor="ray"))
    compare(str(a), str(host), "--out", str(tmp_path / "h"), cwd=tmp_path)
    speed = table(tmp_path / "h").query("metric == 'images/s'").iloc[0]
    assert speed["mark"] == "not comparable" and "--across host" in speed["note"]
    assert marks(tmp_path / "h", "peak memory") == {INSUFFICIENT}  # compared (not host-bound): 2 runs a side
    env = (tmp_path / "h" / "compare.md").read_text()
    assert "Another CPU" in env and "ray" in env
    compare(str(a), str(host), "--across", "host", "--out", str(tmp_path / "x"), cwd=tmp_path)
    assert marks(tmp_path / "x", "images/s") == {NO_CHANGE}


def test_a_run_failed_in_b_only_is_a_new_failure_and_the_reverse_is_fixed(recorded, tmp_path):
    a, _ = recorded
    first = sorted((a / "runs").glob("*.parquet"))[0].stem

    def fail(df: pd.DataFrame) -> pd.DataFrame:
        return df.assign(status="failed", reason="worker exited with code 1") if df["run_id"].iloc[0] == first else df

    broken = edited(a, tmp_path / "B", "runs", fail)
    proc = compare(str(a), str(broken), "--out", str(tmp_path / "c"), cwd=tmp_path)
    assert proc.returncode == 1 and marks(tmp_path / "c", "status") == {"new failure"}
    assert "worker exited with code 1" in proc.stdout
    back = compare(str(broken), str(a), "--out", str(tmp_path / "d"), cwd=tmp_path)
    assert back.returncode == 0 and marks(tmp_path / "d", "status") == {"fixed"}


def test_two_samples_a_side_is_insufficient_data(recorded, tmp_path):
    a, _ = recorded
    few = edited(a, tmp_path / "A2", "intervals", lambda df: df[df["interval"] == 0])
    proc = compare(str(few), str(few), "--out", str(tmp_path / "c"), cwd=tmp_path)
    assert proc.returncode == 0
    t = table(tmp_path / "c")
    assert set(t.loc[t["metric"] != "status", "mark"]) == {INSUFFICIENT}  # speed and memory: 2 vs 2


def test_across_mode_pairs_what_differs_only_in_mode(recorded, tmp_path):
    a, _ = recorded
    other = edited(a, tmp_path / "B", "runs", lambda df: df.assign(mode="compile"))
    proc = compare(str(a), str(other), "--out", str(tmp_path / "c"), cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "--across" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = compare(str(a), str(other), "--across", "mode", "--out", str(tmp_path / "c"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "eager → compile" in table(tmp_path / "c")["case"].iloc[0]


def test_bad_input_is_one_error_line_and_exit_2(recorded, tmp_path):
    a, _ = recorded
    (tmp_path / "empty").mkdir()
    for args in (
        [str(a), str(tmp_path / "missing")],
        [str(a), str(tmp_path / "empty")],
        [str(a), str(a), "--threshold", "5"],
        [str(a), str(a), "--across", "colour"],
        [str(a), str(a), "--out", str(a)],
    ):
        proc = compare(*args, cwd=tmp_path)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "reports").exists()  # nothing written on bad input


def test_a_corrupt_file_is_skipped_with_the_loaders_warning(recorded, tmp_path):
    a, _ = recorded
    b = tmp_path / "B"
    shutil.copytree(a, b)
    victim = sorted((b / "intervals").glob("*.parquet"))[0]
    victim.write_bytes(victim.read_bytes()[:40])
    proc = compare(str(a), str(b), "--out", str(tmp_path / "c"), cwd=tmp_path)
    assert proc.returncode == 0 and f"warning: skipping {victim}" in proc.stderr


@pytest.mark.skipif(
    not browser.CHROMIUM.exists() and not os.environ.get("CI"),  # CI installs it: there a missing browser fails
    reason="needs Debian's chromium at /usr/bin/chromium (.ci/install-chromium installs it)",
)
def test_the_comparison_page_renders_in_chromium(tmp_path):
    a, slow = busy_pair(tmp_path, "gan")
    compare(str(a), str(slow), "--out", str(tmp_path / "c"), cwd=tmp_path)
    page = (tmp_path / "c" / "index.html").read_text()
    assert 'src="figures/ratios.png"' in page and "regression" in page
    result = browser.check_page(tmp_path / "c" / "index.html", tmp_path / "shot.png")
    assert len(result.images) == 1 and result.broken_images == [] and result.errors == []
