"""Canonical parameter layout and the harness's initial-weight draw (numpy only).

Canonical layout (channels-last, one name per tensor, shared by every framework):
- dense  `{layer}.weight` (in, out), `{layer}.bias` (out,); a dense after `flatten` reads its
  input in (H, W, C) order and a dense before `reshape` writes (H, W, C) order;
- conv   `{layer}.weight` (kh, kw, in, out), `{layer}.bias` (out,);
- convt  `{layer}.weight` (kh, kw, in, out) — maps input channel `in` to output channel `out`;
- bn     `{layer}.weight` (gamma), `{layer}.bias` (beta), `{layer}.running_mean`, `{layer}.running_var`.
Names are prefixed with the network: `G.fc.weight`, `D.conv1.bias`.
"""

from __future__ import annotations

import math

import numpy as np

from bench.archs import layer_output_shape
from bench.spec import Arch, Network

BN_BUFFERS = ("running_mean", "running_var")


def param_shapes(net: Network) -> dict[str, tuple[int, ...]]:
    """Every canonical tensor of `net` (parameters and BN buffers) with its shape, in build order."""
    out: dict[str, tuple[int, ...]] = {}
    shape = tuple(net.input_shape)
    for layer in net.layers:
        p = f"{net.name}.{layer.name}"
        if layer.kind == "dense":
            out[f"{p}.weight"] = (int(np.prod(shape)), layer.units)
            if layer.bias:
                out[f"{p}.bias"] = (layer.units,)
        elif layer.kind in ("conv", "convt"):
            out[f"{p}.weight"] = (layer.kernel, layer.kernel, shape[-1], layer.units)
            if layer.bias:
                out[f"{p}.bias"] = (layer.units,)
        elif layer.kind == "bn":
            for n in ("weight", "bias", *BN_BUFFERS):
                out[f"{p}.{n}"] = (shape[-1],)
        shape = layer_output_shape(layer, shape)
    return out


def arch_shapes(arch: Arch) -> dict[str, tuple[int, ...]]:
    return {**param_shapes(arch.generator), **param_shapes(arch.discriminator)}


def is_trainable(name: str) -> bool:
    return not name.endswith(BN_BUFFERS)


def count_params(shapes: dict[str, tuple[int, ...]], prefix: str = "") -> int:
    """Trainable parameter count (BN running statistics excluded), optionally of one network."""
    return sum(int(np.prod(s)) for n, s in shapes.items() if n.startswith(prefix) and is_trainable(n))


def init_weights(arch: Arch, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw the initial weights for `arch`, G then D in build order, as float32 canonical arrays.

    `fan_in_uniform` (mlp): weights and biases ~ U(+-1/sqrt(fan_in)), PyTorch's nn.Linear default.
    `dcgan` (conv archs): weights ~ N(0, 0.02), biases 0. Batch norm in both: gamma ~ N(1, 0.02),
    beta 0, running mean 0, running variance 1.
    """
    weights: dict[str, np.ndarray] = {}
    for net in (arch.generator, arch.discriminator):
        shapes = param_shapes(net)
        for layer in net.layers:
            if not layer.has_params:
                continue
            p = f"{net.name}.{layer.name}"
            w_shape = shapes[f"{p}.weight"]
            if layer.kind == "bn":
                drawn = {"weight": rng.normal(1.0, 0.02, w_shape), "bias": np.zeros(w_shape)}
                drawn.update(running_mean=np.zeros(w_shape), running_var=np.ones(w_shape))
            elif arch.init == "fan_in_uniform":
                bound = 1.0 / math.sqrt(int(np.prod(w_shape[:-1])))
                drawn = {"weight": rng.uniform(-bound, bound, w_shape)}
                if layer.bias:
                    drawn["bias"] = rng.uniform(-bound, bound, (layer.units,))
            elif arch.init == "dcgan":
                drawn = {"weight": rng.normal(0.0, 0.02, w_shape)}
                if layer.bias:
                    drawn["bias"] = np.zeros((layer.units,))
            else:
                raise ValueError(f"unknown init scheme {arch.init!r}")
            for n, a in drawn.items():
                weights[f"{p}.{n}"] = a.astype(np.float32)
    return weights
