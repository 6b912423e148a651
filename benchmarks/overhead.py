"""Harness overhead: the harness's steady-state images/s next to a bare hand-written loop, same model.

    python benchmarks/overhead.py [--variants dcgan] [--frameworks torch,tf] [--steps 30] [--rounds 5]

Each framework runs in its own subprocess. Inside it, the same G and D (built from the spec, same
initial weights) are trained alternately by the harness (`bench.loop.train_loop` with its numpy
input stream, per-interval fetch of losses and gradient norms) and by a bare loop written the way a
user would write it (data and noise drawn on the device by the framework, nothing fetched until the
end). Rounds alternate so that machine drift hits both equally; medians over rounds are compared.
Overhead = 1 - harness / bare; the target is at most 3%.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def synthetic_images(arch, n: int = 2048) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, *arch.image_shape), dtype=np.uint8)


def bare_torch(tr, images: np.ndarray, labels: np.ndarray, batch: int, steps: int):
    """A plain PyTorch loop over the trainer's models and optimisers; returns images/s."""
    import torch
    import torch.nn.functional as F

    from impls_torch.losses import d_loss, g_loss
    from impls_torch.train import gradient_penalty

    v, arch, dev = tr.variant, tr.arch, tr.dev
    lo, hi = arch.data_range
    x_all = (torch.from_numpy(images).to(dev).permute(0, 3, 1, 2).float() * ((hi - lo) / 255) + lo).contiguous()
    y_all = torch.from_numpy(labels).to(dev)

    def noise(n):
        z = (
            torch.rand(n, arch.z_dim, device=dev) * 2 - 1
            if arch.noise == "uniform"
            else torch.randn(n, arch.z_dim, device=dev)
        )
        g = torch.randint(0, 10, (n,), device=dev)
        return (torch.cat([z, F.one_hot(g, 10).float()], 1) if v.g_conditional else z), g

    def step():
        for _ in range(v.n_critic):
            idx = torch.randint(0, len(x_all), (batch,), device=dev)
            x, y = x_all[idx], y_all[idx]
            zin, g = noise(batch)
            with torch.no_grad():
                fake = tr.G(zin)
            loss = d_loss(v.objective, tr.D(x), tr.D(fake), y, torch.ones(batch, device=dev), g)
            if tr.facts["gp"]:
                loss = loss + 10.0 * gradient_penalty(tr.D, x, fake, torch.rand(batch, device=dev))
            tr.opt_d.zero_grad(set_to_none=True)
            loss.backward()
            tr.opt_d.step()
            if tr.facts["clip"]:
                with torch.no_grad():
                    for p in tr.D.parameters():
                        p.clamp_(-0.01, 0.01)
        zin, g = noise(batch)
        tr.D.requires_grad_(False)
        lg = g_loss(v.objective, tr.D(tr.G(zin)), g)
        tr.opt_g.zero_grad(set_to_none=True)
        lg.backward()
        tr.D.requires_grad_(True)
        tr.opt_g.step()

    tr.sync()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    tr.sync()
    return batch * steps / (time.perf_counter() - t)


