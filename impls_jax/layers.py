"""Build a network from a neutral layer list; layers carry the spec's names (`fc`, `deconv1`, ...).

Flax (linen) modules hold no state, so `Net` keeps the network's variables beside its module:
`params` (trainable) and `stats` (BN running statistics), both pytrees keyed by layer name. Calling a
`Net` in training mode replaces `stats` with the updated ones, as the other frameworks' layers update
theirs in place; the trainer threads these attributes through `jax.jit` (impls_jax/train.py).

Images travel channels-last (N, H, W, C), as in TensorFlow, so `flatten` and `reshape` are plain
reshapes in (H, W, C) order. Padding follows TensorFlow's rules: XLA's "SAME" for convolutions, and
for transposed convolutions the explicit padding of TensorFlow's conv2d_transpose (`convt_pads`).
Flax's own layers are used except for the transposed convolution (`ConvTranspose`: same math, a
kernel gradient XLA's CPU backend computes fast) and batch norm (PyTorch's running variance).
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from bench.spec import BN_EPS, BN_MOMENTUM, Layer, Network

Array = Any


def convt_pads(k: int, s: int, padding: str) -> tuple[int, int]:
    """Padding of the stride-dilated input that gives TensorFlow's conv2d_transpose output: the
    transpose of the convolution from the output back to the input, padded as TensorFlow pads it."""
    if padding == "valid":
        return k - 1, k - 1
    if k < s:
        raise ValueError("same transposed conv with kernel < stride is not supported")
    before = (k - s) // 2
    return k - 1 - before, k - 1 - (k - s - before)


DIMS = ("NHWC", "HWIO", "NHWC")


def precision() -> str:
    """Matmul and convolution precision, the process's setting (impls_jax/runtime.py): "highest" (float32,
    no TF32) unless the run's precision is tf32; read when a function is traced."""
    return jax.config.jax_default_matmul_precision or "highest"


@partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv_transpose(x: Array, kernel: Array, stride: int, pads: tuple[int, int]) -> Array:
    """TensorFlow's conv2d_transpose (kernel (kh, kw, out, in)): the adjoint of the strided convolution
    `_conv(., kernel)` from the output's shape back to x's.

    Not XLA's transposed convolution (`lax.conv_transpose`, which Flax's ConvTranspose calls): on CPU
    it is pathologically slow for some shapes (439 ms for a 5x5, 512->256 layer on a 4x4 input at
    batch 8, 1.9 GFLOP/s; 21 ms on 8x8), its kernel gradient took 286 ms against 11 ms for a regular
    convolution's, and in float64 it runs ~15x slower than a regular convolution; the CIFAR-10 DCGAN's
    step took 7 s at batch 8 (PyTorch: 1.3 s). Here the forward computes each output phase (rows
    r::s, columns c::s) as the stride-1 convolution of x with the kernel taps that reach it, then
    interleaves the phases: the same sums and exactly the transposed convolution's FLOPs. The backward
    is the strided convolution's own (its output for x, its kernel gradient for the kernel). Step: 2.0 s.
    Tests compare values and gradients with `conv_transpose_reference`, XLA's version.
    """
    k, n, s = kernel.shape[0], x.shape[1], stride
    size = (n - 1) * s + 1 + pads[0] + pads[1] - k + 1  # output rows (and columns)
    per_phase = -(-size // s)
    taps = jnp.swapaxes(kernel[::-1, ::-1], 2, 3)  # the correlation kernel (kh, kw, in, out)
    rows = []
    for r in range(s):
        row = []
        for c in range(s):
            (t_r, pad_r), (t_c, pad_c) = (_phase(q, k, n, s, pads[0], per_phase) for q in (r, c))
            xp = lax.pad(x, jnp.zeros((), x.dtype), ((0, 0, 0), (*pad_r, 0), (*pad_c, 0), (0, 0, 0)))
            sub = taps[t_r::s, t_c::s]
            row.append(
                lax.conv_general_dilated(xp, sub, (1, 1), "VALID", dimension_numbers=DIMS, precision=precision())
            )
        rows.append(jnp.stack(row, axis=3))  # (B, P, P, s: column phase, C)
    y = jnp.stack(rows, axis=2)  # (B, P, s: row phase, P, s, C)
    b, c_out = x.shape[0], kernel.shape[2]
    return y.reshape(b, per_phase * s, per_phase * s, c_out)[:, :size, :size]


def _conv(z: Array, kernel: Array, stride: int, pads: tuple[int, int]) -> Array:
    """The strided convolution that `conv_transpose` (with these padded-input pads) is the adjoint of."""
    k = kernel.shape[0]
    conv_pads = (k - 1 - pads[0], k - 1 - pads[1])
    return lax.conv_general_dilated(z, kernel, (stride, stride), (conv_pads, conv_pads), dimension_numbers=DIMS,
                                    precision=precision())  # fmt: skip


def _conv_transpose_fwd(x, kernel, stride, pads):
    return conv_transpose(x, kernel, stride, pads), (x, kernel)


def _conv_transpose_bwd(stride, pads, res, dy):
    """The adjoint's gradients, as the strided convolution's own: its output (for x) and its kernel
    gradient (for the kernel)."""
    x, kernel = res
    _, kernel_vjp = jax.vjp(lambda k: _conv(dy, k, stride, pads), kernel)
    return _conv(dy, kernel, stride, pads), kernel_vjp(x)[0]


conv_transpose.defvjp(_conv_transpose_fwd, _conv_transpose_bwd)


def _phase(r: int, k: int, n: int, s: int, lo: int, length: int) -> tuple[int, tuple[int, int]]:
    """For output phase r: the first kernel tap that reaches it, and the (before, after) padding of x
    (negative: cropping) whose valid correlation with the taps r0, r0 + s, ... gives `length` outputs."""
    t0 = (lo - r) % s
    taps = -(-(k - t0) // s)
    d = (r + t0 - lo) // s  # x's index for the phase's first output and first tap
    return t0, (-d, length + taps - 1 + d - n)


def conv_transpose_reference(x: Array, kernel: Array, stride: int, pads: tuple[int, int]) -> Array:
    """XLA's transposed convolution with the same arguments (what Flax's ConvTranspose computes)."""
    return lax.conv_transpose(x, kernel, (stride, stride), (pads, pads), dimension_numbers=DIMS,
                              transpose_kernel=True, precision=precision())  # fmt: skip


class ConvTranspose(nn.Module):
    """Transposed convolution with TensorFlow's padding and a (kh, kw, out, in) kernel named `kernel`."""

    features: int
    kernel_size: int
    stride: int
    pads: tuple[int, int]
    use_bias: bool = True
    dtype: Any = jnp.float32  # computation
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        k = self.kernel_size
        kernel = self.param("kernel", nn.initializers.zeros, (k, k, self.features, x.shape[-1]), self.param_dtype)
        y = conv_transpose(x.astype(self.dtype), kernel.astype(self.dtype), self.stride, self.pads)
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,), self.param_dtype).astype(self.dtype)
        return y


class BatchNorm(nn.Module):
    """Batch norm as in PyTorch: normalise with the biased batch variance, average the UNBIASED one
    into the running variance (Flax's own BatchNorm, as Keras's, averages the biased one). Under mixed
    precision it computes in its parameters' dtype (float32), as Flax's BatchNorm does its statistics, and
    returns the computation dtype."""

    dtype: Any = jnp.float32  # of the output
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: Array, training: bool) -> Array:
        c = x.shape[-1]
        x = x.astype(self.param_dtype)
        scale = self.param("scale", nn.initializers.ones, (c,), self.param_dtype)
        bias = self.param("bias", nn.initializers.zeros, (c,), self.param_dtype)
        ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((c,), self.param_dtype))
        ra_var = self.variable("batch_stats", "var", lambda: jnp.ones((c,), self.param_dtype))
        if not training:
            mean, var = ra_mean.value, ra_var.value
        else:
            axes = tuple(range(x.ndim - 1))
            mean = jnp.mean(x, axes)
            var = jnp.mean(jnp.square(x - mean), axes)
            n = x.size // c
            if not self.is_initializing():
                ra_mean.value = (1.0 - BN_MOMENTUM) * ra_mean.value + BN_MOMENTUM * mean
                ra_var.value = (1.0 - BN_MOMENTUM) * ra_var.value + BN_MOMENTUM * var * (n / (n - 1.0))
        return ((x - mean) / jnp.sqrt(var + BN_EPS) * scale + bias).astype(self.dtype)


