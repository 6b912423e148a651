"""The FID/KID evaluator's child process: reads a request, extracts Inception features, scores FID and KID.

    python -m bench.fid.child request.json

The request and result formats and the torch-free client that starts this process are in
`bench.fid.evaluator`. torch is imported here only inside `evaluate`.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.errors import BenchError
from bench.fid import cache
from bench.fid.evaluator import DEFAULTS, forced_runtime, parse_request
from bench.fid.frechet import fid_from_features, kid
from bench.fid.images import load_image_set
from bench.files import temp_name


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
    from bench.fid.extractor import FeatureExtractor
    from bench.fid.inception import RESIZE_METHOD

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
    forced = forced_runtime()
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
        print("usage: python -m bench.fid.child REQUEST.json", file=sys.stderr)
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
