"""Where the folded FID Inception network runs: PyTorch (oneDNN), ONNX Runtime or OpenVINO, by measurement.

All three run the same network: `inception.fold_network`'s module, exported once to ONNX for the
other two (cached on each machine under `$BENCH_CACHE_DIR/fid-runtime/`). On a CPU, `runtime="auto"`
times every installed runtime on a calibration batch, keeps only those whose features are within
`TOLERANCE` (relative to the features' scale) of the shipped TorchScript network's, and takes the
fastest. That choice is measured once per machine, thread count and runtime versions and saved as
JSON next to the ONNX file; delete the file to measure again. On a GPU the PyTorch path is the only
one. The runtime that produced the features is recorded with every FID (`fid_runtime`).
Numbers: benchmarks/bench_inception.py.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import math
import os
import socket
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from bench.environment import cpu_model
from bench.errors import BenchError
from bench.fid import inception
from bench.fid.evaluator import RUNTIMES
from bench.files import cache_root, temp_name, write_cache_json

PACKAGES = {"torch": "torch", "onnxruntime": "onnxruntime", "openvino": "openvino"}
TOLERANCE = 1e-5  # max |features - TorchScript reference| / max |reference|
CALIBRATION_IMAGES = 16
Runner = Callable[[np.ndarray], np.ndarray]  # float32 NCHW network input -> (N, 2048) features


def installed() -> list[str]:
    """The runtimes that can be used here: torch always; the others with their package and `onnx`."""
    has_onnx = importlib.util.find_spec("onnx") is not None
    return ["torch"] + [r for r in RUNTIMES[1:] if has_onnx and importlib.util.find_spec(PACKAGES[r])]


def versions() -> dict[str, str]:
    return {r: importlib.metadata.version(PACKAGES[r]) for r in installed()}


def runtime_dir() -> Path:
    """This machine's ONNX export and runtime measurements (never shipped between cluster jobs)."""
    return cache_root() / "fid-runtime"


def onnx_path() -> Path:
    """The folded network as ONNX, exported on first use; named by the source network and torch."""
    source = inception.model_path()
    key = f"{source.stat().st_size}-{source.stat().st_mtime_ns}-{torch.__version__}-v1"
    path = runtime_dir() / f"inception-folded-{hashlib.sha1(key.encode()).hexdigest()[:12]}.onnx"
    if not path.is_file():
        export_onnx(path)
    return path


def export_onnx(path: Path) -> None:
    """Export with a dynamic batch; the private fused conv+ReLU op is swapped for conv + relu here."""
    net = inception.fold_network(inception.load_scripted())
    fused, inception.FUSED_CONV_RELU = inception.FUSED_CONV_RELU, None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(net, (torch.zeros(1, 3, inception.SIZE, inception.SIZE),), str(tmp),
                              input_names=["x"], output_names=["features"], opset_version=17, dynamo=False,
                              dynamic_axes={"x": {0: "n"}, "features": {0: "n"}})  # fmt: skip
        os.replace(tmp, path)
    finally:
        inception.FUSED_CONV_RELU = fused
        tmp.unlink(missing_ok=True)


def torch_runner(device: torch.device) -> Runner:
    """Today's path: folded network, channels-last, eager, inference mode."""
    net = inception.optimise(inception.fold_network(inception.load_scripted()), device)

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            t = torch.from_numpy(x).to(device).contiguous(memory_format=torch.channels_last)
            return net(t).float().cpu().numpy()

    return run


def onnxruntime_runner(model: Path, threads: int) -> Runner:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"x": x})[0]


