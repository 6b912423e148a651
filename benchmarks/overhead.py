"""Harness overhead: the harness's steady-state images/s next to a bare hand-written loop, same model.

    python benchmarks/overhead.py [--variants dcgan|all] [--frameworks torch,tf,jax] [--modes compile,xla]
        [--steps 30] [--rounds 6] [--max-rounds 40] [--ci 0.01] [--target 0.01] [--batch-size N]
        [--threads N] [--device cpu]

Each variant × framework × mode runs in its own subprocess. Inside it, the same G and D (built from
the spec, same initial weights, same execution mode) are trained alternately by the harness
(`bench.loop.train_loop` with its numpy input stream, per-interval fetch of losses and gradient
norms) and by a bare loop written the way a user would write it (data and noise drawn on the device
by the framework, nothing fetched until the end; compiled the same way: torch.compile, tf.function,
XLA, jax.jit; traced or compiled once, before the timing). Rounds alternate in ABBA order so that machine
drift hits both equally. Overhead = median over rounds of 1 - harness / bare (each harness round
against the bare round next to it), by wall time, with a distribution-free 95% interval for that
median (order statistics); rounds are added in pairs until the interval is within +-`--ci` (1%) or
`--max-rounds` is reached, and each line says whether the median meets `--target` (1%) or the
interval could not be narrowed on this machine. `cpu ovh` is the same ratio
by the process's CPU time: with `--threads 1` it measures the extra work and stays meaningful on a
busy shared machine, where wall times swing by more than the overhead. `inputs` is the median time
the harness's numpy input stream takes per step, as a share of the harness's step time: the part of
the overhead that input generation explains. The harness's trainers also compute the global gradient
norms of D and G every update (recorded for the stability statistics); `--bare-norms` makes the bare
loop compute them too, which leaves the cost of the loop itself (inputs, transfers, fetches).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def synthetic_images(arch, n: int = 2048) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, *arch.image_shape), dtype=np.uint8)


class Clock:
    """Wall time, and this process's CPU time (all threads): on a shared, busy machine the CPU time
    of a 1-thread run still says how much work each loop does, when wall times swing."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def rates(self, images: int) -> tuple[float, float]:
        """images/s by wall time and by CPU time since construction."""
        return images / (time.perf_counter() - self.wall), images / (time.process_time() - self.cpu)


def bare_torch(tr, images: np.ndarray, labels: np.ndarray, batch: int, norms: bool) -> Callable:
    """A plain PyTorch loop over the trainer's models and optimisers (the step compiled with
    torch.compile in `compile` mode, as a user would): run(steps) -> images/s by wall and CPU time.
    `norms`: also compute the gradient norms the harness records, as the trainer computes them."""
    import torch
    import torch.nn.functional as F

    from impls_torch.losses import d_loss, g_loss
    from impls_torch.train import grad_norm

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
            if tr.objective.gp:
                loss = loss + tr.objective.gp_lambda * tr.penalty_fn(tr.D, x, fake, torch.rand(batch, device=dev))
            tr.opt_d.zero_grad(set_to_none=True)
            loss.backward()
            if norms:
                grad_norm(tr.D.parameters())
            tr.opt_d.step()
            if tr.objective.clip:
                with torch.no_grad():
                    for p in tr.D.parameters():
                        p.clamp_(-tr.objective.clip, tr.objective.clip)
        zin, g = noise(batch)
        tr.D.requires_grad_(False)
        lg = g_loss(v.objective, tr.D(tr.G(zin)), g)
        tr.opt_g.zero_grad(set_to_none=True)
        lg.backward()
        tr.D.requires_grad_(True)
        if norms:
            grad_norm(tr.G.parameters())
        tr.opt_g.step()

    if tr.mode == "compile":
        step = torch.compile(step)

    def run(steps: int) -> tuple[float, float]:
        tr.sync()
        clock = Clock()
        for _ in range(steps):
            step()
        tr.sync()
        return clock.rates(batch * steps)

    return run