class Sequential(nn.Module):
    """The spec's layer list as one Flax module; each parameterised layer is a child named as in the spec.
    Layers compute in `dtype` with parameters in `param_dtype` (Flax's mixed-precision idiom); the output
    is cast to `param_dtype`, so losses are computed in the parameters' precision."""

    spec: Network
    dropout_on: bool = True
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: Array, training: bool = True, key: Array | None = None) -> Array:
        for i, layer in enumerate(self.spec.layers):
            if layer.kind == "bn":
                x = BatchNorm(self.dtype, self.param_dtype, name=layer.name)(x, training)
            elif layer.has_params:
                x = make_layer(layer, self.dtype, self.param_dtype)(x)
            elif layer.kind == "dropout":
                if training and self.dropout_on and key is not None:
                    keep = jax.random.bernoulli(jax.random.fold_in(key, i), 1.0 - layer.rate, x.shape)
                    x = jnp.where(keep, x / (1.0 - layer.rate), 0.0).astype(x.dtype)
            else:
                x = apply_plain(layer, x)
        return x.astype(self.param_dtype)


class Net:
    """A network from the spec: its Flax module and its current variables."""

    def __init__(self, net: Network, dropout: bool = True, dtype: str = "float32", compute: str = "") -> None:
        """`dtype`: the parameters' (and outputs'); `compute`: the layers' computation dtype ("": `dtype`)."""
        self.spec = net
        self.dtype = jnp.dtype(dtype)
        self.module = Sequential(net, dropout, jnp.dtype(compute or dtype), self.dtype)
        self.has_dropout = dropout and any(layer.kind == "dropout" for layer in net.layers)
        # Shapes only (no initialiser runs): the weights are always the harness's canonical ones.
        x = jax.ShapeDtypeStruct((1, *net.input_shape), self.dtype)
        variables = jax.eval_shape(lambda x: self.module.init(jax.random.key(0), x, False), x)
        self.params: dict = dict(variables["params"])
        self.stats: dict = dict(variables.get("batch_stats", {}))

    def __call__(self, x: Array, training: bool = True, key: Array | None = None) -> Array:
        """The network on `x`; training mode replaces `stats` with the updated statistics."""
        variables = {"params": self.params, "batch_stats": self.stats}
        if not training:
            return self.module.apply(variables, x, False)
        y, new = self.module.apply(variables, x, True, key, mutable=["batch_stats"])
        self.stats = dict(new.get("batch_stats", {}))
        return y


@partial(jax.custom_vjp, nondiff_argnums=(1,))
def max_pool(x: Array, k: int) -> Array:
    """k x k max-pooling with stride k (windows that tile x): the maximum over each window.

    Flax's `nn.max_pool` (XLA's reduce-window) has the same forward, but its gradient is XLA's
    select-and-scatter, which the CPU backend expands into a scatter over iota index arrays: 46 ms for a
    (64, 28, 28, 64) input against 1.5 ms here; about a quarter of the MNIST ssgan step's thread time
    (measured). The gradient is the same: each window's upstream gradient goes to its first maximum in
    row-major order (XLA's select with >=, PyTorch's and TensorFlow's max-pool gradients), so ties are
    broken alike; tests compare values, gradients and second derivatives with `nn.max_pool`. The
    backward finds each window's first maximum from the input alone: under jit, XLA recomputes a fused
    input in the backward with other rounding, so comparing it with the forward's maximum lost windows.
    """
    return jnp.max(_windows(x, k), axis=(2, 4))


