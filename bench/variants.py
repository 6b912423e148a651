"""The registry of named variants (docs/variants.md, "Named variants"); objectives are in bench/objectives.py."""

from __future__ import annotations

from bench.archs import build_arch
from bench.objectives import N_CLASSES, OBJECTIVES, Objective, get_objective
from bench.spec import Arch, OptimizerSpec, Variant

__all__ = ["N_CLASSES", "OBJECTIVES", "VARIANTS", "get_objective", "get_variant", "objective", "variant_arch"]

_ADAM_DCGAN = OptimizerSpec("adam", 2e-4, 0.5, 0.999)
_ADAM_GP = OptimizerSpec("adam", 1e-4, 0.0, 0.9)
_ADAM_SEED = OptimizerSpec("adam", 1e-3, 0.9, 0.999)

VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("gan", "mlp", "ns", "mnist", 128, OptimizerSpec("adam", 3e-4, 0.5, 0.999)),
        Variant("dcgan", "dcgan28", "ns", "mnist", 64, _ADAM_DCGAN),
        Variant("dcgan-mm", "dcgan28", "mm", "mnist", 64, _ADAM_DCGAN, notes="saturating loss"),
        Variant("lsgan", "dcgan28", "ls", "mnist", 64, _ADAM_DCGAN),
        Variant("wgan", "dcgan28", "wgan", "mnist", 64, OptimizerSpec("rmsprop", 5e-5), n_critic=5),
        Variant("wgan-gp", "dcgan28", "wgan-gp", "mnist", 64, _ADAM_GP, n_critic=5),
        Variant("ssgan", "upsample28", "ssgan", "mnist", 64, _ADAM_SEED),
        Variant("cgan", "upsample28", "cgan", "mnist", 64, _ADAM_SEED),
        Variant("dcgan-cifar", "dcgan32", "ns", "cifar10", 100, _ADAM_DCGAN),
        Variant("wgan-gp-64", "dcgan64", "wgan-gp", "image-folder", 64, _ADAM_GP, n_critic=5, critic_bn=False),
    )
}


def get_variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise KeyError(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")
    return VARIANTS[name]


def batch_size(name: str, given: int = 0) -> int:
    """A batch size as given, 0 meaning the variant's own: the rule everything that reads a batch size shares."""
    return given or get_variant(name).batch_size


def variant_arch(v: Variant) -> Arch:
    """The architecture instance a variant trains (D width, G label input, critic BN applied)."""
    n_classes = objective(v).n_classes if v.g_conditional else 0
    return build_arch(v.arch, d_out=v.d_out, n_classes=n_classes, critic_bn=v.critic_bn)


def objective(v: Variant) -> Objective:
    """The variant's objective record (bench/objectives.py)."""
    return get_objective(v.objective)
