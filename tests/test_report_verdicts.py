"""Every verdict of the report names frameworks of its own row, and the winner its ratio says.

Real runs of every installed framework (gan, two seeds, a short run) give the report's ratio rows:
PyTorch / TensorFlow and PyTorch / JAX (the report compares each framework with the reference; it forms
no TensorFlow / JAX pair). The rendered Markdown and HTML are read back, not the tables behind them. A
copy of the same runs with one framework's recorded speed and memory scaled makes each verdict decisive,
so the test knows which framework must be named (the report once said "TensorFlow faster" of a PyTorch /
JAX ratio where JAX was faster).
"""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from bench.frameworks import FRAMEWORKS, REFERENCE, REGISTRY, installed
from bench.report import build_report
from tests.conftest import run_cli

INSTALLED = [fw for fw in FRAMEWORKS if installed(fw)]
LABELS = [f.label for f in REGISTRY.values()]
SPEED, MEMORY = "faster", "uses more memory"
UNDECIDED = ("no clear difference", "n/a", "no interval")
RATIO = re.compile(r"^(?P<r>[\d.]+)(?: \[(?P<lo>[\d.]+), (?P<hi>[\d.]+)\])?$")
SUMMARY = re.compile(
    r"\*\*(?P<variant>\w[\w-]*)\*\* \((?P<case>[^)]*), (?P<pair>[^,()]+ / [^,()]+)\): "
    r"speed (?P<speed>[\d.]+(?: \[[\d., ]+\])?), (?P<speed_v>[^;]+); "
    r"memory (?P<mem>[\d.]+(?: \[[\d., ]+\])?), (?P<mem_v>.+)$"
)


@pytest.fixture(scope="module")
def real_results(tmp_path_factory) -> Path:
    if len(INSTALLED) < 2:
        pytest.skip("needs two installed frameworks")
    tmp = tmp_path_factory.mktemp("verdicts")
    results = tmp / "results"
    p = run_cli("run", "--variants", "gan", "--frameworks", ",".join(INSTALLED), "--seeds", "0,1", "--steps", "40",
                "--warmup", "2", "--fid-samples", "0", "--no-report", "--results-dir", str(results),
                env={"BENCH_CACHE_DIR": str(tmp / "cache")}, cwd=tmp)  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    return results


