"""Build a network from a neutral layer list; layers carry the spec's names (`fc`, `deconv1`, ...).

Images travel channels-last (N, H, W, C), TensorFlow's native layout, so `flatten` and `reshape`
are plain reshapes in (H, W, C) order and padding is TensorFlow's own "same"/"valid".

Mixed precision is Keras's own: every layer gets the `mixed_bfloat16` / `mixed_float16` dtype policy
(float32 variables, computation in the low dtype); batch norm computes in float32, as Keras's does; the
network's output is cast back to the variables' dtype (bench/precision.py).
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from bench.archs import layer_output_shape
from bench.spec import BN_EPS, BN_MOMENTUM, Layer, Network


class Net:
    """A sequential network whose parameterised layers are Keras layers named as in the spec."""

    def __init__(self, net: Network, dropout: bool = True, seed: int = 0, dtype: str = "float32") -> None:
        """`dtype`: a dtype ("float32", "float64") or a Keras mixed policy ("mixed_bfloat16", "mixed_float16")."""
        self.spec = net
        self.dropout_on = dropout
        self.out_dtype = keras.DTypePolicy(dtype).variable_dtype
        self.layers: dict[str, keras.layers.Layer] = {}
        self.dropouts: dict[int, keras.layers.Dropout] = {}
        shape = tuple(net.input_shape)
        for i, layer in enumerate(net.layers):
            if layer.has_params:
                self.layers[layer.name] = make_layer(layer, dtype)
                self.layers[layer.name].build((None, *shape))
            elif layer.kind == "dropout":
                self.dropouts[i] = keras.layers.Dropout(layer.rate, seed=seed + i, dtype=dtype)
            shape = layer_output_shape(layer, shape)

    def __call__(self, x: tf.Tensor, training: bool = True) -> tf.Tensor:
        for i, layer in enumerate(self.spec.layers):
            x = self.apply_layer(i, layer, x, training)
        return tf.cast(x, self.out_dtype)

    def apply_layer(self, i: int, layer: Layer, x: tf.Tensor, training: bool) -> tf.Tensor:
        kind = layer.kind
        if kind == "bn":
            return self.layers[layer.name](x, training=training)
        if layer.has_params:
            return self.layers[layer.name](x)
        if kind == "act":
            return activation(layer, x)
        if kind == "dropout":
            return self.dropouts[i](x, training=training and self.dropout_on)
        if kind == "flatten":
            return tf.reshape(x, (-1, math.prod(x.shape[1:])))
        if kind == "reshape":
            return tf.reshape(x, (-1, *layer.shape))
        if kind == "upsample":
            return tf.repeat(tf.repeat(x, layer.stride, axis=1), layer.stride, axis=2)
        if kind == "maxpool":
            return tf.nn.max_pool2d(x, layer.kernel, layer.stride, "VALID")
        raise ValueError(f"unknown layer kind {kind!r}")

    @property
    def trainable_variables(self) -> list[tf.Variable]:
        return [v for lay in self.layers.values() for v in lay.trainable_variables]

    def named_variables(self) -> dict[str, keras.Variable]:
        """Every variable keyed `{layer}.{kernel|bias|gamma|beta|moving_mean|moving_variance}`."""
        return {f"{name}.{v.name}": v for name, lay in self.layers.items() for v in lay.weights}


class BatchNorm(keras.layers.BatchNormalization):
    """Keras batch norm whose moving variance averages the UNBIASED batch variance, as PyTorch does.

    Keras averages the biased variance, so after training the two frameworks' inference-mode outputs
    (the generated samples FID sees) differ: by a factor n/(n-1) per update, 1.6% for a dense layer at
    batch 64. Normalisation itself uses the biased variance in both frameworks, as here.
    """

    def call(self, inputs, training=None, mask=None):
        if not training:
            return super().call(inputs, training=False)
        x = tf.cast(inputs, self.moving_mean.dtype)  # statistics in float32 under mixed precision, as Keras's BN
        mean, var = tf.nn.moments(x, self._reduction_axes)
        n = tf.cast(tf.size(x) // tf.shape(x)[-1], x.dtype)
        self.moving_mean.assign(self.moving_mean * (1.0 - BN_MOMENTUM) + mean * BN_MOMENTUM)
        self.moving_variance.assign(self.moving_variance * (1.0 - BN_MOMENTUM) + var * (n / (n - 1.0)) * BN_MOMENTUM)
        out = tf.nn.batch_normalization(x, mean, var, self.beta, self.gamma, self.epsilon)
        return tf.cast(out, self.compute_dtype)


def make_layer(layer: Layer, dtype: str = "float32") -> keras.layers.Layer:
    """The Keras layer for a parameterised neutral layer; every default is set explicitly."""
    pad, name = layer.padding, layer.name
    if layer.kind == "dense":
        return keras.layers.Dense(layer.units, use_bias=layer.bias, name=name, dtype=dtype)
    if layer.kind == "conv":
        return keras.layers.Conv2D(
            layer.units, layer.kernel, layer.stride, padding=pad, use_bias=layer.bias, name=name, dtype=dtype
        )
    if layer.kind == "convt":
        return keras.layers.Conv2DTranspose(
            layer.units, layer.kernel, layer.stride, padding=pad, use_bias=layer.bias, name=name, dtype=dtype
        )
    if layer.kind == "bn":
        return BatchNorm(momentum=1.0 - BN_MOMENTUM, epsilon=BN_EPS, name=name, dtype=dtype)
    raise ValueError(f"layer kind {layer.kind!r} has no parameters")


def activation(layer: Layer, x: tf.Tensor) -> tf.Tensor:
    if layer.act == "relu":
        return tf.nn.relu(x)
    if layer.act == "lrelu":
        if x.dtype == tf.float64:  # the op's alpha is a float32 attribute: 0.2 would be off by 1.5e-8
            return tf.where(x > 0, x, x * layer.alpha)
        return tf.nn.leaky_relu(x, layer.alpha)
    if layer.act == "tanh":
        return tf.tanh(x)
    if layer.act == "sigmoid":
        return tf.sigmoid(x)
    raise ValueError(f"unknown activation {layer.act!r}")
