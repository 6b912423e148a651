"""Each pair's figures of B against A: the ratio B/A with a 95% bootstrap interval, a Mann-Whitney U
p-value, and one mark per figure.

The rule is asv's (`asv/_stats.py`, `is_different`): a change counts only when the ratio is beyond the
threshold in one direction AND the two sides differ. They differ when the two-sided Mann-Whitney U test
rejects "same distribution" at ALPHA, where the sample sizes let it: the smallest p the exact test can
give is 2 / C(n_A + n_B, n_A) (0.33 for two samples a side, 0.10 for three). With fewer samples they
differ when the two sides' 99% intervals of the median do not overlap (asv's fallback; the intervals are
asv's own, `asv_runner.statistics.compute_stats`: order statistics, or a Laplace posterior that reaches
beyond the samples when they are too few). Only when neither the test nor the intervals can tell is the
mark "insufficient data" (one sample a side always is: its interval is unbounded), never "no change".

Samples: throughput uses every timed interval of every run (the bootstrap resamples runs, then
intervals, as the report does: bench/report/stats.py); memory, compile time, FID and KID use one
value per run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from asv_runner.statistics import compute_stats
from scipy.stats import mannwhitneyu

from bench.compare.pairs import Pair
from bench.report.data import MEASURED
from bench.report.stats import ratio_ci
from bench.report.tables import counted_intervals

ALPHA = 0.05
FAILING = ("failed", "timeout", "diverged")

REGRESSION, IMPROVEMENT, NO_CHANGE = "regression", "improvement", "no significant change"
INSUFFICIENT, NOT_COMPARABLE, NEW_FAILURE, FIXED = "insufficient data", "not comparable", "new failure", "fixed"
MARKS = (REGRESSION, NEW_FAILURE, IMPROVEMENT, FIXED, NO_CHANGE, INSUFFICIENT, NOT_COMPARABLE)
FAILS_CI = (REGRESSION, NEW_FAILURE)  # marks that make the command exit 1


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    higher_is_better: bool
    speed: bool  # host and shared-machine caveats apply


SPEED = Metric("images/s", "images/s", True, True)
MEMORY = Metric("peak memory", "MiB", False, False)
COMPILE = Metric("compile time", "s", False, True)
FID = Metric("FID", "", False, False)
KID = Metric("KID", "", False, False)


def min_p(n_a: int, n_b: int) -> float:
    """The smallest two-sided p-value the exact Mann-Whitney U test can give for these sample sizes."""
    return 1.0 if n_a == 0 or n_b == 0 else min(1.0, 2.0 / math.comb(n_a + n_b, n_a))


def u_test(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Mann-Whitney U p-value; identical samples on both sides are p = 1 (no evidence)."""
    if np.unique(np.concatenate([a, b])).size == 1:
        return 1.0
    return float(mannwhitneyu(b, a, alternative="two-sided").pvalue)


def interval_99(x: np.ndarray) -> tuple[float, float]:
    """asv's 99% interval of the median of `x` (unbounded for a single sample)."""
    _, stats = compute_stats([float(v) for v in x], 1)
    return (stats["ci_99_a"], stats["ci_99_b"]) if stats else (-math.inf, math.inf)


def apart(a: np.ndarray, b: np.ndarray) -> bool:
    """asv's fallback when the U test cannot reach ALPHA: the two 99% intervals do not overlap."""
    (a_lo, a_hi), (b_lo, b_hi) = interval_99(a), interval_99(b)
    return a_hi < b_lo or b_hi < a_lo


