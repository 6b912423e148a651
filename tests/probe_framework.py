"""Run inside ONE framework's process and dump what the tests compare: `python probe_framework.py FW OUT.npz`.

Keys written: `{variant}/w/{name}` exported initial weights, `{variant}/g_out`, `{variant}/d_out`,
`loss/{objective}/d|g`, `gp/value`, `wgan/critic_calls`, `wgan/max_abs_after_update`.
"""

from __future__ import annotations

import os
import sys

import numpy as np

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.inputs import InputStream, fixed_noise, rngs  # noqa: E402
from bench.variants import OBJECTIVES, VARIANTS, variant_arch  # noqa: E402
from bench.weights import init_weights  # noqa: E402
from tests.loss_fixtures import fixed_logits  # noqa: E402


def main(fw: str, out: str) -> None:
    if fw == "torch":
        import torch

        from impls_torch import losses, train

        to_t = torch.from_numpy
        to_np = lambda t: t.detach().numpy()  # noqa: E731
    elif fw == "tf":
        import tensorflow as tf

        from impls_tf import losses, train

        to_t = tf.constant
        to_np = lambda t: t.numpy()  # noqa: E731
    else:
        import jax.numpy as jnp

        from impls_jax import losses, train

        to_t = jnp.asarray
        to_np = np.asarray
    res: dict[str, np.ndarray] = {}
    for name, v in VARIANTS.items():
        arch = variant_arch(v)
        tr = train.Trainer(v, arch, init_weights(arch, rngs(0)["init"]), dropout=False)
        for k, a in tr.export_weights().items():
            res[f"{name}/w/{k}"] = a
        z, labels = fixed_noise(0, arch, 8, v.g_conditional)
        res[f"{name}/g_out"] = tr.generate(z, labels)
        res[f"{name}/d_out"] = tr.d_logits(res[f"{name}/g_out"])
    for obj in OBJECTIVES:
        lg = fixed_logits(obj)
        args = {k: to_t(a) for k, a in lg.items()}
        res[f"loss/{obj}/d"] = to_np(losses.d_loss(obj, args["real"], args["fake"], args["y"], args["mask"], args["g"]))
        res[f"loss/{obj}/g"] = to_np(losses.g_loss(obj, args["fake"], args["g"]))
    res["gp/value"] = gp_linear(fw, train, to_t, to_np)
    res.update(wgan_step(train))
    np.savez(out, **res)


def gp_linear(fw: str, train, to_t, to_np) -> np.ndarray:
    """Penalty of a linear critic f(x) = <w, x>: its input gradient is w for every x."""
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.05, (28 * 28,)).astype(np.float32)
    x, fake = (rng.normal(size=(4, 28, 28, 1)).astype(np.float32) for _ in range(2))
    eps = rng.uniform(size=4).astype(np.float32)
    wt = to_t(w)
    if fw == "torch":
        critic = lambda a: (a.flatten(1) @ wt)[:, None]  # noqa: E731
        xs = [to_t(a).permute(0, 3, 1, 2) for a in (x, fake)]
    elif fw == "tf":
        import tensorflow as tf

        critic = lambda a, training=True: tf.reshape(a, (a.shape[0], -1)) @ wt[:, None]  # noqa: E731
        xs = [to_t(a) for a in (x, fake)]
    else:  # JAX's critic returns (outputs, what its forward changed), and so does the penalty
        critic = lambda a: ((a.reshape(a.shape[0], -1) @ wt)[:, None], None)  # noqa: E731
        value, _ = train.gradient_penalty(critic, to_t(x), to_t(fake), to_t(eps))
        return np.asarray(to_np(value))
    return np.asarray(to_np(train.gradient_penalty(critic, xs[0], xs[1], to_t(eps))))


def wgan_step(train) -> dict[str, np.ndarray]:
    """Count D updates in one wgan step and record max |param| of D after each of them."""
    v = VARIANTS["wgan"]
    arch = variant_arch(v)
    tr = train.Trainer(v, arch, init_weights(arch, rngs(0)["init"]), mode="eager")
    calls, maxima = [], []
    original = tr.d_update

    def counted(*a):
        out = original(*a)
        calls.append(1)
        maxima.append(max(float(np.abs(p).max()) for k, p in tr.export_weights().items() if k.startswith("D.")))
        return out

    tr.d_update = counted
    images = np.random.default_rng(1).integers(0, 256, (200, 28, 28, 1), dtype=np.uint8)
    stream = InputStream(images, np.zeros(200, np.int64), arch, v, 16, 0)
    for _ in range(2):
        tr.train_step(stream.next())
    return {"wgan/critic_calls": np.array(len(calls)), "wgan/max_abs_after_update": np.array(maxima)}


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
