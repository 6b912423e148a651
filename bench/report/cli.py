"""`python -m bench report [--results-dir DIR] [--out DIR]`: build the report, print its path."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.errors import BenchError, Parser


def build_parser() -> Parser:
    p = Parser(prog="python -m bench report", description="Markdown and HTML report from the result tables.")
    p.add_argument("--results-dir", default="results", help="result tables to read (default: results)")
    p.add_argument("--out", help="report directory (default: reports/<name of the results directory>)")
    return p


def main_report(argv: list[str]) -> int:
    """Build the report; user errors print one `error: ...` line on stderr and return 2."""
    from bench.report.build import build_report

    try:
        args = build_parser().parse_args(argv)
        out = build_report(Path(args.results_dir), Path(args.out) if args.out else None)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except SystemExit as e:  # --help
        return int(e.code or 0)
    print(out / "index.html")
    return 0