def openvino_runner(model: Path, threads: int) -> Runner:
    """Throughput mode: OpenVINO splits the threads into streams and one batch is split across them."""
    import openvino as ov

    core = ov.Core()
    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": "f32"}
    compiled = core.compile_model(core.read_model(str(model)), "CPU", config)
    streams = max(1, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
    queue = ov.AsyncInferQueue(compiled, streams)

    def run(x: np.ndarray) -> np.ndarray:
        parts: dict[int, np.ndarray] = {}
        queue.set_callback(lambda request, i: parts.__setitem__(i, request.get_output_tensor(0).data.copy()))
        for i, chunk in enumerate(np.array_split(x, min(streams, len(x)))):
            queue.start_async({0: np.ascontiguousarray(chunk)}, i)
        queue.wait_all()
        return np.concatenate([parts[i] for i in sorted(parts)])

    return run


def make_runner(name: str, device: torch.device) -> Runner:
    if name not in RUNTIMES:
        raise BenchError(f"unknown FID runtime {name!r}; choose from auto, {', '.join(RUNTIMES)}")
    if name not in installed():
        raise BenchError(f"FID runtime {name!r} is not installed (pip install -e '.[fid-fast]')")
    if name != "torch" and device.type != "cpu":
        raise BenchError(f"FID runtime {name!r} runs on the CPU only; on {device} use torch")
    if name == "torch":
        return torch_runner(device)
    factory = onnxruntime_runner if name == "onnxruntime" else openvino_runner
    return factory(onnx_path(), torch.get_num_threads())


def choice_path() -> Path:
    """The saved measurement for this machine, thread count and runtime versions."""
    key = {"host": socket.gethostname(), "cpu": cpu_model(), "threads": torch.get_num_threads(), **versions()}
    return runtime_dir() / f"choice-{hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]}.json"


def choose(device: torch.device, batch_size: int, log: Callable[[str], None]) -> tuple[str, dict]:
    """(fastest accurate runtime, its measurement): from the saved choice, else measured now and saved."""
    if device.type != "cpu" or installed() == ["torch"]:
        return "torch", {}
    path = choice_path()
    try:
        saved = json.loads(path.read_text())
        if saved["runtime"] in installed():
            return saved["runtime"], saved
    except (OSError, ValueError, KeyError, TypeError):
        pass
    log(f"fid: measuring the FID runtimes on this machine ({', '.join(installed())}), once")
    measured = measure(installed(), device, batch_size)
    accurate = {r: m for r, m in measured.items() if m.get("max_rel_diff", math.inf) <= TOLERANCE}
    if not accurate:  # even the PyTorch path off by more than TOLERANCE: say so, keep the shipped network's path
        log(f"fid: no runtime within {TOLERANCE:g} of the TorchScript network here ({measured}); using torch")
    best = max(accurate, key=lambda r: accurate[r]["images_per_s"]) if accurate else "torch"
    saved = {"runtime": best, "host": socket.gethostname(), "measured": measured, "tolerance": TOLERANCE}
    write_cache_json(path, saved)
    return best, saved


def calibration_input(n: int = CALIBRATION_IMAGES, size: int = 32) -> np.ndarray:
    """Fixed random 32x32 RGB images as network input (upsampled, as every small-image FID here)."""
    images = np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    return inception.to_network_input(images, torch.device("cpu")).contiguous().numpy()


def measure(names: list[str], device: torch.device, batch_size: int, rounds: int = 2) -> dict:
    """images/s (best of `rounds`, after a warm-up call) and max relative feature difference per runtime,
    on `CALIBRATION_IMAGES` images (about 25 s on 2 cores for all three)."""
    x, batch_size = calibration_input(), min(batch_size, CALIBRATION_IMAGES)
    with torch.inference_mode():
        ref = inception.load_scripted()(torch.from_numpy(x)).reshape(len(x), -1).numpy()
    out = {}
    for name in names:
        try:
            out[name] = timed_runner(make_runner(name, device), x, batch_size, ref, rounds)
        except Exception as e:  # noqa: BLE001 - an export or a runtime that fails here is left out, with why
            out[name] = {"images_per_s": 0.0, "max_rel_diff": math.inf, "error": f"{type(e).__name__}: {e}"[:300]}
    return out


def timed_runner(run: Runner, x: np.ndarray, batch_size: int, ref: np.ndarray, rounds: int) -> dict:
    feats = run(x[:batch_size])
    best = 0.0
    for _ in range(rounds):
        t0 = time.perf_counter()
        feats = np.concatenate([run(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
        best = max(best, len(x) / (time.perf_counter() - t0))
    diff = float(np.abs(feats.reshape(len(x), -1) - ref).max()) / float(np.abs(ref).max())
    return {"images_per_s": best, "max_rel_diff": diff}
