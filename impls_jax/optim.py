"""Optimisers with the update rules of `bench.spec.OptimizerSpec`, from Optax.

Optax's Adam is PyTorch's rule (p -= lr * m_hat / (sqrt(v_hat) + eps), eps outside the root). Optax's
RMSprop puts eps INSIDE the square root by default; `eps_in_sqrt=False` gives PyTorch's
p -= lr * g / (sqrt(v) + eps). Every hyper-parameter is passed explicitly.
"""

from __future__ import annotations

import jax
import numpy as np
import optax

from bench.spec import OptimizerSpec


def make_optimizer(spec: OptimizerSpec) -> optax.GradientTransformation:
    if spec.name == "adam":
        return optax.adam(spec.lr, b1=spec.beta1, b2=spec.beta2, eps=spec.eps, eps_root=0.0, nesterov=False)
    if spec.name == "rmsprop":
        return optax.rmsprop(
            spec.lr, decay=spec.alpha, eps=spec.eps, initial_scale=0.0, eps_in_sqrt=False, centered=False, momentum=None
        )
    raise ValueError(f"unknown optimiser {spec.name!r}")


def optimizer_state(state, prefix: str) -> dict[str, np.ndarray]:
    """Optimiser slots as numpy arrays keyed `{param}.{slot}` (m, v for Adam; v for RMSprop)."""
    out: dict[str, np.ndarray] = {}
    for s in jax.tree_util.tree_leaves(state, is_leaf=lambda x: hasattr(x, "nu")):
        if not hasattr(s, "nu"):
            continue
        slots = {"m": s.mu, "v": s.nu} if hasattr(s, "mu") else {"v": s.nu}
        for slot, tree in slots.items():
            for layer, leaves in tree.items():
                out.update({f"{prefix}.{layer}.{leaf}.{slot}": np.array(a) for leaf, a in leaves.items()})
    return out
