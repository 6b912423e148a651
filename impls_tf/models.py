"""G and D from the neutral spec, and canonical weights in and out."""

from __future__ import annotations

import numpy as np

from bench.convert import check_keys, to_canonical, to_framework
from bench.spec import Arch
from bench.weights import arch_shapes
from impls_tf.layers import Net


def build_models(arch: Arch, dropout: bool = True, seed: int = 0, dtype: str = "float32") -> tuple[Net, Net]:
    return Net(arch.generator, dropout, seed, dtype), Net(arch.discriminator, dropout, seed + 1000, dtype)


def framework_tensors(g: Net, d: Net) -> dict:
    """Variables keyed `G.fc.kernel` (TensorFlow layout)."""
    return {f"{p}.{k}": v for p, net in (("G", g), ("D", d)) for k, v in net.named_variables().items()}


def load_weights(g: Net, d: Net, arch: Arch, weights: dict[str, np.ndarray]) -> None:
    """Assign canonical weights; any missing, unexpected or mis-shaped key is an error."""
    variables = framework_tensors(g, d)
    converted = to_framework("tf", arch, weights)
    check_keys({k: tuple(v.shape) for k, v in variables.items()}, converted, "weights into TensorFlow")
    check_keys(arch_shapes(arch), weights, "canonical weights")
    for k, v in variables.items():
        v.assign(np.ascontiguousarray(converted[k]))


def export_weights(g: Net, d: Net, arch: Arch) -> dict[str, np.ndarray]:
    tensors = {k: np.array(v.numpy()) for k, v in framework_tensors(g, d).items()}
    return to_canonical("tf", arch, tensors)


def count_trainable(g: Net, d: Net) -> int:
    """Trainable parameters of both networks, counted by the framework itself (not from the spec)."""
    return sum(int(np.prod(v.shape)) for net in (g, d) for v in net.trainable_variables)