class Tables(HTMLParser):
    """The HTML page's tables as lists of rows of cell texts (header row first)."""

    def __init__(self, page: str):
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.cell: list[str] | None = None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.tables[-1][-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def markdown_tables(md: str) -> list[list[list[str]]]:
    tables, current = [], None
    for line in md.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if set("".join(cells)) <= set("-: "):
                continue  # the header's separator row
            if current is None:
                current = []
                tables.append(current)
            current.append(cells)
        else:
            current = None
    return tables


def ratio_rows(tables: list[list[list[str]]]) -> list[dict[str, str]]:
    """The rows of every table that holds a framework pair and its verdicts."""
    out = []
    for table in tables:
        head = table[0]
        if {"frameworks", "speed", "memory"} <= set(head):
            out += [dict(zip(head, row, strict=True)) for row in table[1:]]
    return out


def summary_rows(md: str) -> list[dict[str, str]]:
    rows = [m.groupdict() for line in md.splitlines() if (m := SUMMARY.search(line.lstrip("- ")))]
    return [{"frameworks": r["pair"], "speed ratio [95% CI]": r["speed"], "speed": r["speed_v"],
             "memory ratio [95% CI]": r["mem"], "memory": r["mem_v"]} for r in rows]  # fmt: skip


def check_verdict(pair: str, ratio_text: str, verdict: str, words: str) -> str:
    """The verdict's winner ("" when undecided), after checking it against the pair and the ratio."""
    names = pair.split(" / ")
    assert len(names) == 2 and set(names) <= set(LABELS), pair
    m = RATIO.match(ratio_text)
    assert m, ratio_text
    ratio, lo, hi = (float(m[k]) if m[k] else None for k in ("r", "lo", "hi"))
    others = [label for label in LABELS if label not in names and re.search(rf"\b{label}\b", verdict)]
    assert not others, f"{pair}: the verdict {verdict!r} names {others}"
    if verdict.startswith(UNDECIDED):
        if verdict == "no clear difference":
            assert lo <= 1.0 <= hi, (pair, ratio_text)
        return ""
    winner = verdict.removesuffix(f" {words}")
    assert winner in names, f"{pair}: {verdict!r}"
    assert winner == (names[0] if ratio > 1 else names[1]), f"{pair} {ratio_text}: {verdict!r}"
    assert not lo <= 1.0 <= hi, f"{pair} {ratio_text}: decided though the interval holds 1"
    return winner


def verdicts(report: Path) -> dict[str, list[tuple[str, str, str]]]:
    """Per rendering (table in Markdown, table in HTML, Markdown summary): (pair, speed winner, memory winner)."""
    md = (report / "report.md").read_text()
    page = (report / "index.html").read_text()
    found = {}
    for where, rows in (("md table", ratio_rows(markdown_tables(md))), ("html table", ratio_rows(Tables(page).tables)),
                        ("summary", summary_rows(md))):  # fmt: skip
        found[where] = [
            (r["frameworks"], check_verdict(r["frameworks"], r["speed ratio [95% CI]"], r["speed"], SPEED),
             check_verdict(r["frameworks"], r["memory ratio [95% CI]"], r["memory"], MEMORY))
            for r in rows
        ]  # fmt: skip
    return found


def expected_pairs() -> set[str]:
    ref = REGISTRY[REFERENCE].label
    return {f"{ref} / {REGISTRY[fw].label}" for fw in INSTALLED if fw != REFERENCE}


def test_real_runs_verdicts_name_their_own_frameworks(real_results, tmp_path):
    found = verdicts(build_report(real_results, tmp_path / "report"))
    for where, rows in found.items():
        assert {pair for pair, _, _ in rows} == expected_pairs(), where


def scaled_copy(results: Path, out: Path, factors: dict[str, tuple[float, float]]) -> Path:
    """The runs with every run's images/s (runs and intervals) and peak RSS set to those of one reference run
    times its framework's (speed, memory) factors (1 for the others): the ratios are then the factors with
    no spread, whatever the load did to the recorded runs (two seeds recorded on a busy machine differed
    more than the 5x asked for, and the intervals crossed 1)."""
    shutil.copytree(results, out)
    rows = {f: pd.read_parquet(f) for f in sorted((out / "runs").glob("*.parquet"))}
    base = next(f for f, r in rows.items() if r["framework"].iloc[0] == REFERENCE)
    base_speed, base_rss = rows[base]["images_per_s"].iloc[0], rows[base]["peak_rss_mb"].iloc[0]
    base_iv = pd.read_parquet(out / "intervals" / base.name)
    for run_file, row in rows.items():
        speed, memory = factors.get(row["framework"].iloc[0], (1.0, 1.0))
        row["images_per_s"], row["peak_rss_mb"] = base_speed * speed, base_rss * memory
        row.to_parquet(run_file, index=False)
        iv = base_iv.assign(run_id=run_file.stem)
        iv["images_per_s"] *= speed
        iv.to_parquet(out / "intervals" / run_file.name, index=False)
    return out


def test_decisive_verdicts_name_the_winner_in_every_pair(real_results, tmp_path):
    others = [fw for fw in INSTALLED if fw != REFERENCE]
    fast, slow = others[-1], others[0]  # JAX made 5x faster and TensorFlow 5x slower where both are installed
    factors = {fast: (5.0, 3.0), **({slow: (0.2, 1 / 3)} if slow != fast else {})}
    report = build_report(scaled_copy(real_results, tmp_path / "results", factors), tmp_path / "report")
    ref = REGISTRY[REFERENCE].label
    want = {f"{ref} / {REGISTRY[fast].label}": (REGISTRY[fast].label, REGISTRY[fast].label)}
    if slow != fast:
        want[f"{ref} / {REGISTRY[slow].label}"] = (ref, ref)
    for where, rows in verdicts(report).items():
        assert {pair: (s, m) for pair, s, m in rows} == want, where
