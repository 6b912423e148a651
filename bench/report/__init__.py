"""Reports from the result tables: Markdown, a self-contained HTML page and PNG figures.

Entry points: `build_report(results_dir, out_dir=None, name=None) -> Path` and
`bench.report.cli.main_report(argv) -> int`. Nothing here imports a framework.
"""

from bench.report.build import build_report

__all__ = ["build_report"]
