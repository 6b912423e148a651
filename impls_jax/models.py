"""G and D from the neutral spec, and canonical weights in and out."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from bench.convert import check_keys, to_canonical, to_framework
from bench.spec import Arch
from bench.weights import arch_shapes
from impls_jax.layers import Net


def build_models(arch: Arch, dropout: bool = True, dtype: str = "float32", compute: str = "") -> tuple[Net, Net]:
    """G and D with parameters in `dtype`, computing in `compute` ("": `dtype`)."""
    return Net(arch.generator, dropout, dtype, compute), Net(arch.discriminator, dropout, dtype, compute)


def _flat(tree: dict) -> dict[str, jax.Array]:
    """{layer: {leaf: array}} -> {"layer.leaf": array}."""
    return {f"{layer}.{leaf}": a for layer, leaves in tree.items() for leaf, a in leaves.items()}


def framework_tensors(g: Net, d: Net) -> dict[str, jax.Array]:
    """Parameters and BN statistics keyed `G.fc.kernel` (Flax layout)."""
    return {
        f"{p}.{k}": a for p, net in (("G", g), ("D", d)) for k, a in {**_flat(net.params), **_flat(net.stats)}.items()
    }


def _tree(flat: dict[str, np.ndarray], like: dict, dtype) -> dict:
    """The arrays of `flat` ("layer.leaf") arranged as the pytree `like`."""
    return {
        layer: {leaf: jnp.asarray(flat[f"{layer}.{leaf}"], dtype) for leaf in leaves} for layer, leaves in like.items()
    }


def load_weights(g: Net, d: Net, arch: Arch, weights: dict[str, np.ndarray]) -> None:
    """Put canonical weights in; any missing, unexpected or mis-shaped key is an error."""
    tensors = framework_tensors(g, d)
    converted = to_framework("jax", arch, weights)
    check_keys({k: tuple(a.shape) for k, a in tensors.items()}, converted, "weights into JAX")
    check_keys(arch_shapes(arch), weights, "canonical weights")
    for prefix, net in (("G", g), ("D", d)):
        mine = {
            k[len(prefix) + 1 :]: np.ascontiguousarray(a) for k, a in converted.items() if k.startswith(prefix + ".")
        }
        net.params, net.stats = _tree(mine, net.params, net.dtype), _tree(mine, net.stats, net.dtype)


def export_weights(g: Net, d: Net, arch: Arch) -> dict[str, np.ndarray]:
    tensors = {k: np.array(a) for k, a in framework_tensors(g, d).items()}
    return to_canonical("jax", arch, tensors)


def count_trainable(g: Net, d: Net) -> int:
    """Trainable parameters of both networks, counted from the framework's own trees (not from the spec)."""
    return sum(int(a.size) for net in (g, d) for a in jax.tree_util.tree_leaves(net.params))