def mark(
    ratio: float, p: float, n_a: int, n_b: int, threshold: float, higher_is_better: bool, separated: bool = False
) -> str:
    """Regression or improvement only when beyond the threshold and the sides differ (asv's rule): by the U
    test's `p` where the sample sizes let it reach ALPHA, else by `separated` (99% intervals apart)."""
    if min_p(n_a, n_b) < ALPHA:
        differ = p < ALPHA
    elif separated:
        differ = True
    else:
        return INSUFFICIENT  # neither the test nor the intervals can decide
    worse = ratio < 1 / (1 + threshold) if higher_is_better else ratio > 1 + threshold
    better = ratio > 1 + threshold if higher_is_better else ratio < 1 / (1 + threshold)
    if differ and worse:
        return REGRESSION
    if differ and better:
        return IMPROVEMENT
    return NO_CHANGE


def row(pair: Pair, metric: Metric, a: list[np.ndarray], b: list[np.ndarray], threshold: float, note: str = "") -> dict:
    """One figure of one pair, its statistics and its mark (`note` non-empty: not comparable)."""
    pa, pb = np.concatenate(a) if a else np.array([]), np.concatenate(b) if b else np.array([])
    out = {"case": pair.label(), **pair.case, "metric": metric.name, "unit": metric.unit}
    out |= {"a": median(pa), "b": median(pb), "n_a": int(pa.size), "n_b": int(pb.size)}
    if not note and (out["a"] <= 0 or out["b"] <= 0):
        note = f"{metric.name} at or below 0: a ratio has no meaning"
    ci = ratio_ci(b, a) if not note else None
    p = u_test(pa, pb) if ci is not None and pa.size and pb.size else float("nan")
    few = min_p(pa.size, pb.size) >= ALPHA  # only then do the 99% intervals decide (asv's fallback)
    out |= {
        "ratio": ci.ratio if ci else float("nan"),
        "low": ci.low if ci else float("nan"),
        "high": ci.high if ci else float("nan"),
        "p_value": p,
        "mark": NOT_COMPARABLE
        if note
        else mark(ci.ratio, p, pa.size, pb.size, threshold, metric.higher_is_better, few and apart(pa, pb)),
        "note": note,
    }
    return out


def median(x: np.ndarray) -> float:
    return float(np.median(x)) if x.size else float("nan")


def status_of(runs: pd.DataFrame) -> str:
    """A case's outcome: failing when any run failed, timed out or diverged; skipped when all were."""
    statuses = set(runs["status"])
    if statuses & set(FAILING):
        return "failing"
    return "skipped" if statuses == {"skipped"} else "ok"


def status_row(pair: Pair) -> dict:
    """The pair's outcome in A against B: new failure, fixed, or a pair that cannot be compared."""
    sa, sb = status_of(pair.a), status_of(pair.b)
    out = {"case": pair.label(), **pair.case, "metric": "status", "unit": "", "a": np.nan, "b": np.nan}
    out |= {"status_a": sa, "status_b": sb}
    out |= {"n_a": len(pair.a), "n_b": len(pair.b), "ratio": np.nan, "low": np.nan, "high": np.nan, "p_value": np.nan}
    if sa == "ok" and sb == "failing":
        return out | {"mark": NEW_FAILURE, "note": reasons(pair.b)}
    if sa == "failing" and sb == "ok":
        return out | {"mark": FIXED, "note": reasons(pair.a)}
    if "skipped" in (sa, sb) or sa == sb == "failing":
        side = "both" if sa == sb else ("A" if sa != "ok" else "B")
        what = sa if side != "B" else sb
        return out | {"mark": NOT_COMPARABLE, "note": f"{what} in {side}: {reasons(pair.a, pair.b)}"}
    return out | {"mark": NO_CHANGE, "note": ""}


def reasons(*sides: pd.DataFrame) -> str:
    texts = []
    for runs in sides:
        bad = runs[runs["status"] != "ok"]
        texts += [f"{s}: {r}" for s, r in zip(bad["status"], bad.get("reason", [""] * len(bad)), strict=True)]
    return "; ".join(dict.fromkeys(texts))[:300]


