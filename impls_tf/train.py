"""One GAN training step in TensorFlow, compiled with `tf.function`, fed with the harness's arrays.

A step is n_critic D updates (fresh real batch and noise each, unrolled in the graph), then one G
update against the just-updated D. Losses come back as tensors and are fetched in bulk at interval
edges. Modes: `function` (tf.function, the default), `xla` (tf.function with jit_compile=True),
`eager` (no tf.function).

Precision (bench/precision.py): bf16 and fp16 build every layer with Keras's `mixed_bfloat16` /
`mixed_float16` dtype policy (float32 variables and optimiser state, low-precision computation, float32
outputs); fp16 wraps each optimiser in Keras's `LossScaleOptimizer` (dynamic loss scaling: it unscales,
skips an update whose gradients are not finite and adjusts the scale). With the `shared` scaler the two
optimisers' scale state is made equal after every update. tf32 is a process setting (runtime.py).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from bench.convert import to_canonical
from bench.inputs import StepInputs
from bench.precision import get_precision, scaler_name
from bench.spec import Arch, Variant
from bench.step import GanStep
from bench.variants import objective
from impls_tf import runtime
from impls_tf.losses import d_loss_terms, g_loss
from impls_tf.models import build_models, export_weights, load_weights
from impls_tf.optim import make_optimizer, optimizer_state

METRICS = ("loss_d", "loss_g", "grad_norm_d", "grad_norm_g")
SKIP_METRICS = ("skipped_d", "skipped_g")  # with loss scaling: updates skipped for overflow, per step
POLICIES = {"bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}  # Keras's mixed-precision policies
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
        precision: str = "fp32",
        loss_scaler: str = "",
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"TensorFlow mode {mode!r} is not supported (supported: {', '.join(MODES)})")
        self.variant, self.arch, self.mode = variant, arch, mode
        self.device = device
        self.dev = runtime.device_name(device)
        self.dtype = tf.as_dtype(dtype)  # float64 only for parity checks that must exclude rounding
        self.precision = get_precision(precision)
        self.scaler = scaler_name(precision, loss_scaler)
        self.metrics = METRICS + (SKIP_METRICS if self.scaler else ())
        policy = POLICIES.get(self.precision.compute_dtype, dtype)
        self.objective = objective(variant)
        with tf.device(self.dev):
            self.G, self.D = build_models(arch, dropout, seed, policy)
            load_weights(self.G, self.D, arch, weights)
            self.opt_g = make_optimizer(variant.optimizer, self.G.trainable_variables, bool(self.scaler))
            self.opt_d = make_optimizer(variant.optimizer, self.D.trainable_variables, bool(self.scaler))
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
        return gradient_penalty(self.D, x, fake, eps, self._scale("D"))

    def _scale(self, net: str) -> tf.Variable | None:
        """`net`'s current loss scale (LossScaleOptimizer's variable), None without loss scaling."""
        return (self.opt_d if net == "D" else self.opt_g).dynamic_scale if self.scaler else None

    def update(self, net: str, loss_fn) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """With loss scaling, the scaled loss is differentiated; the norm is of the unscaled gradients, and
        LossScaleOptimizer.apply unscales, skips the update if they are not finite, and moves the scale."""
        model, opt = (self.D, self.opt_d) if net == "D" else (self.G, self.opt_g)
        with tf.GradientTape() as tape:
            loss = loss_fn()
            target = opt.scale_loss(loss) if self.scaler else loss
        grads = tape.gradient(target, model.trainable_variables)
        if not self.scaler:
            norm = tf.linalg.global_norm(grads)
            opt.apply(grads)
            return loss, norm, tf.zeros((), tf.float32)
        norm = tf.linalg.global_norm([g / opt.dynamic_scale for g in grads])
        opt.apply(grads)
        if self.scaler == "shared":  # one scale for both networks: the other optimiser follows this one
            other = self.opt_g if net == "D" else self.opt_d
            other.dynamic_scale.assign(opt.dynamic_scale)
            other.step_counter.assign(opt.step_counter)
        return loss, norm, tf.cast(tf.logical_not(tf.math.is_finite(norm)), tf.float32)

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
        cols = {k: tf.stack([o[k] for o in outs]).numpy().astype(np.float64).tolist() for k in self.metrics}
        return [{k: cols[k][i] for k in self.metrics} for i in range(len(outs))]

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

    # -- checkpoints (bench/checkpoint.py) ------------------------------------------------------
    def _variables(self) -> dict[str, list]:
        """Every variable a step reads or changes, in build order: weights, BN moving statistics and the
        dropout seed generators' states (Keras layers' `variables`), the optimisers' slots, iteration
        counters and loss-scale state."""

        def net(n) -> list:
            return [v for layer in (*n.layers.values(), *n.dropouts.values()) for v in layer.variables]

        return {"G": net(self.G), "D": net(self.D), "opt_g": self.opt_g.variables, "opt_d": self.opt_d.variables}

    def checkpoint_state(self) -> dict[str, np.ndarray]:
        groups = self._variables().items()
        return {f"{g}/{i:04d}/{v.path}": np.array(v.numpy()) for g, vs in groups for i, v in enumerate(vs)}

    def restore_state(self, state: dict[str, np.ndarray]) -> None:
        for g, vs in self._variables().items():
            for i, v in enumerate(vs):
                v.assign(state[f"{g}/{i:04d}/{v.path}"])

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
            scaled = loss if self.scaler == "" else loss * self._scale("D")
        grads = self._unscaled("D", tape.gradient(scaled, self.D.trainable_variables))
        return _floats(terms), self._canonical("D", self.D, grads)

    def g_grads(self, inp: StepInputs) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """G's loss and canonical gradients for the G update of `inp` (against the current D)."""
        with tf.device(self.dev), tf.GradientTape() as tape:
            loss = self.g_loss_value(self._c(inp.z_g), self._c(inp.g_g))
            scaled = loss if self.scaler == "" else loss * self._scale("G")
        grads = self._unscaled("G", tape.gradient(scaled, self.G.trainable_variables))
        return _floats({"g": loss}), self._canonical("G", self.G, grads)

    def _unscaled(self, net: str, grads: list) -> list:
        """Gradients of a scaled loss divided by the scale (as the update sees them); unchanged without one."""
        return grads if not self.scaler else [g / self._scale(net) for g in grads]

    def precision_state(self) -> dict[str, float | str | bool]:
        """What the run's precision came to: compute dtype, the framework's TF32 state, final loss scales."""
        out: dict[str, float | str | bool] = {"compute_dtype": self.precision.compute_dtype, "tf32": runtime.tf32()}
        for net in ("D", "G"):
            out[f"loss_scale_{net.lower()}"] = float(self._scale(net).numpy()) if self.scaler else float("nan")
        return out

    def _canonical(self, prefix: str, net, grads) -> dict[str, np.ndarray]:
        names = {id(v): f"{prefix}.{k}" for k, v in net.named_variables().items()}
        named = {names[id(v)]: g.numpy() for v, g in zip(net.trainable_variables, grads, strict=True)}
        return to_canonical("tf", self.arch, named)


def _floats(terms: dict[str, tf.Tensor]) -> dict[str, float]:
    return {k: float(v.numpy()) for k, v in terms.items()}


def gradient_penalty(D, x: tf.Tensor, fake: tf.Tensor, eps: tf.Tensor, scale=None) -> tf.Tensor:
    """mean((||grad_xhat D(xhat)||_2 - 1)^2), xhat = eps x + (1 - eps) G(z), per sample.

    With a loss scale (fp16), the inner gradient is taken of the scaled output, so fp16's backward does
    not underflow, and divided by the scale before the norm."""
    e = tf.reshape(eps, (-1, 1, 1, 1))
    xhat = e * x + (1.0 - e) * fake
    with tf.GradientTape() as inner:
        inner.watch(xhat)
        out = D(xhat, training=True)
        if scale is not None:
            out = out * scale
    grad = inner.gradient(out, xhat)
    if scale is not None:
        grad = grad / scale
    norm = tf.sqrt(tf.reduce_sum(tf.square(grad), axis=[1, 2, 3]))
    return tf.reduce_mean((norm - 1.0) ** 2)
