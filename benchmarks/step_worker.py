"""Times single training steps of one variant in one framework, in its own process; prints JSON.

    python benchmarks/step_worker.py --framework torch --variant gan [--batch 16] [--rounds 10]
        [--warmup 2] [--threads 0] [--device cpu] [--mode ""] [--fid-features]

The pytest-benchmark regression checks (benchmarks/test_step_speed.py) run this once per variant ×
framework. It builds the trainer exactly as a run does (spec, canonical weights, default mode), feeds
it harness inputs drawn from synthetic uint8 images BEFORE the timing starts (the benchmark tracks
the training step, not the dataset or numpy), runs `--warmup` untimed steps (the first traces or
compiles), then times `--rounds` steps one by one: perf_counter around `train_step` and the `fetch`
of its losses, which waits for the device. Output: {"seconds": [...], ...}. `--fid-features`
times the FID evaluator's feature extraction of one batch instead.

`BENCH_INJECT_SLEEP_MS` adds that many milliseconds of sleep to every timed step. It exists only
here, to demonstrate that the regression check fails on a slower step; no production code reads it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.frameworks import FRAMEWORKS  # noqa: E402
from bench.frameworks import mode as mode_of  # noqa: E402
from bench.inputs import InputStream, framework_seed, rngs  # noqa: E402
from bench.spec import RunSpec  # noqa: E402
from bench.variants import get_variant, variant_arch  # noqa: E402
from bench.weights import init_weights  # noqa: E402
from bench.worker import set_environment  # noqa: E402

SYNTHETIC_IMAGES = 512


def time_steps(a: argparse.Namespace) -> list[float]:
    set_environment(RunSpec(a.variant, a.framework, threads=a.threads, device=a.device))
    runtime = importlib.import_module(f"impls_{a.framework}.runtime")
    train = importlib.import_module(f"impls_{a.framework}.train")
    runtime.configure(a.threads, False, framework_seed(0))
    v = get_variant(a.variant)
    arch = variant_arch(v)
    mode = mode_of(a.framework, a.mode)
    trainer = train.Trainer(v, arch, init_weights(arch, rngs(0)["init"]), a.device, mode, True, framework_seed(0))
    n = max(SYNTHETIC_IMAGES, a.batch * v.n_critic)
    images = np.random.default_rng(0).integers(0, 256, (n, *arch.image_shape), dtype=np.uint8)
    stream = InputStream(images, np.arange(n, dtype=np.int64) % 10, arch, v, a.batch, 0)
    inputs = [stream.next() for _ in range(a.warmup + a.rounds)]
    for inp in inputs[: a.warmup]:
        trainer.fetch([trainer.train_step(inp)])
    inject = float(os.environ.get("BENCH_INJECT_SLEEP_MS", "0")) / 1000.0
    seconds = []
    for inp in inputs[a.warmup :]:
        start = time.perf_counter()
        trainer.fetch([trainer.train_step(inp)])
        if inject > 0:
            time.sleep(inject)  # demonstration only: a deliberately slower step
        seconds.append(time.perf_counter() - start)
    return seconds


def time_features(a: argparse.Namespace) -> list[float]:
    """FID evaluator's feature extraction (bench/fid/inception.py) of one `--batch` of MNIST-sized
    uint8 images per round: resize to 299, Inception-v3 pool3; exit code 3 when it is unavailable."""
    set_environment(RunSpec("fid", "torch", threads=a.threads, device=a.device))
    try:
        from bench.fid.extractor import FeatureExtractor

        extract = FeatureExtractor(device=a.device, batch_size=a.batch)
    except Exception as e:  # module or weights absent here: the benchmark is skipped, not failed
        print(f"feature extractor unavailable: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(3)
    images = np.random.default_rng(0).integers(0, 256, (a.batch, 28, 28, 1), dtype=np.uint8)
    for _ in range(a.warmup):
        extract(images)
    inject = float(os.environ.get("BENCH_INJECT_SLEEP_MS", "0")) / 1000.0
    seconds = []
    for _ in range(a.rounds):
        start = time.perf_counter()
        extract(images)
        if inject > 0:
            time.sleep(inject)  # demonstration only
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--framework", default="torch", choices=FRAMEWORKS)
    ap.add_argument("--variant", default="gan")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--mode", default="")
    ap.add_argument("--fid-features", action="store_true", help="time the FID feature extraction instead")
    a = ap.parse_args()
    seconds = time_features(a) if a.fid_features else time_steps(a)
    print(json.dumps({"variant": a.variant, "framework": a.framework, "batch": a.batch, "seconds": seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