def compare_pair(pair: Pair, intervals_a: pd.DataFrame, intervals_b: pd.DataFrame, threshold: float) -> list[dict]:
    """Every figure both sides have, plus the status row; a pair that does not compare is one row."""
    status = status_row(pair)
    if pair.not_comparable:
        return [status | {"mark": NOT_COMPARABLE, "note": pair.not_comparable}]
    a, b = pair.a[pair.a["status"].isin(MEASURED)], pair.b[pair.b["status"].isin(MEASURED)]
    rows = [status]
    if a.empty or b.empty:
        return rows
    speed_a, speed_b = speed_samples(a, intervals_a), speed_samples(b, intervals_b)  # run ids repeat across A and B
    rows.append(row(pair, SPEED, speed_a, speed_b, threshold, pair.speed_caveat))
    gpu = pair.case.get("device_kind") == "gpu"
    rows.append(per_run(pair, MEMORY, a, b, "peak_device_mem_mb" if gpu else "peak_rss_mb", threshold))
    rows += filter(None, [compile_row(pair, a, b, threshold)])
    rows += [r for m, col in ((FID, "fid"), (KID, "kid_mean")) if (r := quality_row(pair, m, a, b, col, threshold))]
    return rows


def speed_samples(runs: pd.DataFrame, intervals: pd.DataFrame) -> list[np.ndarray]:
    """Per run, its interval throughputs; a run without intervals contributes its median alone."""
    intervals = counted_intervals(intervals)
    by_run = dict(iter(intervals.groupby("run_id")["images_per_s"])) if len(intervals) else {}
    out = []
    medians = runs["images_per_s"] if "images_per_s" in runs else pd.Series(np.nan, index=runs.index)
    for run_id, med in zip(runs["run_id"], medians, strict=True):
        s = by_run[run_id].to_numpy(float) if run_id in by_run else np.array([med], dtype=float)
        out.append(s[np.isfinite(s)])
    return [s for s in out if s.size]


def values(runs: pd.DataFrame, col: str) -> list[np.ndarray]:
    x = pd.to_numeric(runs[col], errors="coerce").to_numpy(float) if col in runs else np.array([])
    return [np.array([v]) for v in x if np.isfinite(v)]


def per_run(pair: Pair, metric: Metric, a, b, col: str, threshold: float, note: str = "") -> dict:
    """A figure with one value per run; speed-like figures carry the pair's host caveat."""
    note = note or (pair.speed_caveat if metric.speed else "")
    return row(pair, metric, values(a, col), values(b, col), threshold, note)


def compile_row(pair: Pair, a: pd.DataFrame, b: pd.DataFrame, threshold: float) -> dict | None:
    """Compile time where the mode compiles (a compile_cache state is recorded); warm against cold
    compiles measure different work, so they are not comparable."""
    if "compile_cache" not in a or "compile_cache" not in b:
        return None
    ca, cb = (set(x["compile_cache"].fillna("").astype(str)) - {""} for x in (a, b))
    if not ca or not cb:
        return None
    note = "" if ca == cb else f"compile cache {', '.join(sorted(ca))} vs {', '.join(sorted(cb))}"
    return per_run(pair, COMPILE, a, b, "compile_s", threshold, note)


def quality_row(pair: Pair, metric: Metric, a, b, col: str, threshold: float) -> dict | None:
    """FID or KID where both sides scored; on different sample counts or extractors they differ by design."""
    if not values(a, col) or not values(b, col):
        return None
    setup = [c for c in ("fid_n_fake", "fid_n_real", "fid_extractor") if c in a and c in b]
    diff = [f"{c} {join(a[c])} vs {join(b[c])}" for c in setup if join(a[c]) != join(b[c])]
    return per_run(pair, metric, a, b, col, threshold, "; ".join(diff))


def join(x: pd.Series) -> str:
    return ", ".join(sorted({str(v) for v in x.dropna()}))


def compare(pairs: list[Pair], intervals_a: pd.DataFrame, intervals_b: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """The comparison table: one row per pair and figure."""
    return pd.DataFrame([r for p in pairs for r in compare_pair(p, intervals_a, intervals_b, threshold)])
