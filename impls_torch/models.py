"""G and D from the neutral spec, and canonical weights in and out."""

from __future__ import annotations

import numpy as np
import torch

from bench.convert import check_keys, to_canonical, to_framework
from bench.spec import Arch
from bench.weights import arch_shapes
from impls_torch.layers import Net


def build_models(arch: Arch, dropout: bool = True) -> tuple[Net, Net]:
    return Net(arch.generator, dropout), Net(arch.discriminator, dropout)


def framework_tensors(g: Net, d: Net) -> dict[str, torch.Tensor]:
    """Parameters and BN buffers, keyed `G.fc.weight` (PyTorch layout)."""
    out: dict[str, torch.Tensor] = {}
    for prefix, net in (("G", g), ("D", d)):
        for name, t in [*net.named_parameters(), *net.named_buffers()]:
            if not name.endswith("num_batches_tracked"):
                out[f"{prefix}.{name}"] = t
    return out


def load_weights(g: Net, d: Net, arch: Arch, weights: dict[str, np.ndarray]) -> None:
    """Copy canonical weights in; any missing, unexpected or mis-shaped key is an error."""
    tensors = framework_tensors(g, d)
    converted = to_framework("torch", arch, weights)
    check_keys({k: tuple(t.shape) for k, t in tensors.items()}, converted, "weights into PyTorch")
    check_keys(arch_shapes(arch), weights, "canonical weights")
    with torch.no_grad():
        for k, t in tensors.items():
            t.copy_(torch.from_numpy(np.ascontiguousarray(converted[k])))


def export_weights(g: Net, d: Net, arch: Arch) -> dict[str, np.ndarray]:
    tensors = {k: t.detach().cpu().numpy().copy() for k, t in framework_tensors(g, d).items()}
    return to_canonical("torch", arch, tensors)


def count_trainable(g: Net, d: Net) -> int:
    """Trainable parameters of both networks, counted by the framework itself (not from the spec)."""
    return sum(p.numel() for net in (g, d) for p in net.parameters() if p.requires_grad)
