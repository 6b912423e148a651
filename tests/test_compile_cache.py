"""Persistent compile caches (issue 16, item 1): a second compile of the same graphs is served from
`$BENCH_CACHE_DIR/compile`, each row says whether its compilation was cold, warm or off, and
--no-compile-cache compiles cold."""

from __future__ import annotations

import pytest

from bench.results import load
from bench.spec import RunSpec
from tests.conftest import run_cli

FAST = ["--variants", "gan", "--steps", "2", "--warmup", "1", "--batch-size", "16", "--fid-samples", "0",
        "--no-report", "--force"]  # fmt: skip


@pytest.mark.slow
# PyTorch's cold compile (~35 s here) runs under `pytest -m heavy` and in benchmarks/compile_cache.py: the
# CI test run's 25-minute budget. TensorFlow's and JAX's caches are checked in every run.
@pytest.mark.parametrize(
    ("framework", "mode"), [pytest.param("torch", "compile", marks=pytest.mark.heavy), ("tf", "xla"), ("jax", "jit")]
)
def test_the_second_compile_is_warm_and_no_compile_cache_is_off(tmp_path, framework, mode):
    env = {"BENCH_CACHE_DIR": str(tmp_path / "cache")}
    states = []
    for extra in ([], [], ["--no-compile-cache"]):
        results = tmp_path / f"r{len(states)}"
        p = run_cli("run", "--frameworks", framework, "--modes", mode, *FAST, *extra, "--results-dir", str(results),
                    env=env)  # fmt: skip
        assert p.returncode == 0, p.stderr
        runs, _ = load(results)
        states.append(runs["compile_cache"].iloc[0])
    assert states == ["cold", "warm", "off"]
    assert any((tmp_path / "cache" / "compile").rglob("*"))


def test_the_compile_cache_flag_keeps_existing_run_ids():
    spec = RunSpec("gan", "torch")
    assert spec.run_id == spec.with_(compile_cache=True).run_id != spec.with_(compile_cache=False).run_id
