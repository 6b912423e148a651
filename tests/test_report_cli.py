"""`main_report`: one-line errors with exit code 2 on bad input; reports even from thin results."""

from __future__ import annotations

from pathlib import Path

from bench.lock import results_lock
from bench.report.cli import main_report
from bench.results import table_path
from tests.fixtures.report_results import (
    FAILED_REASON,
    SKIPPED_REASON,
    base_row,
    write_measured,
    write_unmeasured,
)


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_missing_results_dir(tmp_path, capsys):
    assert main_report(["--results-dir", str(tmp_path / "nope"), "--out", str(tmp_path / "r")]) == 2
    assert "does not exist" in error_line(capsys)


def test_results_dir_without_runs(tmp_path, capsys):
    (tmp_path / "results" / "steps").mkdir(parents=True)
    assert main_report(["--results-dir", str(tmp_path / "results")]) == 2
    assert "no runs" in error_line(capsys)


def test_corrupt_table(tmp_path, capsys):
    """The corrupt file is named and skipped; with nothing else there, there are no runs to report."""
    bad = table_path(tmp_path, "runs", "x")
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not parquet")
    assert main_report(["--results-dir", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    warning, error = capsys.readouterr().err.strip().splitlines()
    assert warning == f"warning: skipping {bad}: not a readable Parquet file (ArrowInvalid)"
    assert error.startswith("error: no runs in")


def test_unknown_option(capsys):
    assert main_report(["--colour"]) == 2
    assert "unrecognized arguments" in error_line(capsys)


def test_only_failed_runs_still_make_a_report(tmp_path, capsys, monkeypatch):
    results = tmp_path / "night-1"
    write_unmeasured(results, base_row("cgan", "torch", 0, 64, "failed", FAILED_REASON))
    write_unmeasured(results, base_row("dcgan-cifar", "tf", 0, 100, "skipped", SKIPPED_REASON))
    monkeypatch.chdir(tmp_path)
    assert main_report(["--results-dir", str(results)]) == 0
    out = Path(capsys.readouterr().out.strip())
    assert out == Path("reports/night-1/index.html") and out.is_file()  # default: reports/<results dir name>/
    md = (out.parent / "report.md").read_text()
    assert "No run finished with a throughput figure." in md
    assert FAILED_REASON in md and SKIPPED_REASON in md


def test_one_framework_only(tmp_path, capsys):
    results = tmp_path / "results"
    write_measured(results, base_row("dcgan", "torch", 0, 64, "ok"), [100.0, 110.0, 105.0])
    assert main_report(["--results-dir", str(results), "--out", str(tmp_path / "r")]) == 0
    md = (tmp_path / "r" / "report.md").read_text()
    assert "No variant was measured by two frameworks" in md
    assert "FID/KID" in md and "not computed" in md  # no metrics table at all
    assert (tmp_path / "r" / "figures" / "curves_dcgan.png").is_file()


def test_a_report_directory_in_use_is_refused_and_left_as_it_is(tmp_path, capsys):
    """Two builds of one report directory would delete and write each other's figures: the second is
    refused in one line, as a second suite on one results directory is."""
    results = tmp_path / "results"
    write_measured(results, base_row("dcgan", "torch", 0, 64, "ok"), [100.0, 110.0, 105.0])
    out = tmp_path / "r"
    assert main_report(["--results-dir", str(results), "--out", str(out)]) == 0
    capsys.readouterr()
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.name != ".lock"}
    with results_lock(out, "report directory", "--out"):  # another build holds it
        assert main_report(["--results-dir", str(results), "--out", str(out)]) == 2
    line = error_line(capsys)
    assert line.startswith(f"error: report directory {out} is in use by another bench run (pid ")
    assert line.endswith("wait for it to finish, or use another --out")
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.name != ".lock"} == before
    assert main_report(["--results-dir", str(results), "--out", str(out)]) == 0  # free again
