"""Weight conversion between the canonical layout and each framework's (numpy only).

Each framework's layout is data in its registry entry (bench/frameworks.py `Layout`).

Driven by the neutral layer names: canonical `G.deconv1.weight` is PyTorch's `G.deconv1.weight`
and Keras's `G.deconv1.kernel`. Layouts:

| layer | canonical        | PyTorch            | TensorFlow / Keras |
|-------|------------------|--------------------|--------------------|
| dense | (in, out)        | (out, in)          | (in, out)          |
| conv  | (kh, kw, in, out)| (out, in, kh, kw)  | (kh, kw, in, out)  |
| convt | (kh, kw, in, out)| (in, out, kh, kw)  | (kh, kw, out, in)  |
| bn    | weight, bias, running_mean, running_var | same names | gamma, beta, moving_mean, moving_variance |

Loading reports missing, unexpected and shape-mismatched keys instead of skipping them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from bench.errors import BenchError
from bench.frameworks import REGISTRY
from bench.spec import Arch


def layer_kinds(arch: Arch) -> dict[str, str]:
    """`G.fc` -> "dense" for every parameterised layer of both networks."""
    return {
        f"{net.name}.{layer.name}": layer.kind
        for net in (arch.generator, arch.discriminator)
        for layer in net.layers
        if layer.has_params
    }


def _split(name: str) -> tuple[str, str]:
    prefix, leaf = name.rsplit(".", 1)
    return prefix, leaf


def to_framework(framework: str, arch: Arch, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Canonical names and layout -> the framework's (its `Layout` in bench/frameworks.py)."""
    layout, kinds, out = REGISTRY[framework].layout, layer_kinds(arch), {}
    for name, a in weights.items():
        prefix, leaf = _split(name)
        kind = kinds.get(prefix, "")
        if kind == "bn":
            out[f"{prefix}.{layout.bn.get(leaf, leaf)}"] = a
        elif leaf == "weight":
            out[f"{prefix}.{layout.weight}"] = a.transpose(layout.axes[kind]) if kind in layout.axes else a
        else:
            out[name] = a
    return out


def to_canonical(framework: str, arch: Arch, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The framework's names and layout -> canonical ones."""
    layout, kinds, out = REGISTRY[framework].layout, layer_kinds(arch), {}
    back_bn = {v: k for k, v in layout.bn.items()}
    for name, a in tensors.items():
        prefix, leaf = _split(name)
        kind = kinds.get(prefix, "")
        if kind == "bn":
            out[f"{prefix}.{back_bn.get(leaf, leaf)}"] = a
        elif leaf == layout.weight:
            out[f"{prefix}.weight"] = a.transpose(np.argsort(layout.axes[kind])) if kind in layout.axes else a
        else:
            out[name] = a
    return out


def slots_to_canonical(
    arch: Arch, slots: dict[str, np.ndarray], to_canonical: Callable[[Arch, dict], dict]
) -> dict[str, np.ndarray]:
    """Optimiser slots keyed `{param}.{slot}` in a framework's layout -> canonical names and layout.

    A slot (Adam's m and v, RMSprop's v) has its parameter's shape, so it converts as the parameter;
    `to_canonical` is a framework's converter (`converter(name, "from")`).
    """
    groups: dict[str, dict[str, np.ndarray]] = {}
    for key, a in slots.items():
        param, slot = key.rsplit(".", 1)
        groups.setdefault(slot, {})[param] = a
    return {f"{k}.{slot}": a for slot, group in groups.items() for k, a in to_canonical(arch, group).items()}


@dataclass
class KeyReport:
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def __str__(self) -> str:
        parts = [f"{k}: {', '.join(v)}" for k, v in vars(self).items() if v]
        return "; ".join(parts) or "all keys match"


def compare_keys(expected: dict[str, tuple[int, ...]], got: dict[str, np.ndarray]) -> KeyReport:
    """Missing, unexpected and shape-mismatched keys of `got` against `expected` shapes."""
    rep = KeyReport()
    rep.missing = sorted(set(expected) - set(got))
    rep.unexpected = sorted(set(got) - set(expected))
    rep.mismatched = [
        f"{k} {tuple(got[k].shape)} != {tuple(expected[k])}"
        for k in sorted(set(expected) & set(got))
        if tuple(got[k].shape) != tuple(expected[k])
    ]
    return rep


def check_keys(expected: dict[str, tuple[int, ...]], got: dict[str, np.ndarray], what: str) -> None:
    rep = compare_keys(expected, got)
    if not rep.ok:
        raise BenchError(f"cannot load {what}: {rep}")


def converter(name: str, direction: str) -> Callable:
    """f(arch, weights) converting canonical weights to this framework's layout ("to") or back ("from")."""
    return partial(to_framework if direction == "to" else to_canonical, name)
