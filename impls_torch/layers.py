"""Build a network from a neutral layer list; layers carry the spec's names (`fc`, `deconv1`, ...).

Images travel channels-first (N, C, H, W) inside; `flatten` and `reshape` use (H, W, C) order so
dense weights match the canonical (channels-last) layout. Padding follows TensorFlow's rules
exactly: "same" pads the extra row/column at the bottom/right, and a "same" transposed conv keeps
the rows TensorFlow keeps. Where the two sides' padding is equal, the module's own `padding` does it
(faster than a separate pad or crop); only the asymmetric remainder is padded or cropped by hand.
Images are square in every spec architecture, so one padding value serves both axes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bench.archs import layer_output_shape
from bench.spec import BN_EPS, BN_MOMENTUM, Layer, Network


def same_pads(n: int, k: int, s: int) -> tuple[int, int]:
    """(before, after) padding of TensorFlow's "same" convolution along one axis."""
    out = math.ceil(n / s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def convt_crop(n: int, k: int, s: int) -> int:
    """Rows TensorFlow drops before a "same" transposed conv's output (length n*s)."""
    if k < s:
        raise ValueError("same transposed conv with kernel < stride is not supported")
    return (k - s) // 2


class Net(nn.Module):
    """A sequential network whose parameterised layers are attributes named as in the spec."""

    def __init__(self, net: Network, dropout: bool = True) -> None:
        super().__init__()
        self.spec = net
        self.dropout_on = dropout
        shape = tuple(net.input_shape)
        for layer in net.layers:
            if layer.has_params:
                self.add_module(layer.name, make_layer(layer, shape))
            shape = layer_output_shape(layer, shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.spec.layers:
            x = self.apply_layer(layer, x)
        return x

    def apply_layer(self, layer: Layer, x: torch.Tensor) -> torch.Tensor:
        kind = layer.kind
        if kind == "conv" and layer.padding == "same":
            (t, b), (lf, r) = (same_pads(n, layer.kernel, layer.stride) for n in x.shape[2:])
            if (t, lf) != (b, r):  # the module pads min(before, after) itself; F.pad adds the rest
                x = F.pad(x, (0, r - lf, 0, b - t))
            return getattr(self, layer.name)(x)
        if kind == "convt" and layer.padding == "same":
            h, w = x.shape[2:]
            y = getattr(self, layer.name)(x)  # the module already dropped `before` rows and columns
            return y[:, :, : h * layer.stride, : w * layer.stride]
        if layer.has_params:
            return getattr(self, layer.name)(x)
        if kind == "act":
            return activation(layer, x)
        if kind == "dropout":
            return F.dropout(x, layer.rate, training=self.training and self.dropout_on)
        if kind == "flatten":
            return x.permute(0, 2, 3, 1).flatten(1) if x.dim() == 4 else x.flatten(1)
        if kind == "reshape":
            return x.reshape(x.shape[0], *layer.shape).permute(0, 3, 1, 2).contiguous()
        if kind == "upsample":
            return F.interpolate(x, scale_factor=layer.stride, mode="nearest")
        if kind == "maxpool":
            return F.max_pool2d(x, layer.kernel, layer.stride)
        raise ValueError(f"unknown layer kind {kind!r}")


def make_layer(layer: Layer, shape: tuple[int, ...]) -> nn.Module:
    """The parameterised module for `layer` given its input shape (channels-last)."""
    if layer.kind == "dense":
        return nn.Linear(math.prod(shape), layer.units, bias=layer.bias)
    if layer.kind == "conv":
        pad = min(same_pads(shape[0], layer.kernel, layer.stride)) if layer.padding == "same" else 0
        return nn.Conv2d(shape[-1], layer.units, layer.kernel, layer.stride, padding=pad, bias=layer.bias)
    if layer.kind == "convt":
        pad = convt_crop(shape[0], layer.kernel, layer.stride) if layer.padding == "same" else 0
        return nn.ConvTranspose2d(shape[-1], layer.units, layer.kernel, layer.stride, padding=pad, bias=layer.bias)
    if layer.kind == "bn":
        cls = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
        return cls(shape[-1], eps=BN_EPS, momentum=BN_MOMENTUM)
    raise ValueError(f"layer kind {layer.kind!r} has no parameters")


def activation(layer: Layer, x: torch.Tensor) -> torch.Tensor:
    if layer.act == "relu":
        return F.relu(x)
    if layer.act == "lrelu":
        return F.leaky_relu(x, layer.alpha)
    if layer.act == "tanh":
        return torch.tanh(x)
    if layer.act == "sigmoid":
        return torch.sigmoid(x)
    raise ValueError(f"unknown activation {layer.act!r}")