def bare_tf(tr, images: np.ndarray, labels: np.ndarray, batch: int, steps: int):
    """A plain tf.function step over the trainer's models and optimisers; returns images/s."""
    import tensorflow as tf

    from impls_tf.losses import d_loss, g_loss
    from impls_tf.train import gradient_penalty

    v, arch = tr.variant, tr.arch
    lo, hi = arch.data_range
    with tf.device(tr.dev):
        x_all = tf.constant(images.astype(np.float32) * ((hi - lo) / 255) + lo)
        y_all = tf.constant(labels)

    def noise(n):
        shape = (n, arch.z_dim)
        z = tf.random.uniform(shape, -1, 1) if arch.noise == "uniform" else tf.random.normal(shape)
        g = tf.random.uniform((n,), 0, 10, dtype=tf.int64)
        return (tf.concat([z, tf.one_hot(g, 10)], 1) if v.g_conditional else z), g

    @tf.function(jit_compile=tr.mode == "xla")
    def step():
        for _ in range(v.n_critic):
            idx = tf.random.uniform((batch,), 0, len(images), dtype=tf.int64)
            x, y = tf.gather(x_all, idx), tf.gather(y_all, idx)
            zin, g = noise(batch)
            fake = tr.G(zin, training=True)
            with tf.GradientTape() as tape:
                loss = d_loss(v.objective, tr.D(x, training=True), tr.D(fake, training=True), y, tf.ones(batch), g)
                if tr.facts["gp"]:
                    loss = loss + 10.0 * gradient_penalty(tr.D, x, fake, tf.random.uniform((batch,)))
            tr.opt_d.apply(tape.gradient(loss, tr.D.trainable_variables))
            if tr.facts["clip"]:
                for w in tr.D.trainable_variables:
                    w.assign(tf.clip_by_value(w, -0.01, 0.01))
        zin, g = noise(batch)
        with tf.GradientTape() as tape:
            lg = g_loss(v.objective, tr.D(tr.G(zin, training=True), training=True), g)
        tr.opt_g.apply(tape.gradient(lg, tr.G.trainable_variables))
        return lg

    with tf.device(tr.dev):
        step()  # trace outside the timing, as the harness's warm-up does
        t = time.perf_counter()
        for _ in range(steps):
            out = step()
        out.numpy()
    return batch * steps / (time.perf_counter() - t)


def worker(framework: str, variant: str, steps: int, rounds: int, device: str) -> dict:
    from bench.inputs import InputStream, rngs
    from bench.loop import train_loop
    from bench.variants import get_variant, variant_arch
    from bench.weights import init_weights

    runtime = __import__(f"impls_{framework}.runtime", fromlist=["x"])
    train = __import__(f"impls_{framework}.train", fromlist=["x"])
    runtime.configure(0, False, 0)
    v = get_variant(variant)
    arch = variant_arch(v)
    tr = train.Trainer(v, arch, init_weights(arch, rngs(0)["init"]), device)
    images = synthetic_images(arch)
    labels = np.arange(len(images), dtype=np.int64) % 10
    stream = InputStream(images, labels, arch, v, v.batch_size, 0)
    bare = bare_torch if framework == "torch" else bare_tf
    train_loop(tr, stream, steps=1, warmup=2, intervals=1)
    bare(tr, images, labels, v.batch_size, 2)
    harness_ips, bare_ips = [], []
    for _ in range(rounds):
        res = train_loop(tr, stream, steps=steps, warmup=0, intervals=max(1, steps // 10))
        harness_ips.append(v.batch_size * steps / res.timed_s)
        bare_ips.append(bare(tr, images, labels, v.batch_size, steps))
    h, b = float(np.median(harness_ips)), float(np.median(bare_ips))
    return {"framework": framework, "variant": variant, "harness": h, "bare": b, "overhead": 1 - h / b,
            "harness_rounds": harness_ips, "bare_rounds": bare_ips}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default="dcgan")
    ap.add_argument("--frameworks", default="torch,tf")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker, a.variants, a.steps, a.rounds, a.device)))
        return 0
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "" if a.device == "cpu" else a.device}
    print(f"{'variant':<12} {'framework':<9} {'harness img/s':>14} {'bare img/s':>11} {'overhead':>9}")
    worst = 0.0
    for variant in a.variants.split(","):
        for fw in a.frameworks.split(","):
            cmd = [sys.executable, __file__, "--worker", fw, "--variants", variant, "--steps", str(a.steps),
                   "--rounds", str(a.rounds), "--device", a.device]  # fmt: skip
            p = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if p.returncode != 0:
                print(f"{variant:<12} {fw:<9} failed: {p.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(p.stdout.strip().splitlines()[-1])
            worst = max(worst, r["overhead"])
            print(f"{variant:<12} {fw:<9} {r['harness']:>14.1f} {r['bare']:>11.1f} {r['overhead']:>8.1%}")
    print(f"worst overhead {worst:.1%} (target <= 3%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
