"""The machine's measured float32 peak: a large matrix product timed in the worker's framework.

Why measured, not a datasheet number: FLOP utilisation should say how much of what this framework
can get out of this device (with these threads) a GAN step uses. The product is timed once per
machine + framework version + device + threads and cached as JSON under `<cache root>/peak/`
(`$BENCH_CACHE_DIR/peak/`, default `~/.cache/gan-bench/peak/`); delete a file there to measure
again, e.g. after measuring on a busy machine. `BENCH_PEAK=0` turns the measurement off (NaN).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import statistics
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.data.paths import cache_root, temp_name
from bench.environment import cpu_model

SIZE = {"cpu": 2048, "gpu": 4096}  # 2048 already saturates a few CPU cores and takes ~1 s there
REPEATS = 5


def peak_dir() -> Path:
    return cache_root() / "peak"


def cache_key(framework: str, info: dict, device: str) -> dict:
    """What a peak depends on: machine, framework build, device, threads."""
    return {
        "hostname": socket.gethostname(),
        "cpu_model": cpu_model(),
        "framework": framework,
        "framework_version": str(info.get("framework_version", "")),
        "device": device,
        "gpu_name": str(info.get("gpu_name", "")),
        "threads": int(info.get("threads", 0)),
    }


def matmul_peak(n: int, seconds: list[float]) -> float:
    """FLOP/s of an n×n×n float32 product (2n³ FLOPs) from the median of the timed repeats."""
    return 2.0 * n**3 / statistics.median(seconds)


def peak_columns(
    framework: str, info: dict, device: str, measure: Callable[[str, int, int], list[float]] | None
) -> dict:
    """The environment-block columns: the cached peak, or a fresh measurement saved for next time
    (NaN when turned off or when the framework's runtime has no `matmul_seconds`)."""
    if measure is None or os.environ.get("BENCH_PEAK", "1") == "0":
        return {"peak_matmul_flops": math.nan, "peak_matmul_n": 0, "peak_matmul_cached": False}
    key = cache_key(framework, info, device)
    path = peak_dir() / f"{framework}-{hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]}.json"
    entry = _read(path)
    cached = entry is not None
    if entry is None:
        n = SIZE["cpu" if device == "cpu" else "gpu"]
        seconds = measure(device, n, REPEATS)
        entry = {**key, "n": n, "seconds": seconds, "flops": matmul_peak(n, seconds)}
        entry["measured_at"] = datetime.now(UTC).isoformat()
        _write(path, entry)
    return {"peak_matmul_flops": float(entry["flops"]), "peak_matmul_n": int(entry["n"]), "peak_matmul_cached": cached}


def _read(path: Path) -> dict | None:
    try:
        entry = json.loads(path.read_text())
        return entry if float(entry["flops"]) > 0 else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write(path: Path, entry: dict) -> None:
    """Atomic write; a read-only cache only costs a re-measurement next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_name(path)
        tmp.write_text(json.dumps(entry, indent=1))
        os.replace(tmp, path)
    except OSError:
        pass