def bare_tf(tr, images: np.ndarray, labels: np.ndarray, batch: int, norms: bool) -> Callable:
    """A plain TF step over the trainer's models and optimisers, in the trainer's mode (tf.function,
    XLA, or eager): run(steps) -> images/s by wall and CPU time. `norms`: also compute (and return,
    so that graph pruning keeps them) the gradient norms the harness records."""
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

    def step():
        kept = []
        for _ in range(v.n_critic):
            idx = tf.random.uniform((batch,), 0, len(images), dtype=tf.int64)
            x, y = tf.gather(x_all, idx), tf.gather(y_all, idx)
            zin, g = noise(batch)
            fake = tr.G(zin, training=True)
            with tf.GradientTape() as tape:
                loss = d_loss(v.objective, tr.D(x, training=True), tr.D(fake, training=True), y, tf.ones(batch), g)
                if tr.objective.gp:
                    loss = loss + tr.objective.gp_lambda * gradient_penalty(tr.D, x, fake, tf.random.uniform((batch,)))
            grads = tape.gradient(loss, tr.D.trainable_variables)
            kept.extend([tf.linalg.global_norm(grads)] if norms else [])
            tr.opt_d.apply(grads)
            if tr.objective.clip:
                for w in tr.D.trainable_variables:
                    w.assign(tf.clip_by_value(w, -tr.objective.clip, tr.objective.clip))
        zin, g = noise(batch)
        with tf.GradientTape() as tape:
            lg = g_loss(v.objective, tr.D(tr.G(zin, training=True), training=True), g)
        grads = tape.gradient(lg, tr.G.trainable_variables)
        kept.extend([tf.linalg.global_norm(grads)] if norms else [])
        tr.opt_g.apply(grads)
        return lg, kept

    if tr.mode != "eager":
        step = tf.function(step, jit_compile=tr.mode == "xla")

    def run(steps: int) -> tuple[float, float]:
        with tf.device(tr.dev):
            clock = Clock()
            for _ in range(steps):
                out, _ = step()
            out.numpy()
        return clock.rates(batch * steps)

    return run


def bare_jax(tr, images: np.ndarray, labels: np.ndarray, batch: int, norms: bool) -> Callable:
    """A plain JAX step over the trainer's Flax modules and Optax optimisers, written as a user would:
    parameters and statistics threaded by hand, data and noise drawn with jax.random inside the step,
    the whole step in one jax.jit (op by op in `eager` mode)."""
    import jax
    import jax.numpy as jnp
    import optax

    from impls_jax.losses import d_loss, g_loss
    from impls_jax.train import gradient_penalty

    v, arch, obj, tx_g, tx_d = tr.variant, tr.arch, tr.objective, tr.tx["G"], tr.tx["D"]
    lo, hi = arch.data_range
    x_all = jax.device_put(images.astype(np.float32) * ((hi - lo) / 255) + lo, tr.dev)
    y_all = jax.device_put(labels.astype(np.int32), tr.dev)

    def apply(net, params, stats, x, key):
        y, new = net.module.apply({"params": params, "batch_stats": stats}, x, True, key, mutable=["batch_stats"])
        return y, dict(new.get("batch_stats", {}))

    def noise(key, n):
        kz, kg = jax.random.split(key)
        shape = (n, arch.z_dim)
        z = (
            jax.random.uniform(kz, shape, minval=-1, maxval=1)
            if arch.noise == "uniform"
            else jax.random.normal(kz, shape)
        )
        g = jax.random.randint(kg, (n,), 0, 10)
        return (jnp.concatenate([z, jax.nn.one_hot(g, 10)], 1) if v.g_conditional else z), g

    def d_update(state, key):
        gp, gs, dp, ds, og, od = state
        k = jax.random.split(key, 6)
        idx = jax.random.randint(k[0], (batch,), 0, len(images))
        x, y = x_all[idx], y_all[idx]
        zin, g = noise(k[1], batch)
        fake, gs = apply(tr.G, gp, gs, zin, k[2])
        fake = jax.lax.stop_gradient(fake)

        def loss_fn(p):
            real_out, s = apply(tr.D, p, ds, x, k[3])
            fake_out, s = apply(tr.D, p, s, fake, k[4])
            loss = d_loss(v.objective, real_out, fake_out, y, jnp.ones(batch), g)
            if obj.gp:
                pen, s = gradient_penalty(
                    lambda xh: apply(tr.D, p, s, xh, k[5]), x, fake, jax.random.uniform(k[5], (batch,))
                )
                loss = loss + obj.gp_lambda * pen
            return loss, s

        (loss, ds), grads = jax.value_and_grad(loss_fn, has_aux=True)(dp)
        upd, od = tx_d.update(grads, od, dp)
        dp = optax.apply_updates(dp, upd)
        if obj.clip:
            dp = jax.tree_util.tree_map(lambda a: jnp.clip(a, -obj.clip, obj.clip), dp)
        return (gp, gs, dp, ds, og, od), [loss, *([optax.global_norm(grads)] if norms else [])]

    def step(state, key):
        keys = jax.random.split(key, v.n_critic + 3)
        kept = []
        for i in range(v.n_critic):
            state, out = d_update(state, keys[i])
            kept += out
        gp, gs, dp, ds, og, od = state
        zin, g = noise(keys[-3], batch)

        def loss_fn(p):
            fake, s = apply(tr.G, p, gs, zin, keys[-2])
            out, s_d = apply(tr.D, dp, ds, fake, keys[-1])
            return g_loss(v.objective, out, g), (s, s_d)

        (loss, (gs, ds)), grads = jax.value_and_grad(loss_fn, has_aux=True)(gp)
        upd, og = tx_g.update(grads, og, gp)
        gp = optax.apply_updates(gp, upd)
        kept += [loss, *([optax.global_norm(grads)] if norms else [])]
        return (gp, gs, dp, ds, og, od), kept[-1]

    if tr.mode == "jit":
        step = jax.jit(step)
    state = (tr.G.params, tr.G.stats, tr.D.params, tr.D.stats, tr.opt_state["G"], tr.opt_state["D"])
    box = {"state": state, "key": jax.device_put(jax.random.key(1), tr.dev)}

    def run(steps: int) -> tuple[float, float]:
        jax.block_until_ready(box["state"])
        clock = Clock()
        out = None
        for _ in range(steps):
            box["key"], sub = jax.random.split(box["key"])
            box["state"], out = step(box["state"], sub)
        jax.block_until_ready(out)
        return clock.rates(batch * steps)

    return run


