"""One GAN training step in TensorFlow, compiled with `tf.function`, fed with the harness's arrays.

A step is n_critic D updates (fresh real batch and noise each, unrolled in the graph), then one G
update against the just-updated D. Losses come back as tensors and are fetched in bulk at interval
edges. Modes: `function` (tf.function, the default), `xla` (tf.function with jit_compile=True),
`eager` (no tf.function).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from bench.convert import to_canonical
from bench.inputs import StepInputs
from bench.spec import Arch, Variant
from bench.step import GanStep
from bench.variants import objective
from impls_tf import runtime
from impls_tf.losses import d_loss_terms, g_loss
from impls_tf.models import build_models, export_weights, load_weights
from impls_tf.optim import make_optimizer, optimizer_state

METRICS = ("loss_d", "loss_g", "grad_norm_d", "grad_norm_g")
MODES = ("function", "xla", "eager")


class Trainer(GanStep):
    def __init__(
        self,
        variant: Variant,
        arch: Arch,
        weights: dict[str, np.ndarray],
        device: str = "cpu",
        mode: str = "function",
        dropout: bool = True,
        seed: int = 0,
        dtype: str = "float32",
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"TensorFlow mode {mode!r} is not supported (supported: {', '.join(MODES)})")
        self.variant, self.arch, self.mode = variant, arch, mode
        self.device = device
        self.dev = runtime.device_name(device)
        self.dtype = tf.as_dtype(dtype)  # float64 only for parity checks that must exclude rounding
        self.objective = objective(variant)
        with tf.device(self.dev):
            self.G, self.D = build_models(arch, dropout, seed, dtype)
            load_weights(self.G, self.D, arch, weights)
            self.opt_g = make_optimizer(variant.optimizer, self.G.trainable_variables)
            self.opt_d = make_optimizer(variant.optimizer, self.D.trainable_variables)
        step = self.step_body
        self._step = step if mode == "eager" else tf.function(step, jit_compile=(mode == "xla"))

    def _c(self, a: np.ndarray) -> tf.Tensor:
        return tf.constant(a, self.dtype if a.dtype.kind == "f" else None)

    def _g_input(self, z: tf.Tensor, g: tf.Tensor) -> tf.Tensor:
        if self.variant.g_conditional:
            return tf.concat([z, tf.one_hot(g, self.objective.n_classes, dtype=z.dtype)], 1)
        return z

    # -- the step: bench/step.py's control flow over these primitives --------------------------
    def train_step(self, inp: StepInputs) -> dict[str, tf.Tensor]:
        with tf.device(self.dev):
            args = (inp.x, inp.y, inp.mask, inp.z_d, inp.g_d, inp.eps, inp.z_g, inp.g_g)
            return self._step(*(self._c(a) for a in args))

    def fake_for_d(self, z: tf.Tensor, g: tf.Tensor) -> tf.Tensor:
        return tf.stop_gradient(self.G(self._g_input(z, g), training=True))

    def g_images(self, z: tf.Tensor, g: tf.Tensor) -> tf.Tensor:
        return self.G(self._g_input(z, g), training=True)

    def d_outputs(self, x: tf.Tensor) -> tf.Tensor:
        return self.D(x, training=True)

    def loss_terms(self, d_real, d_fake, y, mask, g) -> dict[str, tf.Tensor]:
        return d_loss_terms(self.variant.objective, d_real, d_fake, y, mask, g)

    def g_loss_of(self, d_fake: tf.Tensor, g: tf.Tensor) -> tf.Tensor:
        return g_loss(self.variant.objective, d_fake, g)

    def penalty(self, x: tf.Tensor, fake: tf.Tensor, eps: tf.Tensor) -> tf.Tensor:
        return gradient_penalty(self.D, x, fake, eps)

    def update(self, net: str, loss_fn) -> tuple[tf.Tensor, tf.Tensor]:
        model, opt = (self.D, self.opt_d) if net == "D" else (self.G, self.opt_g)
        with tf.GradientTape() as tape:
            loss = loss_fn()
        grads = tape.gradient(loss, model.trainable_variables)
        norm = tf.linalg.global_norm(grads)
        opt.apply(grads)
        return loss, norm

    def clip_weights(self, net: str, clip: float) -> None:
        for v in (self.D if net == "D" else self.G).trainable_variables:
            v.assign(tf.clip_by_value(v, -clip, clip))

    def mean(self, values: list[tf.Tensor]) -> tf.Tensor:
        return tf.reduce_mean(tf.stack(values))

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
                self.G(self._g_input(self._c(z[i : i + batch]), self._c(labels[i : i + batch])), False)
                for i in range(0, len(z), batch)
            ]
        return tf.concat(out, 0).numpy()

    def d_logits(self, x: np.ndarray, batch: int = 500) -> np.ndarray:
        """D's logits in inference mode, for classification accuracy (ssgan)."""
        with tf.device(self.dev):
            out = [self.D(self._c(x[i : i + batch]), training=False) for i in range(0, len(x), batch)]
        return tf.concat(out, 0).numpy()

    def export_weights(self) -> dict[str, np.ndarray]:
        return export_weights(self.G, self.D, self.arch)

    def optimizer_state(self) -> dict[str, np.ndarray]:
        names = {id(v): f"G.{k}" for k, v in self.G.named_variables().items()}
        names.update({id(v): f"D.{k}" for k, v in self.D.named_variables().items()})
        return {**optimizer_state(self.opt_g, names), **optimizer_state(self.opt_d, names)}

    # -- parity hooks: what an update computes, on given inputs, without applying it ------------
    def load(self, weights: dict[str, np.ndarray]) -> None:
        """Put canonical weights (BN running statistics included) back; optimiser state is kept."""
        load_weights(self.G, self.D, self.arch, weights)

    def forward(self, z: np.ndarray, labels: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """G(z) (N, H, W, C) and D(x) in training mode: batch statistics, moving statistics move."""
        with tf.device(self.dev):
            fake = self.G(self._g_input(self._c(z), self._c(labels)), training=True)
            return fake.numpy(), self.D(self._c(x), training=True).numpy()

    def d_grads(self, inp: StepInputs, i: int = 0) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """D's loss terms and canonical gradients for critic update `i` of `inp`, as d_update sees them."""
        args = [self._c(a[i]) for a in (inp.x, inp.y, inp.mask, inp.z_d, inp.g_d, inp.eps)]
        with tf.device(self.dev), tf.GradientTape() as tape:
            terms = self.d_terms(*args)
            loss = sum(terms.values())
        grads = tape.gradient(loss, self.D.trainable_variables)
        return _floats(terms), self._canonical("D", self.D, grads)

    def g_grads(self, inp: StepInputs) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """G's loss and canonical gradients for the G update of `inp` (against the current D)."""
        with tf.device(self.dev), tf.GradientTape() as tape:
            loss = self.g_loss_value(self._c(inp.z_g), self._c(inp.g_g))
        grads = tape.gradient(loss, self.G.trainable_variables)
        return _floats({"g": loss}), self._canonical("G", self.G, grads)

    def _canonical(self, prefix: str, net, grads) -> dict[str, np.ndarray]:
        names = {id(v): f"{prefix}.{k}" for k, v in net.named_variables().items()}
        named = {names[id(v)]: g.numpy() for v, g in zip(net.trainable_variables, grads, strict=True)}
        return to_canonical("tf", self.arch, named)


def _floats(terms: dict[str, tf.Tensor]) -> dict[str, float]:
    return {k: float(v.numpy()) for k, v in terms.items()}


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
