"""Precision as an axis (bench/precision.py): the CLI and suites, fp16 loss scaling's skipped updates,
the fp16 gradient penalty on unscaled gradients, and what a run records about its precision."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.frameworks import FRAMEWORKS, installed
from bench.precision import PRECISIONS
from bench.results import load
from bench.spec import RunSpec
from bench.suites import BUILTIN, expand
from tests.conftest import run_cli

HERE = Path(__file__).parent
FWS = [fw for fw in FRAMEWORKS if installed(fw)]
FP16_EPS = 2.0**-11


def test_default_runs_keep_the_ids_they_had_before_precisions_existed():
    assert RunSpec("dcgan", "torch", seed=1).run_id == "dcgan-torch-s1-r0-6067d9e444"  # recorded at 50e2874
    assert RunSpec("wgan-gp", "jax", seed=2, steps=12, mode="jit").run_id == "wgan-gp-jax-s2-r0-60a323c251"
    assert RunSpec("dcgan", "torch", seed=1, precision="fp32").run_id == "dcgan-torch-s1-r0-6067d9e444"
    ids = {RunSpec("dcgan", "torch", seed=1, precision=p).run_id for p in PRECISIONS}
    assert len(ids) == len(PRECISIONS)


def test_precisions_multiply_out_and_the_scaler_goes_to_fp16_only():
    suite = BUILTIN["precision"]
    specs = expand(suite, RunSpec("", "", loss_scaler="shared"))
    assert {s.precision for s in specs} == {"fp32", "bf16", "fp16"}
    assert len(specs) == len(suite.variants) * len(suite.frameworks) * 3 * len(suite.seeds)
    assert {s.loss_scaler for s in specs if s.precision == "fp16"} == {"shared"}
    assert {s.loss_scaler for s in specs if s.precision != "fp16"} == {""}


def test_tf32_on_a_cpu_is_one_error_line_before_anything_is_written(tmp_path):
    p = run_cli("run", "--variants", "gan", "--precision", "tf32", "--results-dir", str(tmp_path / "r"))
    assert p.returncode == 2, p.stderr
    assert p.stderr.startswith("error: precision tf32 needs an NVIDIA GPU") and p.stderr.count("\n") == 1, p.stderr
    assert not (tmp_path / "r").exists()
    p = run_cli("run", "--variants", "gan", "--precision", "fp8", "--results-dir", str(tmp_path / "r"))
    assert p.returncode == 2 and p.stderr.startswith("error: unknown precision 'fp8'"), p.stderr


@pytest.fixture(scope="module", params=FWS)
def probe(request, tmp_path_factory) -> dict[str, np.ndarray]:
    out = tmp_path_factory.mktemp("precision") / f"{request.param}.npz"
    cmd = [sys.executable, str(HERE / "probe_precision.py"), request.param, str(out)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=540)
    assert p.returncode == 0, p.stderr[-3000:]
    return dict(np.load(out))


def test_an_fp16_update_whose_gradients_overflow_is_skipped_and_the_scale_goes_down(probe):
    before = {k[len("skip/w0/") :]: a for k, a in probe.items() if k.startswith("skip/w0/")}
    assert before
    for name, a in before.items():  # weights (and so the update) unchanged, bit for bit
        np.testing.assert_array_equal(probe[f"skip/w1/{name}"], a, err_msg=name)
    assert probe["skip/skipped_d"] == 1.0 and probe["skip/skipped_g"] == 1.0
    assert probe["skip/scale_d"] == 2.0**59 and probe["skip/scale_g"] == 2.0**59  # halved from 2**60
    assert probe["shared/scale_d"] == 2.0**58 and probe["shared/scale_g"] == 2.0**58  # one scale, halved twice


def test_the_fp16_gradient_penalty_is_computed_on_unscaled_gradients(probe):
    """The step's penalty in fp16 equals float32's within fp16 rounding (8 units of its epsilon); a penalty
    of the scaled gradients would be ~scale**2 times too large (scale 2**15)."""
    fp32, fp16 = probe["gp/fp32"], probe["gp/fp16"]
    assert probe["gp/scale"] == 2.0**15
    assert abs(fp16 - fp32) / abs(fp32) <= 8 * FP16_EPS, (fp32, fp16)


@pytest.mark.slow
def test_bf16_and_fp16_runs_record_their_precision_and_skips_are_counted_in_the_row(tmp_path):
    fast = ["--variants", "gan", "--frameworks", ",".join(FWS), "--steps", "2", "--warmup", "1",
            "--batch-size", "8", "--fid-samples", "0", "--no-report"]  # fmt: skip
    p = run_cli("run", *fast, "--precision", "bf16,fp16", "--results-dir", str(tmp_path / "a"))
    assert p.returncode == 0, p.stderr
    runs, _ = load(tmp_path / "a")
    assert len(runs) == 2 * len(FWS) and set(runs.status) == {"ok"}, runs[["framework", "precision", "reason"]]
    for r in runs.itertuples():
        assert r.compute_dtype == {"bf16": "bfloat16", "fp16": "float16"}[r.precision]
        assert r.loss_scaler == ("per-network" if r.precision == "fp16" else "")
        assert not r.tf32 and isinstance(r.cpu_bf16_native, bool | np.bool_)
        if r.precision == "fp16":
            assert r.loss_scale_d == 2.0**15 and r.skipped_updates_d == 0 and r.skipped_updates_g == 0
    env = {"BENCH_TEST_LOSS_SCALE": str(2.0**60)}
    p = run_cli("run", *fast, "--precision", "fp16", "--results-dir", str(tmp_path / "b"), env=env)
    assert p.returncode == 0, p.stderr
    runs, _ = load(tmp_path / "b")
    assert set(runs.status) == {"ok"}, runs[["framework", "reason"]]
    assert set(runs.skipped_updates_d) == {3} and set(runs.skipped_updates_g) == {3}  # warm-up + 2 steps
    assert set(runs.loss_scale_d) == {2.0**57}
