"""The comparison as a terminal table, `compare.md`, a self-contained `index.html` (the report's style and
renderers) with a forest plot of the ratios, and `comparison.parquet` for pipelines.

Layout of a comparison directory (default `reports/compare-<A>-vs-<B>/`, rebuilt on every run):
  compare.md  index.html  comparison.parquet  figures/ratios.png
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from bench.compare.stats import FAILS_CI, IMPROVEMENT, MARKS, REGRESSION
from bench.frameworks import REGISTRY
from bench.report import plots
from bench.report.data import ReportData
from bench.report.doc import Bullets, Document, Figure, Section, Table, Text
from bench.report.env import distinct, short_commit
from bench.report.fmt import MISSING, fmt, interval
from bench.report.html import render_html
from bench.report.markdown import render_markdown
from bench.results import write_table_atomic

KIND = {"images/s": "rate", "peak memory": "mib", "compile time": "s", "FID": "fid", "KID": "kid"}
ENV = {
    "python_version": "Python",
    "numpy_version": "NumPy",
    **{f.version_column: f"{f.label} version" for f in REGISTRY.values()},
    "cpu_model": "CPU",
    "cpu_count": "CPU cores",
    "cpu_bf16": "CPU bf16 instructions",
    "gpu_name": "GPU",
    "hostname": "host",
    "platform": "platform",
    "executor": "executor",
    "git_commit": "commit",
    "threads": "intra-op threads (0: default)",
    "jobs": "runs at once",
    "deterministic": "determinism flags",
}
MARK_COLOURS = {REGRESSION: "#D55E00", IMPROVEMENT: "#009E73"}


def display(table: pd.DataFrame) -> pd.DataFrame:
    """The comparison as text columns, one row per pair and figure."""
    rows = []
    for r in table.itertuples():
        kind = KIND.get(r.metric)
        value = functools.partial(fmt, kind=kind)
        a, b = (value(r.a), value(r.b)) if kind else (r.status_a, r.status_b)
        rows.append({
            "case": r.case, "figure": r.metric, "A": a, "B": b,
            "B/A": fmt(r.ratio, "ratio") if kind else MISSING, "95% CI": interval(r.low, r.high),
            "p": fmt(r.p_value, "g3") if kind else MISSING, "n A/B": f"{r.n_a}/{r.n_b}", "mark": r.mark,
            "note": r.note,
        })  # fmt: skip
    return pd.DataFrame(rows)


def terminal(table: pd.DataFrame, only_a: list[str], only_b: list[str]) -> str:
    """What the command prints: the figures that compare, every status mark that is not "no change",
    then the unmatched cases and the counts."""
    shown = table[(table["metric"] != "status") | (table["mark"] != "no significant change")]
    text = display(shown).drop(columns=["note"]).to_string(index=False) if len(shown) else "(no figures to compare)"
    notes = [f"  {r.case} {r.metric}: {r.mark}: {r.note}" for r in shown.itertuples() if r.note]
    lines = [text, *(["notes:", *notes] if notes else [])]
    lines += [f"only in A: {c}" for c in only_a] + [f"only in B: {c}" for c in only_b]
    return "\n".join([*lines, summary(table)])


def summary(table: pd.DataFrame) -> str:
    counts = table["mark"].value_counts() if len(table) else pd.Series(dtype=int)
    parts = [f"{counts[m]} {m}" for m in MARKS if counts.get(m, 0)]
    return "marks: " + (", ".join(parts) if parts else "none")


def environment(a: ReportData, b: ReportData) -> pd.DataFrame:
    """Each environment item's values in A and B, those that differ marked."""
    rows = []
    for col, label in ENV.items():
        va, vb = (side_values(d.runs, col) for d in (a, b))
        if va != MISSING or vb != MISSING:
            rows.append({"item": label, "A": va, "B": vb, "differs": "yes" if va != vb else ""})
    for col, label in (("started_at", "runs started"), ("finished_at", "runs finished")):
        rows.append({"item": label, "A": span(a.runs, col), "B": span(b.runs, col), "differs": ""})
    return pd.DataFrame(rows)


def side_values(runs: pd.DataFrame, col: str) -> str:
    if col not in runs:
        return MISSING
    values = runs[col].map(short_commit) if col == "git_commit" else runs[col]
    return distinct(values)


def span(runs: pd.DataFrame, col: str) -> str:
    values = sorted(str(v) for v in runs.get(col, pd.Series(dtype=str)).dropna() if str(v))
    return f"{values[0][:16]} – {values[-1][:16]}".replace("T", " ") if values else MISSING


