"""Memory readings and interval statistics (no framework code)."""

from __future__ import annotations

import resource
from pathlib import Path

import numpy as np

MIB = 1024 * 1024


def current_rss_mb() -> float:
    """Resident set size now, from /proc (Linux); falls back to the peak elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()


def peak_rss_mb() -> float:
    """Peak resident set size of this process (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def throughput_stats(images_per_s: list[float]) -> dict[str, float]:
    """Median and 10th/90th percentiles of per-interval throughput."""
    a = np.asarray(images_per_s, dtype=np.float64)
    if a.size == 0:
        return {"images_per_s": np.nan, "images_per_s_p10": np.nan, "images_per_s_p90": np.nan}
    p10, p50, p90 = np.percentile(a, [10, 50, 90])
    return {"images_per_s": float(p50), "images_per_s_p10": float(p10), "images_per_s_p90": float(p90)}


def split_steps(total: int, intervals: int) -> list[int]:
    """Split `total` timed steps into at most `intervals` near-equal chunks (each >= 1 step)."""
    n = max(1, min(intervals, total))
    base, extra = divmod(total, n)
    return [base + (1 if i < extra else 0) for i in range(n)] if total > 0 else []
