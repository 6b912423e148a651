"""One GAN training step in JAX, compiled whole with `jax.jit`, fed with the harness's arrays.

A step is n_critic D updates (fresh real batch and noise each, unrolled in the trace), then one G
update against the just-updated D: bench/step.py's control flow, as in the other frameworks. JAX is
functional, so the trainer keeps its state (parameters, BN statistics, Optax states, the dropout key)
in attributes that the primitives read and replace; `_pure` turns a method over those attributes into
a function from state to state, which is what `jax.jit` traces (`_run`). Gradients come from
`jax.value_and_grad` over one network's parameters; the BN statistics a forward pass moves come back
as auxiliary outputs. The parity hooks and sampling are compiled the same way, in every mode.
Modes: `jit` (the default) and `eager` (the same code, op by op).

Precision (bench/precision.py): bf16 and fp16 are Flax's idiom, layers with `dtype` the low dtype and
`param_dtype` float32 (float32 parameters, Optax state and outputs); fp16 scales each loss with Flax's
`flax.training.dynamic_scale.DynamicScale` (Optax has no loss scaler), which unscales the gradients and
says whether they are finite; a non-finite update is dropped with `jnp.where` (Flax's own recipe), so the
parameters and Optax state stay as they were. `shared` keeps one DynamicScale for both networks. tf32 is
the process's matmul precision (runtime.py).

Dropout masks come from a key derived from the run's framework seed (jax.random.key(seed)), split
once per dropout forward; nothing else is random here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.training.dynamic_scale import DynamicScale

from bench import precision as precisions
from bench.convert import to_canonical
from bench.inputs import StepInputs
from bench.precision import get_precision, scaler_name
from bench.spec import Arch, Variant
from bench.step import GanStep
from bench.variants import objective
from impls_jax import runtime
from impls_jax.losses import d_loss_terms, g_loss
from impls_jax.models import build_models, export_weights, load_weights
from impls_jax.optim import make_optimizer, optimizer_state

METRICS = ("loss_d", "loss_g", "grad_norm_d", "grad_norm_g")
SKIP_METRICS = ("skipped_d", "skipped_g")  # with loss scaling: updates skipped for overflow, per step
MODES = ("jit", "eager")
Array = Any


class Trainer(GanStep):
    def __init__(
        self,
        variant: Variant,
        arch: Arch,
        weights: dict[str, np.ndarray],
        device: str = "cpu",
        mode: str = "jit",
        dropout: bool = True,
        seed: int = 0,
        dtype: str = "float32",
        precision: str = "fp32",
        loss_scaler: str = "",
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"JAX mode {mode!r} is not supported (supported: {', '.join(MODES)})")
        if dtype == "float64":  # parity checks only: JAX needs 64-bit types switched on first
            jax.config.update("jax_enable_x64", True)
        self.variant, self.arch, self.mode = variant, arch, mode
        self.device = device
        self.dev = runtime.jax_device(device)
        self.dtype = jnp.dtype(dtype)
        self.objective = objective(variant)
        self.precision = get_precision(precision)
        self.scaler = scaler_name(precision, loss_scaler)
        self.metrics = METRICS + (SKIP_METRICS if self.scaler else ())
        compute = self.precision.compute_dtype if self.precision.compute_dtype != "float32" else ""
        self.G, self.D = build_models(arch, dropout, dtype, compute)
        self.load(weights)
        self.scales = jax.device_put(make_scales(self.scaler), self.dev)
        self.tx = {"G": make_optimizer(variant.optimizer), "D": make_optimizer(variant.optimizer)}
        self.opt_state = jax.device_put({net: self.tx[net].init(self._net(net).params) for net in ("G", "D")}, self.dev)
        self.key = jax.device_put(jax.random.key(seed), self.dev)
        self.donate = (0,) if device != "cpu" else ()  # XLA's CPU backend cannot reuse donated buffers
        self.compiled: dict[str, Callable] = {}

    def _c(self, a: np.ndarray) -> Array:
        return jax.device_put(np.asarray(a, self.dtype) if a.dtype.kind == "f" else a, self.dev)

    def _step_inputs(self, arrays: tuple[np.ndarray, ...]) -> list[Array]:
        """A step's inputs for the compiled step: host arrays in the run's dtype, which `jax.jit` moves to
        the state's device as part of the call. That costs less host time than `jax.device_put` first
        (0.34 ms a step for gan, 2% of its 20 ms step on two cores, measured); eager mode puts them first."""
        host = [np.asarray(a, self.dtype) if a.dtype.kind == "f" else a for a in arrays]
        return host if self.mode == "jit" else jax.device_put(host, self.dev)

    def _net(self, net: str):
        return self.D if net == "D" else self.G

    def _g_input(self, z: Array, g: Array) -> Array:
        if self.variant.g_conditional:
            return jnp.concatenate([z, jax.nn.one_hot(g, self.objective.n_classes, dtype=z.dtype)], 1)
        return z

    def _key(self, net) -> Array | None:
        """A fresh dropout key for a forward pass of `net` (None when it has no dropout)."""
        if not net.has_dropout:
            return None
        self.key, sub = jax.random.split(self.key)
        return sub

    # -- the state jit threads through a step -------------------------------------------------
    def _state(self) -> dict:
        return {"params": (self.G.params, self.D.params), "opt": dict(self.opt_state), "scales": dict(self.scales),
                **self._moving()}  # fmt: skip

    def _set_state(self, state: dict) -> None:
        self.G.params, self.D.params = state["params"]
        self.opt_state = dict(state["opt"])
        self.scales = dict(state["scales"])
        self._set_moving(state)

    # -- checkpoints (bench/checkpoint.py) ------------------------------------------------------
    def checkpoint_state(self) -> dict[str, np.ndarray]:
        """The jitted step's whole state (parameters, BN statistics, Optax states, loss scales, the dropout
        key as its raw bits), one array per pytree leaf keyed by its path."""
        leaves = jax.tree_util.tree_flatten_with_path(self._state())[0]
        return {jax.tree_util.keystr(path): np.asarray(_key_bits(leaf)) for path, leaf in leaves}

    def restore_state(self, state: dict[str, np.ndarray]) -> None:
        leaves, tree = jax.tree_util.tree_flatten_with_path(self._state())
        new = [_like(leaf, state[jax.tree_util.keystr(path)]) for path, leaf in leaves]
        self._set_state(jax.device_put(jax.tree_util.tree_unflatten(tree, new), self.dev))
        if self.scaler == "shared":  # one object for both networks, as make_scales built it
            self.scales["G"] = self.scales["D"]

    def _moving(self) -> dict:
        """What a forward pass changes: BN statistics and the dropout key."""
        return {"stats": (self.G.stats, self.D.stats), "key": self.key}

    def _set_moving(self, moving: dict) -> None:
        (self.G.stats, self.D.stats), self.key = moving["stats"], moving["key"]

    def _pure(self, fn: Callable) -> Callable:
        """fn(*args), which reads and replaces the trainer's attributes, as a pure function
        (state, *args) -> (state, result): what jax.jit traces."""

        def pure(state: dict, *args: Array) -> tuple[dict, Any]:
            saved = self._state()
            self._set_state(state)
            try:
                out = fn(*args)
                return self._state(), out
            finally:
                self._set_state(saved)  # the attributes never keep the trace's values

        return pure

    def _run(self, fn: Callable, *args: Array, jit: bool = True) -> Any:
        """fn(*args) with the trainer's state threaded through it; compiled once per function (and input
        shapes) unless `jit` is off. The step, the parity hooks and sampling all run this way."""
        key = (fn.__name__, jit)
        if key not in self.compiled:
            self.compiled[key] = jax.jit(self._pure(fn), donate_argnums=self.donate) if jit else self._pure(fn)
        state, out = self.compiled[key](self._state(), *args)
        self._set_state(state)
        return out

    def _grad(self, net: str, loss_fn: Callable[[], Any]) -> tuple[Any, dict, Array]:
        """((loss_fn's value, its aux), gradients, finite) over `net`'s parameters; forward side effects kept.
        Under loss scaling the gradients are DynamicScale's (of the scaled loss, unscaled), `finite` says
        whether they all are, and `net`'s scale has moved as DynamicScale moves it; else `finite` is True."""
        model = self._net(net)
        params = model.params

        def f(p):
            model.params = p
            value, aux = loss_fn()
            return value, (aux, self._moving())

        try:
            if net in self.scales:
                scale, finite, (value, (aux, moving)), grads = self.scales[net].value_and_grad(f, has_aux=True)(params)
                self._set_scale(net, scale)
            else:
                (value, (aux, moving)), grads = jax.value_and_grad(f, has_aux=True)(params)
                finite = jnp.array(True)
        finally:
            model.params = params
        self._set_moving(moving)
        return (value, aux), grads, finite

    def _set_scale(self, net: str, scale: DynamicScale) -> None:
        """`net`'s new scale; a shared scaler is one object for both networks."""
        for k in ("D", "G") if self.scaler == "shared" else (net,):
            self.scales[k] = scale

    # -- the step: bench/step.py's control flow over these primitives --------------------------
    def train_step(self, inp: StepInputs) -> dict[str, Array]:
        args = (inp.x, inp.y, inp.mask, inp.z_d, inp.g_d, inp.eps, inp.z_g, inp.g_g)
        return self._run(self.step_body, *self._step_inputs(args), jit=self.mode == "jit")

    def fake_for_d(self, z: Array, g: Array) -> Array:
        return jax.lax.stop_gradient(self.G(self._g_input(z, g), True, self._key(self.G)))

    def g_images(self, z: Array, g: Array) -> Array:
        return self.G(self._g_input(z, g), True, self._key(self.G))

    def d_outputs(self, x: Array) -> Array:
        return self.D(x, True, self._key(self.D))

    def loss_terms(self, d_real, d_fake, y, mask, g) -> dict[str, Array]:
        return d_loss_terms(self.variant.objective, d_real, d_fake, y, mask, g)

    def g_loss_of(self, d_fake: Array, g: Array) -> Array:
        return g_loss(self.variant.objective, d_fake, g)

    def penalty(self, x: Array, fake: Array, eps: Array) -> Array:
        scale = self.scales["D"].scale if self.scaler else None
        value, moving = gradient_penalty(lambda xh: (self.d_outputs(xh), self._moving()), x, fake, eps, scale)
        self._set_moving(moving)  # D's BN statistics moved on xhat, as in the other frameworks
        return value

    def update(self, net: str, loss_fn) -> tuple[Array, Array, Array]:
        """Gradients over `net`'s parameters only (the other network is a constant), Optax's update; under
        loss scaling an update with non-finite gradients is dropped (parameters and Optax state kept)."""
        (loss, _), grads, finite = self._grad(net, lambda: (loss_fn(), None))
        model = self._net(net)
        updates, opt_state = self.tx[net].update(grads, self.opt_state[net], model.params)
        params = optax.apply_updates(model.params, updates)
        if self.scaler:
            keep = lambda new, old: jnp.where(finite, new, old)  # noqa: E731
            params = jax.tree_util.tree_map(keep, params, model.params)
            opt_state = jax.tree_util.tree_map(keep, opt_state, self.opt_state[net])
        model.params, self.opt_state[net] = params, opt_state
        return loss, optax.global_norm(grads), 1.0 - finite.astype(jnp.float32)

    def clip_weights(self, net: str, clip: float) -> None:
        model = self._net(net)
        model.params = jax.tree_util.tree_map(lambda a: jnp.clip(a, -clip, clip), model.params)

    def mean(self, values: list[Array]) -> Array:
        return jnp.mean(jnp.stack(values))

    # -- results --------------------------------------------------------------------------------
    def fetch(self, outs: list[dict[str, Array]]) -> list[dict[str, float]]:
        """Bring a list of step outputs to the host (one transfer for all of them)."""
        host = jax.device_get(outs)
        return [{k: float(o[k]) for k in self.metrics} for o in host]

    def sync(self) -> None:
        jax.block_until_ready(self._state())

    def generate(self, z: np.ndarray, labels: np.ndarray, batch: int = 256) -> np.ndarray:
        """G's images (N, H, W, C) in inference mode (BN running statistics)."""
        out = [
            self._run(self._sample, self._c(z[i : i + batch]), self._c(labels[i : i + batch]))
            for i in range(0, len(z), batch)
        ]
        return np.concatenate([np.asarray(o) for o in out])

    def d_logits(self, x: np.ndarray, batch: int = 500) -> np.ndarray:
        """D's logits in inference mode, for classification accuracy (ssgan)."""
        out = [self._run(self._classify, self._c(x[i : i + batch])) for i in range(0, len(x), batch)]
        return np.concatenate([np.asarray(o) for o in out])

    def _sample(self, z: Array, g: Array) -> Array:
        return self.G(self._g_input(z, g), False)

    def _classify(self, x: Array) -> Array:
        return self.D(x, False)

    def export_weights(self) -> dict[str, np.ndarray]:
        return export_weights(self.G, self.D, self.arch)

    def optimizer_state(self) -> dict[str, np.ndarray]:
        return {**optimizer_state(self.opt_state["G"], "G"), **optimizer_state(self.opt_state["D"], "D")}

    # -- parity hooks: what an update computes, on given inputs, without applying it ------------
    def load(self, weights: dict[str, np.ndarray]) -> None:
        """Put canonical weights (BN running statistics included) back; optimiser state is kept."""
        load_weights(self.G, self.D, self.arch, weights)
        for net in (self.G, self.D):
            net.params, net.stats = jax.device_put((net.params, net.stats), self.dev)

    def forward(self, z: np.ndarray, labels: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """G(z) (N, H, W, C) and D(x) in training mode: batch statistics, running statistics move."""
        fake, logits = self._run(self._forward, self._c(z), self._c(labels), self._c(x))
        return np.asarray(fake), np.asarray(logits)

    def _forward(self, z: Array, g: Array, x: Array) -> tuple[Array, Array]:
        return self.g_images(z, g), self.d_outputs(x)

    def d_grads(self, inp: StepInputs, i: int = 0) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """D's loss terms and canonical gradients for critic update `i` of `inp`, as d_update sees them."""
        args = [self._c(a[i]) for a in (inp.x, inp.y, inp.mask, inp.z_d, inp.g_d, inp.eps)]
        terms, grads = self._run(self._d_grads, *args)
        return _floats(terms), self._canonical("D", grads)

    def _d_grads(self, *args: Array) -> tuple[dict[str, Array], dict]:
        def loss():
            terms = self.d_terms(*args)
            return sum(terms.values()), terms

        (_, terms), grads, _ = self._grad("D", loss)
        return terms, grads

    def g_grads(self, inp: StepInputs) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """G's loss and canonical gradients for the G update of `inp` (against the current D)."""
        loss, grads = self._run(self._g_grads, self._c(inp.z_g), self._c(inp.g_g))
        return _floats({"g": loss}), self._canonical("G", grads)

    def _g_grads(self, z: Array, g: Array) -> tuple[Array, dict]:
        (loss, _), grads, _ = self._grad("G", lambda: (self.g_loss_value(z, g), None))
        return loss, grads

    def _canonical(self, prefix: str, grads: dict) -> dict[str, np.ndarray]:
        named = {
            f"{prefix}.{layer}.{leaf}": np.asarray(a) for layer, leaves in grads.items() for leaf, a in leaves.items()
        }
        return to_canonical("jax", self.arch, named)

    def precision_state(self) -> dict[str, float | str | bool]:
        """What the run's precision came to: compute dtype, the framework's TF32 state, final loss scales."""
        out: dict[str, float | str | bool] = {"compute_dtype": self.precision.compute_dtype, "tf32": runtime.tf32()}
        for net in ("D", "G"):
            out[f"loss_scale_{net.lower()}"] = float(self.scales[net].scale) if self.scaler else float("nan")
        return out


def make_scales(scaler: str) -> dict[str, DynamicScale]:
    """{"D": ..., "G": ...} loss scales (the same one twice when shared), {} without loss scaling. Flax grows
    the scale after `growth_interval` + 1 finite steps, PyTorch and Keras after `growth_interval`: one less
    here makes all three double at the same step."""
    if not scaler:
        return {}
    s = precisions.LOSS_SCALE

    def new() -> DynamicScale:
        count, start = jnp.array(0, jnp.int32), jnp.array(s.initial, jnp.float32)
        return DynamicScale(s.growth, s.backoff, s.growth_interval - 1, count, start)

    d = new()
    return {"D": d, "G": d if scaler == "shared" else new()}


def _key_bits(leaf: Any) -> Any:
    """A typed PRNG key as its uint32 data (what an .npz can hold); any other leaf as it is."""
    return jax.random.key_data(leaf) if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key) else leaf


def _like(template: Any, value: np.ndarray) -> Any:
    """`value` as the leaf it was saved from: a key again from its bits, else an array of the same dtype."""
    if jnp.issubdtype(template.dtype, jax.dtypes.prng_key):
        return jax.random.wrap_key_data(jnp.asarray(value))
    return jnp.asarray(value, dtype=template.dtype)


def _floats(terms: dict[str, Array]) -> dict[str, float]:
    return {k: float(v) for k, v in terms.items()}


def gradient_penalty(
    D: Callable[[Array], tuple[Array, Any]], x: Array, fake: Array, eps: Array, scale: Array | None = None
) -> tuple[Array, Any]:
    """mean((||grad_xhat D(xhat)||_2 - 1)^2), xhat = eps x + (1 - eps) G(z), per sample.

    `D(xhat)` returns (outputs, aux): whatever its forward changed (BN statistics) comes back as aux, so
    nothing traced by the inner `jax.grad` escapes it. Returns (penalty, aux). With a loss scale (fp16),
    the inner gradient is taken of the scaled output, so fp16's backward does not underflow, and divided
    by the scale before the norm.
    """
    e = eps.reshape(-1, *([1] * (x.ndim - 1)))
    xhat = e * x + (1.0 - e) * fake

    def total(xh):
        out, aux = D(xh)
        return jnp.sum(out) * (1.0 if scale is None else scale), aux

    grad, aux = jax.grad(total, has_aux=True)(xhat)
    if scale is not None:
        grad = grad / scale
    norm = jnp.sqrt(jnp.sum(jnp.square(grad), axis=tuple(range(1, grad.ndim))))
    return jnp.mean((norm - 1.0) ** 2), aux
