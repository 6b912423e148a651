"""build_report: result tables in, `report.md` + `index.html` + PNG figures out.

Layout of a report directory (default `reports/<name>/`, relative to the working directory, where
<name> is the results directory's name, e.g. `results` -> `reports/results/`, or a timestamp when
that name is empty); building again overwrites it, so the report always matches its tables:
  report.md      Markdown, images by relative path
  index.html     one self-contained page (embedded CSS, no script), opens from disk
  figures/*.png  the plots;  grids/<run_id>.png  sample grids copied from the results directory
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from bench.errors import BenchError
from bench.lock import results_lock
from bench.report import sections as s
from bench.report import sections_evals as se
from bench.report import sections_precision as sp
from bench.report import sections_training as st
from bench.report import tables
from bench.report.data import ReportData, frameworks_phrase, load_report_data
from bench.report.doc import Document
from bench.report.html import render_html
from bench.report.markdown import render_markdown


def default_name(results_dir: Path) -> str:
    return Path(results_dir).resolve().name or datetime.now(UTC).strftime("report-%Y%m%d-%H%M%S")


def build_report(results_dir: Path, out_dir: Path | None = None, name: str | None = None) -> Path:
    """Write the report for `results_dir` and return its directory; BenchError on unusable input."""
    results_dir = Path(results_dir)
    out = Path(out_dir) if out_dir is not None else Path("reports") / (name or default_name(results_dir))
    if out.resolve() == results_dir.resolve():
        raise BenchError(f"the report directory {out} must differ from the results directory")
    data = load_report_data(results_dir)  # unusable input fails here, before anything is written
    with results_lock(out, "report directory", "--out"):  # two builds would mix their figure files
        return _write(data, results_dir, out, name)


def _write(data: ReportData, results_dir: Path, out: Path, name: str | None) -> Path:
    for folder in ("figures", "grids"):  # only what this function writes: stale plots must not linger
        shutil.rmtree(out / folder, ignore_errors=True)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    ctx = s.Context(data, out, tables.throughput_table(data), tables.ratio_table(data))
    vs = frameworks_phrase(data.runs["framework"], " vs ", " vs ")
    doc = Document(
        title=f"GAN benchmark report: {name or default_name(results_dir)}",
        subtitle=f"{vs}, built {datetime.now(UTC):%Y-%m-%d %H:%M} UTC from `{results_dir}`.",
        sections=[
            s.summary_section(ctx),
            s.environment_section(ctx),
            s.speed_section(ctx),
            *filter(None, [sp.precision_section(ctx)]),
            st.losses_section(ctx),
            *filter(None, [se.evals_section(ctx)]),
            st.curves_section(ctx),
            st.grids_section(ctx),
            st.parity_section(ctx),
            s.failures_section(ctx),
            st.method_section(ctx),
        ],
    )
    missing = [p for p in doc.figures() if not (out / p).is_file()]
    if missing:
        raise RuntimeError(f"report references images that were not written: {missing}")  # a bug, not user input
    (out / "report.md").write_text(render_markdown(doc), encoding="utf-8")
    (out / "index.html").write_text(render_html(doc), encoding="utf-8")
    return out
