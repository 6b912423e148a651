"""Build a network from a neutral layer list; layers carry the spec's names (`fc`, `deconv1`, ...).

Flax (linen) modules hold no state, so `Net` keeps the network's variables beside its module:
`params` (trainable) and `stats` (BN running statistics), both pytrees keyed by layer name. Calling a
`Net` in training mode replaces `stats` with the updated ones, as the other frameworks' layers update
theirs in place; the trainer threads these attributes through `jax.jit` (impls_jax/train.py).

Images travel channels-last (N, H, W, C), as in TensorFlow, so `flatten` and `reshape` are plain
reshapes in (H, W, C) order. Padding follows TensorFlow's rules: XLA's "SAME" for convolutions, and
for transposed convolutions the explicit padding of TensorFlow's conv2d_transpose (`convt_pads`).
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

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


class BatchNorm(nn.Module):
    """Batch norm as in PyTorch: normalise with the biased batch variance, average the UNBIASED one
    into the running variance (Flax's own BatchNorm, as Keras's, averages the biased one)."""

    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: Array, training: bool) -> Array:
        c = x.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (c,), self.dtype)
        bias = self.param("bias", nn.initializers.zeros, (c,), self.dtype)
        ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((c,), self.dtype))
        ra_var = self.variable("batch_stats", "var", lambda: jnp.ones((c,), self.dtype))
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
        return (x - mean) / jnp.sqrt(var + BN_EPS) * scale + bias


class Sequential(nn.Module):
    """The spec's layer list as one Flax module; each parameterised layer is a child named as in the spec."""

    spec: Network
    dropout_on: bool = True
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: Array, training: bool = True, key: Array | None = None) -> Array:
        for i, layer in enumerate(self.spec.layers):
            if layer.kind == "bn":
                x = BatchNorm(self.dtype, name=layer.name)(x, training)
            elif layer.has_params:
                x = make_layer(layer, self.dtype)(x)
            elif layer.kind == "dropout":
                if training and self.dropout_on and key is not None:
                    keep = jax.random.bernoulli(jax.random.fold_in(key, i), 1.0 - layer.rate, x.shape)
                    x = jnp.where(keep, x / (1.0 - layer.rate), 0.0).astype(x.dtype)
            else:
                x = apply_plain(layer, x)
        return x


class Net:
    """A network from the spec: its Flax module and its current variables."""

    def __init__(self, net: Network, dropout: bool = True, dtype: str = "float32") -> None:
        self.spec = net
        self.dtype = jnp.dtype(dtype)
        self.module = Sequential(net, dropout, self.dtype)
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


def make_layer(layer: Layer, dtype: Any = jnp.float32) -> nn.Module:
    """The Flax module for a parameterised neutral layer (batch norm: `BatchNorm`); defaults explicit."""
    kw = {"use_bias": layer.bias, "name": layer.name, "dtype": dtype, "param_dtype": dtype, "precision": "highest"}
    if layer.kind == "dense":
        return nn.Dense(layer.units, **kw)
    if layer.kind == "conv":
        window = (layer.kernel, layer.kernel)
        return nn.Conv(layer.units, window, layer.stride, padding=layer.padding.upper(), **kw)
    if layer.kind == "convt":
        pads = convt_pads(layer.kernel, layer.stride, layer.padding)
        window = (layer.kernel, layer.kernel)
        return nn.ConvTranspose(layer.units, window, (layer.stride,) * 2, (pads, pads), transpose_kernel=True, **kw)
    if layer.kind == "bn":
        return BatchNorm(dtype, name=layer.name)
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
        return nn.max_pool(x, (layer.kernel, layer.kernel), (layer.stride, layer.stride), "VALID")
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
