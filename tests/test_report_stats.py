"""The report's statistics and number formatting, checked against direct computations."""

from __future__ import annotations

import numpy as np

from bench.report.fmt import MISSING, fmt, pm
from bench.report.stats import RatioCI, ratio_ci, verdict
from tests.fixtures.report_results import DCGAN_SPEED, LSGAN_SPEED


def runs_of(speeds: dict, framework: str) -> list[np.ndarray]:
    return [np.array(v) for _, v in sorted(speeds[framework].items())]


def direct_bootstrap(num: list[np.ndarray], den: list[np.ndarray], n_boot: int, seed: int) -> tuple[float, float]:
    """The documented two-level bootstrap written as plain loops: same draws, same order, same seed."""
    rng = np.random.default_rng(seed)
    medians = []
    for runs in (num, den):
        picked = rng.integers(0, len(runs), size=(n_boot, len(runs)))
        u = rng.random(size=(n_boot, len(runs), max(len(r) for r in runs)))
        out = np.empty(n_boot)
        for b in range(n_boot):
            pooled = []
            for k in range(len(runs)):
                run = runs[picked[b, k]]
                pooled += [run[int(u[b, k, j] * len(run))] for j in range(len(run))]
            out[b] = np.median(pooled)
        medians.append(out)
    low, high = np.percentile(medians[0] / medians[1], [2.5, 97.5])
    return float(low), float(high)


def test_speed_ratio_and_interval_match_a_direct_bootstrap():
    torch, tf = runs_of(DCGAN_SPEED, "torch"), runs_of(DCGAN_SPEED, "tf")
    ci = ratio_ci(torch, tf, n_boot=500, seed=7)
    by_hand = np.median(np.concatenate(torch)) / np.median(np.concatenate(tf))
    assert ci.ratio == by_hand == 205.0 / 102.0
    low, high = direct_bootstrap(torch, tf, n_boot=500, seed=7)
    assert np.isclose(ci.low, low) and np.isclose(ci.high, high)
    assert ci.low < 2.0 < ci.high  # the fixture's speeds are about twice as high for PyTorch
    assert verdict(ci, "faster", "PyTorch", "TensorFlow") == "PyTorch faster"


def test_unequal_run_lengths_match_the_direct_bootstrap():
    num = [np.array([10.0, 12.0, 11.0]), np.array([9.0, 13.0])]
    den = [np.array([10.0]), np.array([11.0, 10.5, 9.5, 10.2])]
    ci = ratio_ci(num, den, n_boot=300, seed=3)
    assert np.allclose([ci.low, ci.high], direct_bootstrap(num, den, n_boot=300, seed=3))


def test_overlapping_speeds_give_no_clear_difference():
    ci = ratio_ci(runs_of(LSGAN_SPEED, "torch"), runs_of(LSGAN_SPEED, "tf"))
    assert ci.low < 1.0 < ci.high
    assert verdict(ci, "faster", "PyTorch", "TensorFlow") == "no clear difference"


def test_slower_side_and_memory_wording():
    assert verdict(RatioCI(0.5, 0.4, 0.6), "faster", "PyTorch", "TensorFlow") == "TensorFlow faster"
    assert verdict(RatioCI(0.5, 0.4, 0.6), "faster", "PyTorch", "JAX") == "JAX faster"
    assert verdict(RatioCI(1.6, 1.5, 1.7), "uses more memory", "PyTorch", "JAX") == "PyTorch uses more memory"


def test_one_sample_each_has_no_interval():
    ci = ratio_ci([np.array([500.0])], [np.array([800.0])])
    assert ci.ratio == 500.0 / 800.0 and not ci.has_interval
    assert verdict(ci, "faster", "PyTorch", "TensorFlow").startswith("no interval")
    assert verdict(ratio_ci([], [np.array([1.0])]), "faster", "PyTorch", "TensorFlow") == "n/a"


def test_formatting_precision_and_missing_values():
    assert fmt(1234.567, "rate") == "1,234.6"
    assert fmt(2.0098, "ratio") == "2.01"
    assert fmt(float("nan"), "fid") == MISSING and fmt(None) == MISSING
    assert pm(34.0, np.std([31.0, 33.0, 38.0], ddof=1), 3, "fid") == "34.00 ± 3.61"
    assert pm(30.0, float("nan"), 1, "fid") == "30.00 (n=1)"
    assert pm(0.2, 3e-17, 3, "g3") == "0.2 ± 0"
