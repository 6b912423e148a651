"""One GAN training step in TensorFlow, compiled with `tf.function`, fed with the harness's arrays.

A step is n_critic D updates (fresh real batch and noise each, unrolled in the graph), then one G
update against the just-updated D. Losses come back as tensors and are fetched in bulk at interval
edges. Modes: `function` (tf.function, the default), `xla` (tf.function with jit_compile=True),
`eager` (no tf.function).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from bench.inputs import StepInputs
from bench.spec import Arch, Variant
from bench.variants import objective_facts
from impls_tf import runtime
from impls_tf.losses import d_loss, g_loss
from impls_tf.models import build_models, export_weights, load_weights
from impls_tf.optim import make_optimizer, optimizer_state

METRICS = ("loss_d", "loss_g", "grad_norm_d", "grad_norm_g")
MODES = ("function", "xla", "eager")


class Trainer:
    def __init__(
        self,
        variant: Variant,
        arch: Arch,
        weights: dict[str, np.ndarray],
        device: str = "cpu",
        mode: str = "function",
        dropout: bool = True,
        seed: int = 0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"TensorFlow mode {mode!r} is not supported (supported: {', '.join(MODES)})")
        self.variant, self.arch, self.mode = variant, arch, mode
        self.device = device
        self.dev = runtime.device_name(device)
        self.facts = objective_facts(variant.objective)
        with tf.device(self.dev):
            self.G, self.D = build_models(arch, dropout, seed)
            load_weights(self.G, self.D, arch, weights)
            self.opt_g = make_optimizer(variant.optimizer, self.G.trainable_variables)
            self.opt_d = make_optimizer(variant.optimizer, self.D.trainable_variables)
        step = self._train_step
        self._step = step if mode == "eager" else tf.function(step, jit_compile=(mode == "xla"))

    def _g_input(self, z: tf.Tensor, g: tf.Tensor) -> tf.Tensor:
        if self.variant.g_conditional:
            return tf.concat([z, tf.one_hot(g, 10, dtype=z.dtype)], 1)
        return z

    # -- the step -------------------------------------------------------------------------------
    def train_step(self, inp: StepInputs) -> dict[str, tf.Tensor]:
        with tf.device(self.dev):
            return self._step(inp.x, inp.y, inp.mask, inp.z_d, inp.g_d, inp.eps, inp.z_g, inp.g_g)

    def _train_step(self, x, y, mask, z_d, g_d, eps, z_g, g_g) -> dict[str, tf.Tensor]:
        losses_d, norms_d = [], []
        for i in range(self.variant.n_critic):  # unrolled: n_critic is a Python int
            loss, norm = self.d_update(x[i], y[i], mask[i], z_d[i], g_d[i], eps[i])
            losses_d.append(loss)
            norms_d.append(norm)
        loss_g, norm_g = self.g_update(z_g, g_g)
        return {
            "loss_d": tf.reduce_mean(tf.stack(losses_d)),
            "loss_g": loss_g,
            "grad_norm_d": tf.reduce_mean(tf.stack(norms_d)),
            "grad_norm_g": norm_g,
        }

    def d_loss_value(self, x, y, mask, z, g, eps) -> tf.Tensor:
        """D's full loss (gradient penalty included) on one batch; record it under a tape."""
        fake = tf.stop_gradient(self.G(self._g_input(z, g), training=True))
        d_real, d_fake = self.D(x, training=True), self.D(fake, training=True)
        loss = d_loss(self.variant.objective, d_real, d_fake, y, mask, g)
        if self.facts["gp"]:
            loss = loss + self.facts["gp_lambda"] * gradient_penalty(self.D, x, fake, eps)
        return loss

    def d_update(self, x, y, mask, z, g, eps) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            loss = self.d_loss_value(x, y, mask, z, g, eps)
        grads = tape.gradient(loss, self.D.trainable_variables)
        norm = tf.linalg.global_norm(grads)
        self.opt_d.apply(grads)
        clip = float(self.facts["clip"])
        if clip > 0:
            for v in self.D.trainable_variables:
                v.assign(tf.clip_by_value(v, -clip, clip))
        return loss, norm

    def g_loss_value(self, z, g) -> tf.Tensor:
        return g_loss(self.variant.objective, self.D(self.G(self._g_input(z, g), training=True)), g)

    def g_update(self, z, g) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            loss = self.g_loss_value(z, g)
        grads = tape.gradient(loss, self.G.trainable_variables)
        norm = tf.linalg.global_norm(grads)
        self.opt_g.apply(grads)
        return loss, norm

    # -- results --------------------------------------------------------------------------------
    def fetch(self, outs: list[dict[str, tf.Tensor]]) -> list[dict[str, float]]:
        """Bring a list of step outputs to the host (one transfer per metric)."""
        if not outs:
            return []
        cols = {k: tf.stack([o[k] for o in outs]).numpy().astype(np.float64).tolist() for k in METRICS}
        return [{k: cols[k][i] for k in METRICS} for i in range(len(outs))]

    def sync(self) -> None:
        runtime.sync(self.device)

    def generate(self, z: np.ndarray, labels: np.ndarray, batch: int = 256) -> np.ndarray:
        """G's images (N, H, W, C) in inference mode (BN moving statistics)."""
        with tf.device(self.dev):
            out = [
                self.G(self._g_input(tf.constant(z[i : i + batch]), tf.constant(labels[i : i + batch])), False)
                for i in range(0, len(z), batch)
            ]
        return tf.concat(out, 0).numpy()

    def d_logits(self, x: np.ndarray, batch: int = 500) -> np.ndarray:
        """D's logits in inference mode, for classification accuracy (ssgan)."""
        with tf.device(self.dev):
            out = [self.D(tf.constant(x[i : i + batch]), training=False) for i in range(0, len(x), batch)]
        return tf.concat(out, 0).numpy()

    def export_weights(self) -> dict[str, np.ndarray]:
        return export_weights(self.G, self.D, self.arch)

    def optimizer_state(self) -> dict[str, np.ndarray]:
        names = {id(v): f"G.{k}" for k, v in self.G.named_variables().items()}
        names.update({id(v): f"D.{k}" for k, v in self.D.named_variables().items()})
        return {**optimizer_state(self.opt_g, names), **optimizer_state(self.opt_d, names)}


def gradient_penalty(D, x: tf.Tensor, fake: tf.Tensor, eps: tf.Tensor) -> tf.Tensor:
    """mean((||grad_xhat D(xhat)||_2 - 1)^2), xhat = eps x + (1 - eps) G(z), per sample."""
    e = tf.reshape(eps, (-1, 1, 1, 1))
    xhat = e * x + (1.0 - e) * fake
    with tf.GradientTape() as inner:
        inner.watch(xhat)
        out = D(xhat, training=True)
    grad = inner.gradient(out, xhat)
    norm = tf.sqrt(tf.reduce_sum(tf.square(grad), axis=[1, 2, 3]))
    return tf.reduce_mean((norm - 1.0) ** 2)
