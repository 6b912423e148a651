"""Parity per precision (bench/parity/precision.py): the tolerances' rule, checks that fail on a real
difference, and CI's reduced `python -m bench parity --precision bf16|fp16` in three frameworks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bench.frameworks import FRAMEWORKS, installed
from bench.parity.levels import Job
from bench.parity.precision import compare_two, roundings, tolerance, trajectory_row
from bench.variants import VARIANTS, variant_arch
from tests.conftest import run_cli

FWS = [fw for fw in FRAMEWORKS if installed(fw)]
ARCH = variant_arch(VARIANTS["dcgan"])  # G: dense, 3 BN, 3 transposed convs; D: 2 convs, dense


def test_tolerances_follow_the_unit_roundoff_and_the_roundings():
    assert roundings(ARCH, "L2") == 14 and roundings(ARCH, "L3") == 40 and roundings(ARCH, "L5") == 20
    assert tolerance(ARCH, "L2", "bf16") == pytest.approx(4 * 2**-8 * math.sqrt(14))
    assert tolerance(ARCH, "L3", "fp16") == pytest.approx(math.sqrt(2**-11 * 40))
    assert tolerance(ARCH, "L5", "fp16") == pytest.approx(4 * 2**-11 * math.sqrt(20))
    assert tolerance(ARCH, "L2", "fp16") < tolerance(ARCH, "L2", "bf16")


def dump(scale: float = 1.0, skipped: tuple[int, ...] = ()) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    losses = np.linspace(1.0, 0.5, 12)
    skips = np.zeros(12)
    skips[[s - 1 for s in skipped]] = 1.0
    return {
        "L2/g": rng.normal(size=(4, 28, 28, 1)) * scale, "L2/d": rng.normal(size=(4, 1)),
        "L3/loss/D.real": np.float64(0.7), "L3/grad/G.fc.weight": rng.normal(size=(10, 10)) * scale,
        "L3/grad/D.fc.weight": rng.normal(size=(10, 10)),
        "L4/w/G.fc.weight": rng.normal(size=(10, 10)) * scale, "L4/opt/G.fc.weight.m": rng.normal(size=(10, 10)),
        "L5/loss_d": losses * scale, "L5/loss_g": losses, "L5/skipped_d": skips, "L5/skipped_g": np.zeros(12),
    }  # fmt: skip


def test_the_precision_levels_pass_the_same_and_fail_a_real_difference():
    job = Job(["dcgan"], ["L2", "L3", "L4", "L5"], precision="bf16")
    same = compare_two("dcgan", ARCH, dump(), dump(), job, own=True)
    assert [r.passed for r in same] == [True] * 4
    # 2.5x: G's gradient off by 60% against bf16's L3/L4 bound of sqrt(u 40) = 0.40 (kink flips alone give 8%)
    off = compare_two("dcgan", ARCH, dump(), dump(scale=2.5), job, own=True)
    assert [r.passed for r in off] == [False] * 4


def test_the_window_against_fp32_ends_at_a_skipped_update_and_frameworks_must_skip_alike():
    a, b = dump(), dump(skipped=(4,))
    b["L5/loss_d"] = b["L5/loss_d"] * np.where(np.arange(12) >= 4, 1.5, 1.0)  # apart after the skip
    row = trajectory_row("dcgan", a, b, 0.01, own=True)
    assert row.passed and "skipped for overflow at step 4" in row.detail
    row = trajectory_row("dcgan", dump(skipped=(4,)), dump(skipped=(5,)), 0.01, own=False)
    assert not row.passed and "skipped updates in steps 1-10 differ: [4] against [5]" in row.detail
    assert trajectory_row("dcgan", dump(skipped=(11,)), dump(), 0.01, own=False).passed  # past the window


@pytest.mark.slow
@pytest.mark.parity
@pytest.mark.parametrize("precision, variants", [("bf16", "gan,dcgan"), ("fp16", "gan,wgan-gp")])
def test_parity_per_precision_passes_and_prints_the_drift_table(tmp_path, precision, variants):
    """CI's reduced run: batch 8, 12 steps, one thread per worker; the full check is `python -m bench parity
    --precision bf16` (every variant at its own batch size)."""
    p = run_cli("parity", "--precision", precision, "--variants", variants, "--frameworks", ",".join(FWS),
                "--batch-size", "8", "--steps", "12", "--threads", "1", "--results-dir", str(tmp_path),
                timeout=540)  # fmt: skip
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    assert f"drift table ({precision})" in p.stdout
    df = pd.read_parquet(tmp_path / "parity" / "parity.parquet")
    low = df[df["precision"] == precision]
    per_variant = len(FWS) * 4 + (len(FWS) - 1) * 4  # each against its fp32, the others against the reference
    assert len(low) == per_variant * len(variants.split(",")) and low["passed"].all()
    assert set(low["against"]) == {"fp32", "torch"}
