"""Process-level settings: threads, float32 matmuls, device placement, memory counters, compile cache.

JAX runs on the one device the worker leaves visible (CPU, or the chosen GPU as device 0). Its
persistent compilation cache is configured through the environment before import
(bench/frameworks.py); its hits and misses are counted from JAX's own monitoring events.
"""

from __future__ import annotations

import os
import time
from collections import Counter

import jax
import jax.numpy as jnp

EVENTS: Counter = Counter()  # JAX's compilation-cache events seen in this process
CACHE_EVENTS = {"/jax/compilation_cache/cache_hits": "hit", "/jax/compilation_cache/cache_misses": "miss"}


def _on_event(event: str, **kwargs) -> None:
    if event in CACHE_EVENTS:
        EVENTS[CACHE_EVENTS[event]] += 1


def configure(threads: int, deterministic: bool, seed: int, tf32: bool = False) -> None:
    """Called once after import, before the first computation (which starts XLA's backend).

    XLA's CPU backend sizes its thread pool from the cores it may run on; it has no thread-count
    setting, so `threads` = 1 turns its multi-threading off and other counts keep every core (`info`
    records what was used). Matmuls and convolutions run in full float32 (no TF32 on GPUs), as the
    other frameworks are told, unless the run's precision is tf32 (JAX's own default on GPUs, where XLA
    then rounds float32 matmul and convolution inputs to TF32). `deterministic` needs nothing: XLA's CPU
    and GPU kernels used here are.
    The seed is not used: JAX's own random numbers are not (dropout keys come from the harness seed).
    """
    if threads == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen=false".strip()
    jax.config.update("jax_default_matmul_precision", "tensorfloat32" if tf32 else "highest")
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.monitoring.register_event_listener(_on_event)


def tf32() -> bool:
    """Whether XLA may use TF32 for float32 matmuls and convolutions now (JAX's matmul precision)."""
    return jax.config.jax_default_matmul_precision == "tensorfloat32"


def device_name(device: str) -> str:
    """The worker hides all but the chosen GPU, so a GPU run is always device 0 of its platform."""
    return "cpu" if device == "cpu" else "gpu"


def jax_device(device: str) -> jax.Device:
    return jax.devices(device_name(device))[0]


def sync(device: str) -> None:
    """JAX has no device-wide barrier; the trainer waits on its own state (Trainer.sync)."""
    jax.effects_barrier()


def reset_peak_memory(device: str) -> None:
    """JAX cannot reset its peak counter: the peak is the process's, which is one run's in a worker."""


def peak_device_memory(device: str) -> int | None:
    """Peak bytes allocated by JAX on the GPU in this process; None on CPU."""
    if device == "cpu":
        return None
    stats = jax_device(device).memory_stats() or {}
    return int(stats["peak_bytes_in_use"]) if "peak_bytes_in_use" in stats else None


def info(device: str) -> dict[str, str | int]:
    single = "--xla_cpu_multi_thread_eigen=false" in os.environ.get("XLA_FLAGS", "")
    out: dict[str, str | int] = {
        "framework_version": jax.__version__,
        "threads": 1 if single else len(os.sched_getaffinity(0)),
    }
    if device != "cpu":
        out["gpu_name"] = jax_device(device).device_kind
        capability = getattr(jax_device(device), "compute_capability", "")
        if capability:
            out["gpu_compute_capability"] = str(capability)
    return out


def matmul_seconds(device: str, n: int, repeats: int) -> list[float]:
    """Seconds of each of `repeats` float32 (n, n) @ (n, n) products, after one untimed (compiled): the
    machine peak that FLOP utilisation is measured against (bench/peak.py)."""
    dev = jax_device(device)
    a, b = (jax.device_put(jax.random.uniform(jax.random.key(i), (n, n), jnp.float32), dev) for i in range(2))
    mm = jax.jit(jnp.matmul)
    mm(a, b).block_until_ready()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        mm(a, b).block_until_ready()
        out.append(time.perf_counter() - start)
    return out


def compile_cache_probe() -> Counter:
    """The cache events seen before training."""
    return Counter(EVENTS)


def compile_cache_state(mode: str, probe: Counter) -> str:
    """`jit` mode: warm when every compile was served from the persistent cache, cold when none was,
    partial for both, off when the cache is not configured; "" for `eager`."""
    if mode != "jit":
        return ""
    if not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return "off"
    hits, misses = EVENTS["hit"] - probe["hit"], EVENTS["miss"] - probe["miss"]
    return {(True, False): "warm", (False, True): "cold", (True, True): "partial"}.get((hits > 0, misses > 0), "")
