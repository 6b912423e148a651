"""Optimisers with the update rules of `bench.spec.OptimizerSpec`.

PyTorch's own Adam and RMSprop (non-centred) already compute those rules; every hyper-parameter is
passed explicitly so that no framework default decides anything.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from bench.spec import OptimizerSpec


def make_optimizer(spec: OptimizerSpec, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    if spec.name == "adam":
        return torch.optim.Adam(
            params, lr=spec.lr, betas=(spec.beta1, spec.beta2), eps=spec.eps, weight_decay=0.0, amsgrad=False
        )
    if spec.name == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=spec.lr, alpha=spec.alpha, eps=spec.eps, weight_decay=0.0, momentum=0.0, centered=False
        )
    raise ValueError(f"unknown optimiser {spec.name!r}")


def optimizer_state(opt: torch.optim.Optimizer, names: dict[torch.nn.Parameter, str]) -> dict[str, np.ndarray]:
    """Optimiser slots as numpy arrays keyed `{param}.{slot}` (m, v for Adam; v for RMSprop)."""
    slot_names = {"exp_avg": "m", "exp_avg_sq": "v", "square_avg": "v"}
    out = {}
    for p, st in opt.state.items():
        for k, v in st.items():
            if k in slot_names:
                out[f"{names[p]}.{slot_names[k]}"] = v.detach().cpu().numpy().copy()  # a snapshot, not a view
    return out
