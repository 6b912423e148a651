"""Execution modes: suites and --modes expand to the right runs; compiled modes record their compile
time apart; a mode that cannot run is a failed row with its reason; every row has the speed columns."""

from __future__ import annotations

import pytest

from bench.results import load
from bench.spec import RunSpec
from bench.suites import BUILTIN, MODES, Suite, expand, mode_applies
from bench.variants import VARIANTS
from tests.conftest import run_cli


def test_throughput_suite_is_every_variant_framework_and_mode_at_three_batch_sizes():
    specs = expand(BUILTIN["throughput"], RunSpec("", ""))
    combos = {(s.variant, s.framework, s.mode, s.batch_size) for s in specs}
    want = {(v, f, m, b) for v in VARIANTS for f in MODES for m in MODES[f] for b in (16, 64, 256)}
    assert combos == want
    assert BUILTIN["throughput"].repeats >= 3 and len(specs) == len(want) * BUILTIN["throughput"].repeats


def test_a_mode_goes_to_the_frameworks_that_have_it_and_an_unknown_one_to_all():
    assert mode_applies("", "torch") and mode_applies("compile", "torch") and not mode_applies("compile", "tf")
    assert mode_applies("xla", "tf") and not mode_applies("xla", "torch") and mode_applies("eager", "tf")
    assert mode_applies("bogus", "torch") and mode_applies("bogus", "tf")
    assert mode_applies("jit", "jax") and not mode_applies("jit", "tf") and mode_applies("eager", "jax")
    suite = Suite("s", variants=("gan",), frameworks=("torch", "tf", "jax"), modes=("compile", "xla", "jit", "bogus"))
    assert sorted((s.framework, s.mode) for s in expand(suite, RunSpec("", ""))) == [
        ("jax", "bogus"), ("jax", "jit"), ("tf", "bogus"), ("tf", "xla"), ("torch", "bogus"), ("torch", "compile"),
    ]  # fmt: skip


@pytest.mark.slow
def test_compile_mode_runs_and_an_unknown_mode_is_refused_up_front(tmp_path):
    fast = ["--steps", "2", "--warmup", "2", "--batch-size", "16", "--fid-samples", "0"]
    p = run_cli("run", "--variants", "gan", "--frameworks", "torch", "--modes", "compile,bogus", *fast,
                "--results-dir", str(tmp_path))  # fmt: skip
    assert p.returncode == 2 and p.stderr.startswith("error: unknown mode 'bogus'; known: eager,"), p.stderr
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
    p = run_cli("run", "--variants", "gan", "--frameworks", "torch", "--modes", "compile", *fast,
                "--results-dir", str(tmp_path))  # fmt: skip
    assert p.returncode == 0, p.stderr
    runs, _ = load(tmp_path)
    by = {r.mode: r for r in runs.itertuples()}
    assert set(by) == {"compile"}
    r = by["compile"]
    assert r.status == "ok", r.reason
    assert r.first_step_s > 3 * r.step_time_s and r.compile_s > 0  # compilation lands in the first step
    assert r.flops_per_step > 0 and r.flops_per_s > 0 and r.flop_utilisation > 0
    assert r.peak_matmul_flops > 0 and r.images_per_s > 0 and r.batch_size == 16