@plots.styled
def forest(table: pd.DataFrame, threshold: float, path: Path) -> Path | None:
    """Each figure's ratio B/A with its 95% interval, coloured by mark; the band is the threshold."""
    import matplotlib.pyplot as plt

    rows = table[np.isfinite(table["ratio"].astype(float))].reset_index(drop=True)
    if rows.empty:
        return None
    labels = [f"{r.case} · {r.metric}" for r in rows.itertuples()]
    width = max(7.0, 3.5 + 0.075 * max(map(len, labels)))
    fig, ax = plt.subplots(figsize=(width, 0.42 * len(rows) + 1.5), layout="constrained")
    ax.axvspan(1 / (1 + threshold), 1 + threshold, color="#eeeeee", zorder=0)
    for i, r in rows.iterrows():
        y, colour = len(rows) - 1 - i, MARK_COLOURS.get(r["mark"], "#555555")
        if np.isfinite([r["low"], r["high"]]).all():
            ax.plot([r["low"], r["high"]], [y, y], color=colour, lw=2)
        ax.plot(r["ratio"], y, "o", color=colour)
    ax.axvline(1.0, color="#999999", ls="--", lw=1)
    ax.set_yticks(range(len(rows)), labels[::-1])
    fig.supxlabel(f"B / A (grey band: the ±{threshold:.0%} threshold; red: regression, green: improvement)")
    fig.suptitle("Ratios B/A with 95% bootstrap intervals")
    return plots.save(fig, path)


def document(a: ReportData, b: ReportData, table: pd.DataFrame, only: tuple[list[str], list[str]], threshold: float,
             figure: str | None) -> Document:  # fmt: skip
    failing = table[table["mark"].isin(FAILS_CI)] if len(table) else table
    verdict = f"**{len(failing)} regressions or new failures: exit status 1.**" if len(failing) else "Exit status 0."
    sides = f"A = `{a.results_dir}` ({len(a.runs)} runs), B = `{b.results_dir}` ({len(b.runs)} runs)."
    sections = [
        Section("Summary", [Text(sides), Text(f"{summary(table)}. {verdict}")]),
        Section("A and B", [Table(environment(a, b), "Environment of each side; `differs` marks what changed.")]),
        Section("Comparison", [Table(display(table)) if len(table) else Text("No case is in both A and B.")]),
    ]
    if figure:
        sections[2].blocks.append(Figure(figure, "Ratios B/A; the line at 1 is no change."))
    unmatched = [f"only in A: {c}" for c in only[0]] + [f"only in B: {c}" for c in only[1]]
    if unmatched:
        sections.append(Section("Cases in one side only", [Bullets(unmatched)]))
    sections.append(Section("Method", [Text(METHOD.format(t=f"{threshold:.0%}"))]))
    return Document("Comparison: B against A", f"built {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", sections)


METHOD = (
    "Runs pair on their spec identity (variant, dataset, framework, mode, precision, batch size, device kind, "
    "steps, warm-up, threads, jobs, determinism); seeds and repeats of a case are pooled. Each figure's ratio is "
    "median(B) / median(A) with a 95% two-level bootstrap interval (runs, then their timed intervals). A change "
    "counts only when the ratio is beyond {t} AND the two-sided Mann-Whitney U test gives p < 0.05; when the "
    "samples are too few for the test ever to reach 0.05, the mark is `insufficient data`. Speed and compile "
    "time are not comparable across different hosts (CPU model, core count, GPU) unless `--across host`, nor "
    "when runs shared the machine (jobs > 1). `new failure`: ok in A, failed, timed out or diverged in B; "
    "`fixed`: the reverse."
)


def build(a: ReportData, b: ReportData, table: pd.DataFrame, only: tuple[list[str], list[str]], threshold: float,
          out: Path) -> Path:  # fmt: skip
    """Write the comparison directory (only the files named above) and return the HTML page's path."""
    figure = out / "figures" / "ratios.png"
    figure.unlink(missing_ok=True)  # a stale plot must not outlive a comparison that has none
    drawn = forest(table, threshold, figure) if len(table) else None
    doc = document(a, b, table, only, threshold, "figures/ratios.png" if drawn else None)
    (out / "compare.md").write_text(render_markdown(doc), encoding="utf-8")
    (out / "index.html").write_text(render_html(doc), encoding="utf-8")
    write_table_atomic(table, out / "comparison.parquet")
    return out / "index.html"
