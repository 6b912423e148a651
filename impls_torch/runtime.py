"""Process-level settings: threads, determinism, TF32, device placement, memory counters."""

from __future__ import annotations

import os
import time

import torch


def configure(threads: int, deterministic: bool, seed: int, tf32: bool = False) -> None:
    """Called once after import; environment variables were set by the worker before import. TF32 is off
    (float32 on every side) unless the run's precision is tf32."""
    if threads > 0:
        torch.set_num_threads(threads)
        torch.set_num_interop_threads(max(1, min(threads, 2)))
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    if deterministic:
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    torch.manual_seed(seed)


def tf32() -> bool:
    """Whether PyTorch may use TF32 for float32 matmuls and convolutions now."""
    return bool(torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32)


def device_name(device: str) -> str:
    """The worker hides all but the chosen GPU, so a GPU run is always `cuda:0` inside it."""
    return "cpu" if device == "cpu" else "cuda:0"


def sync(device: str) -> None:
    if device != "cpu":
        torch.cuda.synchronize()


def reset_peak_memory(device: str) -> None:
    if device != "cpu":
        torch.cuda.reset_peak_memory_stats()


def peak_device_memory(device: str) -> int | None:
    """Peak bytes allocated by PyTorch on the GPU since the last reset; None on CPU."""
    return int(torch.cuda.max_memory_allocated()) if device != "cpu" else None


def info(device: str) -> dict[str, str | int]:
    out: dict[str, str | int] = {"framework_version": torch.__version__, "threads": torch.get_num_threads()}
    if device != "cpu":
        out["gpu_name"] = torch.cuda.get_device_name(0)
        out["gpu_compute_capability"] = "{}.{}".format(*torch.cuda.get_device_capability(0))
    return out


def matmul_seconds(device: str, n: int, repeats: int) -> list[float]:
    """Seconds of each of `repeats` float32 (n, n) @ (n, n) products, after one untimed: the machine
    peak that FLOP utilisation is measured against (bench/peak.py)."""
    dev = torch.device(device_name(device))
    gen = torch.Generator(device=dev).manual_seed(0)
    a, b = (torch.rand(n, n, device=dev, generator=gen) for _ in range(2))
    torch.mm(a, b)
    sync(device)
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        sync(device)
        out.append(time.perf_counter() - start)
    return out


def compile_cache_probe() -> None:
    """Nothing to note before training: Inductor counts its own cache hits and misses."""
    return None


def compile_cache_state(mode: str, probe: None) -> str:
    """warm / cold / partial / off for `compile` mode from Inductor's FX-graph cache counters; "" otherwise."""
    if mode != "compile":
        return ""
    if os.environ.get("TORCHINDUCTOR_FX_GRAPH_CACHE") == "0":
        return "off"
    from torch._dynamo.utils import counters

    hits, misses = counters["inductor"]["fxgraph_cache_hit"], counters["inductor"]["fxgraph_cache_miss"]
    return {(True, False): "warm", (False, True): "cold", (True, True): "partial"}.get((hits > 0, misses > 0), "")
