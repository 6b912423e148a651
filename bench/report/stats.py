"""Confidence intervals for ratios between frameworks, by a two-level bootstrap.

Why two levels: the noise in a throughput figure comes from the intervals inside a run and from
run to run (repeats, seeds). Each bootstrap draw resamples the runs of each framework with
replacement, then the interval samples inside each drawn run, and takes the median of the pooled
draw, exactly as the point estimate takes the median of all pooled intervals. The ratio's 95%
interval is the 2.5th and 97.5th percentile of the ratios of the draws.

The random draws are, per framework in the order (numerator, denominator):
  runs = rng.integers(0, R, size=(n_boot, R))
  u    = rng.random(size=(n_boot, R, L))      # L: the longest run's sample count
and the sample taken at position j of a drawn run of length n is its sample floor(u * n); positions
j >= n are left out. Tests recompute the same draws in a plain loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_BOOT = 2000
SEED = 20240
LEVEL = 0.95


@dataclass(frozen=True)
class RatioCI:
    """A ratio numerator/denominator with its bootstrap interval (nan bounds: no interval)."""

    ratio: float
    low: float
    high: float

    @property
    def has_interval(self) -> bool:
        return bool(np.isfinite(self.low) and np.isfinite(self.high))


def pooled_median(runs: list[np.ndarray]) -> float:
    samples = np.concatenate(runs) if runs else np.array([])
    return float(np.median(samples)) if samples.size else float("nan")


def bootstrap_medians(runs: list[np.ndarray], rng: np.random.Generator, n_boot: int = N_BOOT) -> np.ndarray:
    """`n_boot` medians of pooled samples, resampling runs and then the samples inside each run."""
    lengths = np.array([len(r) for r in runs])
    padded = np.full((len(runs), lengths.max()), np.nan)
    for i, r in enumerate(runs):
        padded[i, : len(r)] = r
    picked = rng.integers(0, len(runs), size=(n_boot, len(runs)))
    u = rng.random(size=(n_boot, len(runs), padded.shape[1]))
    n = lengths[picked][..., None]  # (B, R, 1): length of each drawn run
    idx = np.minimum((u * n).astype(int), n - 1)
    values = padded[picked[..., None], idx]
    values[np.arange(padded.shape[1]) >= n] = np.nan  # positions past a short run's end
    return np.nanmedian(values.reshape(n_boot, -1), axis=1)


def ratio_ci(num: list[np.ndarray], den: list[np.ndarray], n_boot: int = N_BOOT, seed: int = SEED) -> RatioCI:
    """median(num) / median(den) over pooled samples, with a two-level bootstrap 95% interval."""
    num = [np.asarray(r, dtype=float) for r in num if len(r)]
    den = [np.asarray(r, dtype=float) for r in den if len(r)]
    if not num or not den:
        return RatioCI(float("nan"), float("nan"), float("nan"))
    ratio = pooled_median(num) / pooled_median(den)
    if sum(map(len, num)) < 2 and sum(map(len, den)) < 2:
        return RatioCI(ratio, float("nan"), float("nan"))  # one number each: nothing to resample
    rng = np.random.default_rng(seed)
    draws = bootstrap_medians(num, rng, n_boot) / bootstrap_medians(den, rng, n_boot)
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return RatioCI(float(ratio), float(low), float(high))


def verdict(ci: RatioCI, words: str, num: str, den: str) -> str:
    """Plain words for a ratio num/den: which side wins, or "no clear difference" when the interval holds 1.

    `num` and `den` name the very rows the ratio was computed from (frameworks, precisions, ...): there is
    no default, so a caller cannot name a side that did not run."""
    if not np.isfinite(ci.ratio):
        return "n/a"
    if not ci.has_interval:
        return "no interval (one sample each)"
    if ci.low <= 1.0 <= ci.high:
        return "no clear difference"
    return f"{num} {words}" if ci.ratio > 1 else f"{den} {words}"
