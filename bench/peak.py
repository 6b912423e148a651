"""The machine's float32 peak: large matrix products timed in each framework, and the CPU's theoretical peak.

Each worker times an n x n x n float32 product in its own framework once per machine + framework
version + device + threads, cached as JSON under `<cache root>/peak/` (`$BENCH_CACHE_DIR/peak/`,
default `~/.cache/gan-bench/peak/`); delete a file there to measure again, e.g. after measuring on
a busy machine. `BENCH_PEAK=0` turns the measurement off (NaN).

FLOP utilisation divides by ONE peak per machine, device and thread count: the best matmul any
framework measured there (`machine_peak_flops`), so the framework with the slower matmul no longer
looks more efficient. Each framework's own figure stays in `peak_matmul_flops`. A run sees the
frameworks measured before it; the report takes the best over all its rows on the same machine.
`theoretical_peak_flops` is vector lanes x 2 (FMA) x FMA units x cores x clock, read from the CPU
where Linux tells (NaN on a GPU or where it cannot be read).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import math
import os
import socket
import statistics
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.environment import cpu_model
from bench.files import cache_root, write_cache_json

FMA_UNITS = 2  # per core: what current x86 server cores have (Linux does not tell; a few AVX-512 parts have 1)
SIZE = {"cpu": 2048, "gpu": 4096}  # 2048 already saturates a few CPU cores and takes ~1 s there
REPEATS = 5


def peak_dir() -> Path:
    return cache_root() / "peak"


def cache_key(framework: str, info: dict, device: str, threads: int) -> dict:
    """What a peak depends on: machine, framework build, device, and on a CPU the thread count asked
    for (0: the framework's default). The count asked for, not the one a framework reports: PyTorch
    reports its pool's size and TensorFlow 0 for the same default, and one machine peak needs one key."""
    return {
        "hostname": socket.gethostname(),
        "cpu_model": cpu_model(),
        "framework": framework,
        "framework_version": str(info.get("framework_version", "")),
        "device": device,
        "gpu_name": str(info.get("gpu_name", "")),
        "threads": int(threads) if device == "cpu" else 0,
    }


def matmul_peak(n: int, seconds: list[float]) -> float:
    """FLOP/s of an n×n×n float32 product (2n³ FLOPs) from the median of the timed repeats."""
    return 2.0 * n**3 / statistics.median(seconds)


def peak_columns(
    framework: str, info: dict, device: str, measure: Callable[[str, int, int], list[float]] | None, threads: int
) -> dict:
    """The environment-block columns: the cached peak, or a fresh measurement saved for next time
    (NaN when turned off or when the framework's runtime has no `matmul_seconds`). `threads`: the
    run's requested thread count (RunSpec.threads)."""
    theory = theoretical_peak(threads) if device == "cpu" else math.nan
    key = cache_key(framework, info, device, threads)
    if measure is None or os.environ.get("BENCH_PEAK", "1") == "0":
        off = {"peak_matmul_flops": math.nan, "peak_matmul_n": 0, "peak_matmul_cached": False}
        return {**off, "machine_peak_flops": math.nan, "theoretical_peak_flops": theory, "peak_threads": key["threads"]}
    path = peak_dir() / f"{framework}-{hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]}.json"
    entry = _read(path)
    cached = entry is not None
    if entry is None:
        n = SIZE["cpu" if device == "cpu" else "gpu"]
        seconds = measure(device, n, REPEATS)
        entry = {**key, "n": n, "seconds": seconds, "flops": matmul_peak(n, seconds)}
        entry["measured_at"] = datetime.now(UTC).isoformat()
        _write(path, entry)
    own = {"peak_matmul_flops": float(entry["flops"]), "peak_matmul_n": int(entry["n"]), "peak_matmul_cached": cached}
    best = max(own["peak_matmul_flops"], best_measured(key))  # its own too, should the cache be read-only
    return {**own, "machine_peak_flops": best, "theoretical_peak_flops": theory, "peak_threads": key["threads"]}


def best_measured(key: dict) -> float:
    """The best matmul FLOP/s any framework has measured with this key's machine, device and threads."""
    same = {k: v for k, v in key.items() if k not in ("framework", "framework_version")}
    best = math.nan
    for path in glob.glob(str(peak_dir() / "*.json")):
        entry = _read(Path(path))
        if entry is not None and all(entry.get(k) == v for k, v in same.items()):
            best = float(entry["flops"]) if math.isnan(best) else max(best, float(entry["flops"]))
    return best


def theoretical_peak(threads: int) -> float:
    """float32 FLOP/s of the CPUs this process may use (at most `threads` of them when set)."""
    flags, mhz = cpu_flags_and_mhz()
    if not flags or not mhz:
        return math.nan
    lanes = 16 if "avx512f" in flags else 8 if "avx" in flags else 4
    cores = physical_cores()
    cores = min(cores, threads) if threads > 0 else cores
    return float(cores * FMA_UNITS * lanes * (2 if "fma" in flags else 1) * mhz * 1e6)


def physical_cores() -> int:
    """Cores this process may run on, hyper-threads counted once: distinct (physical id, core id) of the
    CPUs in its affinity set, as /proc/cpuinfo gives them (the logical count where it does not)."""
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    try:
        blocks = Path("/proc/cpuinfo").read_text().strip().split("\n\n")
    except OSError:
        return len(allowed)
    cores = set()
    for block in blocks:
        f = {k.strip(): v.strip() for k, v in (ln.split(":", 1) for ln in block.splitlines() if ":" in ln)}
        if "processor" not in f or "core id" not in f or int(f["processor"]) not in allowed:
            continue
        cores.add((f.get("physical id", "0"), f["core id"]))
    return len(cores) or len(allowed)


def cpu_flags_and_mhz() -> tuple[set[str], float]:
    """The CPU's feature flags and clock (the rated maximum where cpufreq tells it, else /proc/cpuinfo)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set(), 0.0
    fields = dict(line.split(":", 1) for line in info.split("\n\n")[0].splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    mhz = float(fields.get("cpu MHz", 0) or 0)
    with contextlib.suppress(OSError, ValueError):
        mhz = int(Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read_text()) / 1000
    return set(fields.get("flags", "").split()), mhz


def _read(path: Path) -> dict | None:
    try:
        entry = json.loads(path.read_text())
        return entry if float(entry["flops"]) > 0 else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write(path: Path, entry: dict) -> None:
    write_cache_json(path, entry)
