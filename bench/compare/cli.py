"""`python -m bench compare A B [--threshold 5%] [--across host,mode,precision,threads] [--out DIR]`.

Exit status: 1 when any figure regressed beyond the threshold (significantly) or a case newly fails,
0 otherwise, 2 for bad input (a missing or empty directory, nothing in common) with one `error:` line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.errors import BenchError, Parser


def threshold(text: str) -> float:
    """`5%` or `0.05`; a bare number of 1 or more is refused (5 would mean 500%)."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"threshold must look like 5% or 0.05, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"threshold must be above 0% and below 100%, got {text!r}")
    return value


def across(text: str) -> tuple[str, ...]:
    from bench.compare.pairs import ACROSS

    names = tuple(x.strip() for x in text.split(",") if x.strip())
    unknown = [n for n in names if n not in ACROSS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown --across {', '.join(unknown)}; known: {', '.join(ACROSS)}")
    return names


def build_parser() -> Parser:
    p = Parser(prog="python -m bench compare", description="Two results directories side by side (B against A).")
    p.add_argument("a", help="results directory A (the baseline)")
    p.add_argument("b", help="results directory B (the candidate)")
    p.add_argument("--threshold", type=threshold, default=0.05, help="smallest change that counts (default 5%%)")
    p.add_argument(
        "--across", type=across, default=(),
        help="what the comparison is about, left out of the pairing: host (hardware differs by design), "
        "mode, precision, threads; comma-separated",
    )  # fmt: skip
    p.add_argument("--out", help="comparison directory (default: reports/compare-<A>-vs-<B>)")
    return p


def main_compare(argv: list[str]) -> int:
    try:
        args = build_parser().parse_args(argv)
        return run(args)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except SystemExit as e:  # --help
        return int(e.code or 0)


def check_out(out: Path, *results_dirs: Path) -> None:
    """The comparison directory may not lie inside a results directory's tables: every later load of
    that results directory would read (and warn about) the comparison's files."""
    from bench.validate import RESULT_DIRS

    for d in results_dirs:
        for table in RESULT_DIRS:
            if out.resolve().is_relative_to((d / table).resolve()):
                raise BenchError(f"the comparison directory {out} lies inside {d / table}; choose another --out")


def run(args: argparse.Namespace) -> int:
    from bench.compare import page
    from bench.compare.pairs import pair_runs
    from bench.compare.stats import FAILS_CI, compare
    from bench.lock import results_lock
    from bench.report.data import load_report_data

    a_dir, b_dir = Path(args.a), Path(args.b)
    out = Path(args.out) if args.out else Path("reports") / f"compare-{name(a_dir)}-vs-{name(b_dir)}"
    if out.resolve() in (a_dir.resolve(), b_dir.resolve()):
        raise BenchError(f"the comparison directory {out} must differ from the results directories")
    check_out(out, a_dir, b_dir)
    a, b = load_report_data(a_dir), load_report_data(b_dir)  # missing, empty or unreadable: one error line
    pairs, only_a, only_b = pair_runs(a.runs, b.runs, args.across)
    if not pairs:
        raise BenchError(f"{a_dir} and {b_dir} have no case in common" + hint(only_a, only_b))
    table = compare(pairs, a.intervals, b.intervals, args.threshold)
    with results_lock(out, "comparison directory", "--out"):
        html = page.build(a, b, table, (only_a, only_b), args.threshold, out)
    print(page.terminal(table, only_a, only_b))
    print(f"comparison: {html}")
    return 1 if table["mark"].isin(FAILS_CI).any() else 0


def name(path: Path) -> str:
    return path.resolve().name or "root"


def hint(only_a: list[str], only_b: list[str]) -> str:
    first = f" (A has e.g. {only_a[0]}; B has e.g. {only_b[0]})" if only_a and only_b else ""
    return first + "; --across mode/precision/threads leaves that field out of the pairing"
