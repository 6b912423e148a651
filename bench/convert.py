"""Weight conversion between the canonical layout, PyTorch and TensorFlow (numpy only).

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

import numpy as np

from bench.errors import BenchError
from bench.spec import Arch

_TF_BN = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}
_TO_TORCH = {"dense": (1, 0), "conv": (3, 2, 0, 1), "convt": (2, 3, 0, 1)}
_TO_TF = {"dense": (0, 1), "conv": (0, 1, 2, 3), "convt": (0, 1, 3, 2)}


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


def canonical_to_torch(arch: Arch, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    kinds = layer_kinds(arch)
    out = {}
    for name, a in weights.items():
        prefix, leaf = _split(name)
        kind = kinds.get(prefix, "")
        out[name] = a.transpose(_TO_TORCH[kind]) if leaf == "weight" and kind in _TO_TORCH else a
    return out


def torch_to_canonical(arch: Arch, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    kinds = layer_kinds(arch)
    out = {}
    for name, a in tensors.items():
        prefix, leaf = _split(name)
        kind = kinds.get(prefix, "")
        out[name] = a.transpose(np.argsort(_TO_TORCH[kind])) if leaf == "weight" and kind in _TO_TORCH else a
    return out


def canonical_to_tf(arch: Arch, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    kinds = layer_kinds(arch)
    out = {}
    for name, a in weights.items():
        prefix, leaf = _split(name)
        kind = kinds.get(prefix, "")
        if kind == "bn":
            out[f"{prefix}.{_TF_BN[leaf]}"] = a
        elif leaf == "weight":
            out[f"{prefix}.kernel"] = a.transpose(_TO_TF[kind]) if kind in _TO_TF else a
        else:
            out[name] = a
    return out


def tf_to_canonical(arch: Arch, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    kinds = layer_kinds(arch)
    back_bn = {v: k for k, v in _TF_BN.items()}
    out = {}
    for name, a in tensors.items():
        prefix, leaf = _split(name)
        kind = kinds.get(prefix, "")
        if kind == "bn" and leaf in back_bn:
            out[f"{prefix}.{back_bn[leaf]}"] = a
        elif leaf == "kernel":
            out[f"{prefix}.weight"] = a.transpose(np.argsort(_TO_TF[kind])) if kind in _TO_TF else a
        else:
            out[name] = a
    return out


def slots_to_canonical(
    arch: Arch, slots: dict[str, np.ndarray], to_canonical: Callable[[Arch, dict], dict]
) -> dict[str, np.ndarray]:
    """Optimiser slots keyed `{param}.{slot}` in a framework's layout -> canonical names and layout.

    A slot (Adam's m and v, RMSprop's v) has its parameter's shape, so it converts as the parameter;
    `to_canonical` is `torch_to_canonical` or `tf_to_canonical`.
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