def _windows(x: Array, k: int) -> Array:
    n, h, w, c = x.shape
    return x.reshape(n, h // k, k, w // k, k, c)


def _max_pool_fwd(x: Array, k: int) -> tuple[Array, Array]:
    return max_pool(x, k), x


def _max_pool_bwd(k: int, x: Array, dy: Array) -> tuple[Array]:
    xw = _windows(x, k)
    best, first = xw[:, :, 0, :, 0], jnp.zeros(dy.shape, jnp.int32)  # each window's first maximum so far
    for p in range(1, k * k):
        v = xw[:, :, p // k, :, p % k]
        later = v > best  # strictly greater: of equal values, the earlier one keeps the gradient
        best, first = jnp.where(later, v, best), jnp.where(later, p, first)
    zero = jnp.zeros((), dy.dtype)
    rows = [jnp.stack([jnp.where(first == a * k + b, dy, zero) for b in range(k)], axis=3) for a in range(k)]
    return (jnp.stack(rows, axis=2).reshape(x.shape),)  # (N, H/k, k, W/k, k, C) -> x's shape


max_pool.defvjp(_max_pool_fwd, _max_pool_bwd)


def make_layer(layer: Layer, dtype: Any = jnp.float32, param_dtype: Any = None) -> nn.Module:
    """The Flax module for a parameterised neutral layer (batch norm: `BatchNorm`); defaults explicit.
    `dtype` computes, `param_dtype` (default: `dtype`) stores."""
    param_dtype = param_dtype or dtype
    kw = {"use_bias": layer.bias, "name": layer.name, "dtype": dtype, "param_dtype": param_dtype,
          "precision": precision()}  # fmt: skip
    if layer.kind == "dense":
        return nn.Dense(layer.units, **kw)
    if layer.kind == "conv":
        window = (layer.kernel, layer.kernel)
        return nn.Conv(layer.units, window, layer.stride, padding=layer.padding.upper(), **kw)
    if layer.kind == "convt":
        pads = convt_pads(layer.kernel, layer.stride, layer.padding)
        return ConvTranspose(layer.units, layer.kernel, layer.stride, pads, layer.bias, dtype, param_dtype,
                             name=layer.name)  # fmt: skip
    if layer.kind == "bn":
        return BatchNorm(dtype, param_dtype, name=layer.name)
    raise ValueError(f"layer kind {layer.kind!r} has no parameters")


def apply_plain(layer: Layer, x: Array) -> Array:
    """A layer without parameters (activation, flatten, reshape, upsample, max-pool)."""
    kind = layer.kind
    if kind == "act":
        return activation(layer, x)
    if kind == "flatten":
        return jnp.reshape(x, (x.shape[0], math.prod(x.shape[1:])))
    if kind == "reshape":
        return jnp.reshape(x, (x.shape[0], *layer.shape))
    if kind == "upsample":
        return jnp.repeat(jnp.repeat(x, layer.stride, axis=1), layer.stride, axis=2)
    if kind == "maxpool":
        k, (h, w) = layer.kernel, x.shape[1:3]
        if layer.stride == k and h % k == 0 and w % k == 0:
            return max_pool(x, k)
        return nn.max_pool(x, (k, k), (layer.stride, layer.stride), "VALID")
    raise ValueError(f"unknown layer kind {kind!r}")


def activation(layer: Layer, x: Array) -> Array:
    if layer.act == "relu":
        return jax.nn.relu(x)
    if layer.act == "lrelu":
        return jnp.where(x > 0, x, x * layer.alpha)
    if layer.act == "tanh":
        return jnp.tanh(x)
    if layer.act == "sigmoid":
        return jax.nn.sigmoid(x)
    raise ValueError(f"unknown activation {layer.act!r}")
