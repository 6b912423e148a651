"""Options of the step-speed regression benchmarks (see benchmarks/test_step_speed.py)."""

from __future__ import annotations

import pytest

from bench.frameworks import FRAMEWORKS, installed
from bench.variants import VARIANTS


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("gan-bench step benchmarks")
    g.addoption("--step-variants", default=",".join(VARIANTS), help="variants to benchmark (default: all)")
    g.addoption(
        "--step-frameworks",
        default=",".join(f for f in FRAMEWORKS if installed(f)),
        help="frameworks to benchmark (default: every one installed)",
    )
    g.addoption("--step-batch", type=int, default=16, help="batch size of every benchmarked step")
    g.addoption("--step-rounds", type=int, default=10, help="timed steps per benchmark (pytest-benchmark rounds)")
    g.addoption("--step-warmup", type=int, default=2, help="untimed steps first (the first traces/compiles)")
    g.addoption("--step-threads", type=int, default=0, help="intra-op threads (0: framework default)")
    g.addoption("--step-device", default="cpu", help="cpu or a GPU index")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if {"variant", "framework"} <= set(metafunc.fixturenames):
        opt = metafunc.config.getoption
        variants = [v for v in opt("--step-variants").split(",") if v]
        frameworks = [f for f in opt("--step-frameworks").split(",") if f]
        metafunc.parametrize("framework", frameworks)
        metafunc.parametrize("variant", variants)