def worker(a: argparse.Namespace) -> dict:
    from bench.frameworks import mode as mode_of
    from bench.inputs import InputStream, rngs
    from bench.loop import train_loop
    from bench.variants import batch_size, get_variant, variant_arch
    from bench.weights import init_weights

    framework, mode = a.worker, mode_of(a.worker, a.modes)
    runtime = __import__(f"impls_{framework}.runtime", fromlist=["x"])
    train = __import__(f"impls_{framework}.train", fromlist=["x"])
    runtime.configure(a.threads, False, 0)
    v = get_variant(a.variants)
    arch = variant_arch(v)
    batch = batch_size(a.variants, a.batch_size)
    tr = train.Trainer(v, arch, init_weights(arch, rngs(0)["init"]), a.device, mode)
    images = synthetic_images(arch, max(2048, batch * v.n_critic))
    labels = np.arange(len(images), dtype=np.int64) % 10
    stream = InputStream(images, labels, arch, v, batch, 0)
    t0 = time.perf_counter()
    train_loop(tr, stream, steps=1, warmup=2, intervals=1)
    compile_s = time.perf_counter() - t0
    bare = {"torch": bare_torch, "tf": bare_tf, "jax": bare_jax}[framework](tr, images, labels, batch, a.bare_norms)
    bare(2)  # traces/compiles once, outside the timing, as the harness's warm-up
    harness, bare_rates = [], []

    def harness_round() -> None:
        clock = Clock()
        res = train_loop(tr, stream, steps=a.steps, warmup=0, intervals=max(1, a.steps // 10))
        harness.append((batch * a.steps / res.timed_s, clock.rates(batch * a.steps)[1]))

    def paired_overheads() -> np.ndarray:  # each harness round against the bare round next to it
        return 1 - np.array(harness)[:, 0] / np.array(bare_rates)[:, 0]

    i = 0
    while i < a.rounds or (i < a.max_rounds and ci_halfwidth(paired_overheads()) > a.ci):
        for j in (i, i + 1):  # ABBA order: neither loop always runs first (caches, clock boost, drift)
            if j % 2 == 0:
                harness_round()
            bare_rates.append(bare(a.steps))
            if j % 2 == 1:
                harness_round()
        i += 2
    hr, br = np.array(harness), np.array(bare_rates)  # (rounds, [wall, cpu])
    paired = 1 - hr / br
    q25, q75 = np.percentile(paired[:, 0], [25, 75])
    low, high = median_ci(paired[:, 0])
    return {
        **{"framework": framework, "variant": a.variants, "mode": mode, "batch": batch, "rounds": len(paired)},
        **{"harness": float(np.median(hr[:, 0])), "bare": float(np.median(br[:, 0])), "first_steps_s": compile_s},
        **{"overhead": float(np.median(paired[:, 0])), "cpu_overhead": float(np.median(paired[:, 1]))},
        **{"ci_low": low, "ci_high": high, "iqr": float(q75 - q25)},
        **{"inputs_share": input_seconds(stream) * float(np.median(hr[:, 0])) / batch},
        **{"harness_rounds": hr.tolist(), "bare_rounds": br.tolist()},
    }


def median_ci(x: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Distribution-free interval for the median: order statistics j..k with binomial(n, 1/2) coverage
    of at least `level` (no normality assumed); (-inf, inf) with fewer than 6 values."""
    from scipy.stats import binom

    x, n = np.sort(np.asarray(x, dtype=float)), len(x)
    j = int(binom.ppf((1 - level) / 2, n, 0.5))  # number of values below the interval's lower end
    if j < 1 or n < 6:
        return -np.inf, np.inf
    return float(x[j - 1]), float(x[n - j])


def ci_halfwidth(x: np.ndarray) -> float:
    low, high = median_ci(x)
    return (high - low) / 2


def input_seconds(stream, n: int = 20) -> float:
    """Median seconds the harness's numpy input stream takes to produce one step's inputs."""
    times = []
    for _ in range(n):
        t = time.perf_counter()
        stream.next()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def line(r: dict, target: float) -> str:
    speeds = f"{r['batch']:>5} {r['harness']:>14.1f} {r['bare']:>11.1f}"
    ci = f"[{r['ci_low']:.1%}, {r['ci_high']:.1%}]"
    shares = f"{r['overhead']:>8.1%} {ci:>16} {r['rounds']:>6} {r['cpu_overhead']:>7.1%} {r['inputs_share']:>7.1%}"
    return f"{r['variant']:<12} {r['framework']:<9} {r['mode']:<9} {speeds} {shares}  {verdict(r, target)}"


def verdict(r: dict, target: float) -> str:
    """meets: median <= target; above: not, and its interval says so; CI wider than +-target: undecided."""
    if (r["ci_high"] - r["ci_low"]) / 2 > target:
        return f"CI not narrowed to +-{target:.0%} in {r['rounds']} rounds"
    return "meets" if r["overhead"] <= target else "above target"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default="dcgan", help="comma-separated variants, or all")
    ap.add_argument("--frameworks", default="", help="comma-separated (default: every one installed)")
    ap.add_argument("--modes", default="", help="e.g. compile,xla; each applies to the frameworks that have it")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=6, help="rounds at least (pairs of harness and bare)")
    ap.add_argument("--max-rounds", type=int, default=40, help="more rounds until the median's 95%% CI is narrow")
    ap.add_argument("--ci", type=float, default=0.01, help="wanted half-width of that CI (default 0.01: +-1%%)")
    ap.add_argument("--target", type=float, default=0.01, help="overhead target (default 1%%)")
    ap.add_argument("--batch-size", type=int, default=0, help="0: each variant's own")
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads (0: framework default)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--bare-norms", action="store_true", help="the bare loop computes the gradient norms too")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a)))
        return 0
    from bench.frameworks import FRAMEWORKS, installed
    from bench.suites import mode_applies
    from bench.variants import VARIANTS

    variants = list(VARIANTS) if a.variants == "all" else a.variants.split(",")
    a.frameworks = a.frameworks or ",".join(fw for fw in FRAMEWORKS if installed(fw))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "" if a.device == "cpu" else a.device}
    print(f"{'variant':<12} {'framework':<9} {'mode':<9} {'batch':>5} {'harness img/s':>14} {'bare img/s':>11} "
          f"{'overhead':>9} {'95% CI':>16} {'rounds':>6} {'cpu ovh':>7} {'inputs':>7}", flush=True)  # fmt: skip
    worst = -1.0
    for variant in variants:
        for fw in a.frameworks.split(","):
            for mode in a.modes.split(","):
                if not mode_applies(mode, fw):
                    continue
                cmd = [sys.executable, __file__, "--worker", fw, "--variants", variant, "--modes", mode,
                       "--steps", str(a.steps), "--rounds", str(a.rounds), "--batch-size", str(a.batch_size),
                       "--max-rounds", str(a.max_rounds), "--ci", str(a.ci),
                       "--threads", str(a.threads), "--device", a.device,
                       *(["--bare-norms"] if a.bare_norms else [])]  # fmt: skip
                p = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if p.returncode != 0:
                    print(f"{variant:<12} {fw:<9} {mode:<9} failed: {p.stderr.strip().splitlines()[-1:]}", flush=True)
                    continue
                r = json.loads(p.stdout.strip().splitlines()[-1])
                worst = max(worst, r["overhead"])
                print(line(r, a.target), flush=True)
    print(f"worst overhead {worst:.1%} (target <= {a.target:.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
