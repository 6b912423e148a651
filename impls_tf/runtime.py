"""Process-level settings: threads, determinism, TF32, device placement, memory counters."""

from __future__ import annotations

import os
import time

import tensorflow as tf

from bench.compile_cache import compile_dir


def configure(threads: int, deterministic: bool, seed: int, tf32: bool = False) -> None:
    """Called once after import; environment variables were set by the worker before import. TF32 is off
    (TensorFlow's default is on) unless the run's precision is tf32."""
    if threads > 0:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(max(1, min(threads, 2)))
    tf.config.experimental.enable_tensor_float_32_execution(tf32)
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)  # peak memory means what was used
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    tf.random.set_seed(seed)


def tf32() -> bool:
    """Whether TensorFlow may use TF32 for float32 matmuls and convolutions now."""
    return bool(tf.config.experimental.tensor_float_32_execution_enabled())


def device_name(device: str) -> str:
    """The worker hides all but the chosen GPU, so a GPU run is always `/GPU:0` inside it."""
    return "/CPU:0" if device == "cpu" else "/GPU:0"


def sync(device: str) -> None:
    """Fetching a value waits for the work queued before it; TF has no cheaper public barrier."""
    if device != "cpu":
        tf.test.experimental.sync_devices()


def reset_peak_memory(device: str) -> None:
    if device != "cpu":
        tf.config.experimental.reset_memory_stats("GPU:0")


def peak_device_memory(device: str) -> int | None:
    """Peak bytes allocated by TensorFlow on the GPU since the last reset; None on CPU."""
    return int(tf.config.experimental.get_memory_info("GPU:0")["peak"]) if device != "cpu" else None


def info(device: str) -> dict[str, str | int]:
    out: dict[str, str | int] = {
        "framework_version": tf.__version__,
        "threads": tf.config.threading.get_intra_op_parallelism_threads(),
    }
    if device != "cpu":
        details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
        out["gpu_name"] = str(details.get("device_name", "GPU"))
        if "compute_capability" in details:
            out["gpu_compute_capability"] = "{}.{}".format(*details["compute_capability"])
    return out


def matmul_seconds(device: str, n: int, repeats: int) -> list[float]:
    """Seconds of each of `repeats` float32 (n, n) @ (n, n) products, after one untimed: the machine
    peak that FLOP utilisation is measured against (bench/peak.py). Fetching one element of the
    product waits for it without timing a large device-to-host copy."""
    with tf.device(device_name(device)):
        a, b = (tf.random.stateless_uniform((n, n), seed=(0, i)) for i in range(2))
        tf.linalg.matmul(a, b)[0, 0].numpy()
        out = []
        for _ in range(repeats):
            start = time.perf_counter()
            tf.linalg.matmul(a, b)[0, 0].numpy()
            out.append(time.perf_counter() - start)
    return out


XLA_FLAG = "--tf_xla_persistent_cache_directory"


def xla_entries() -> int:
    """Files in the XLA persistent cache (TensorFlow cannot say whether a compile was a hit)."""
    root = compile_dir("tf")
    return sum(1 for p in root.rglob("*") if p.is_file()) if root.is_dir() else 0


def compile_cache_probe() -> int:
    """Entries in the XLA persistent cache before training (TensorFlow has no hit counter)."""
    return xla_entries()


def compile_cache_state(mode: str, probe: int) -> str:
    """`xla` mode: warm when the cache held entries and training added none, cold when it added some,
    off when the cache is not configured; "" for modes that do not compile with XLA."""
    if mode != "xla":
        return ""
    if XLA_FLAG not in os.environ.get("TF_XLA_FLAGS", ""):
        return "off"
    added = xla_entries() - probe
    return "cold" if added > 0 else ("warm" if probe > 0 else "")
