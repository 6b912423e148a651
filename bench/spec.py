"""Dataclasses that describe models, variants and runs, with no framework code.

Every implementation package (`impls_<framework>/`) builds from these; parity tests check they agree.
Shapes are channels-last (H, W, C); the PyTorch side converts at its edges.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from bench.objectives import get_objective

# Layer kinds understood by both framework builders.
LAYER_KINDS = (
    "dense",  # units, bias
    "conv",  # units=filters, kernel, stride, padding, bias
    "convt",  # transposed conv, same fields as conv
    "bn",  # batch norm, eps 1e-5, momentum 0.1 (PyTorch terms) on both sides
    "act",  # act in ACTIVATIONS, alpha for lrelu
    "dropout",  # rate
    "reshape",  # shape (H, W, C)
    "flatten",  # channels-last (H, W, C) order on both sides
    "upsample",  # nearest, factor=stride
    "maxpool",  # window=stride=kernel
)
ACTIVATIONS = ("relu", "lrelu", "tanh", "sigmoid")
BN_EPS = 1e-5
BN_MOMENTUM = 0.1  # PyTorch convention; Keras momentum = 1 - this


@dataclass(frozen=True)
class Layer:
    """One layer of a network; parameterised layers carry a name shared by every framework."""

    kind: str
    name: str = ""
    units: int = 0
    kernel: int = 0
    stride: int = 1
    padding: str = "same"
    bias: bool = True
    act: str = ""
    alpha: float = 0.0
    rate: float = 0.0
    shape: tuple[int, ...] = ()

    @property
    def has_params(self) -> bool:
        return self.kind in ("dense", "conv", "convt", "bn")


def dense(name: str, units: int, bias: bool = True) -> Layer:
    return Layer("dense", name, units=units, bias=bias)


def conv(name: str, filters: int, k: int, s: int, padding: str = "same", bias: bool = True) -> Layer:
    return Layer("conv", name, units=filters, kernel=k, stride=s, padding=padding, bias=bias)


def convt(name: str, filters: int, k: int, s: int, padding: str = "same", bias: bool = True) -> Layer:
    return Layer("convt", name, units=filters, kernel=k, stride=s, padding=padding, bias=bias)


def bn(name: str) -> Layer:
    return Layer("bn", name)


def act(kind: str, alpha: float = 0.0) -> Layer:
    if kind not in ACTIVATIONS:
        raise ValueError(f"unknown activation {kind!r}")
    return Layer("act", act=kind, alpha=alpha)


def lrelu(alpha: float) -> Layer:
    return act("lrelu", alpha)


def dropout(rate: float) -> Layer:
    return Layer("dropout", rate=rate)


def reshape(*shape: int) -> Layer:
    return Layer("reshape", shape=tuple(shape))


def flatten() -> Layer:
    return Layer("flatten")


def upsample(factor: int = 2) -> Layer:
    return Layer("upsample", stride=factor)


def maxpool(size: int = 2) -> Layer:
    return Layer("maxpool", kernel=size, stride=size)


@dataclass(frozen=True)
class Network:
    """A sequential network: input shape (channels-last) and its layers."""

    name: str  # "G" or "D"
    input_shape: tuple[int, ...]
    layers: tuple[Layer, ...]


@dataclass(frozen=True)
class Arch:
    """A generator/discriminator pair with its noise and data conventions."""

    name: str
    generator: Network
    discriminator: Network
    z_dim: int
    noise: str  # "uniform" (-1, 1) or "normal" (0, 1)
    image_shape: tuple[int, int, int]  # H, W, C
    data_range: tuple[float, float]  # range the real data is scaled to
    init: str  # "fan_in_uniform" or "dcgan"
    n_classes: int = 0  # > 0 when G takes a one-hot label (cgan)


@dataclass(frozen=True)
class OptimizerSpec:
    """One update rule, computed identically by every framework (see impls_*/optim.py).

    adam:    m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
             p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)   (PyTorch's rule)
    rmsprop: v = alpha v + (1-alpha) g^2; p -= lr * g / (sqrt(v) + eps)  (not centred)
    """

    name: str  # "adam" or "rmsprop"
    lr: float
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    alpha: float = 0.99  # rmsprop decay


@dataclass(frozen=True)
class Variant:
    """A named entry of the registry: architecture, objective, data and training setup."""

    name: str
    arch: str
    objective: str
    dataset: str
    batch_size: int
    optimizer: OptimizerSpec
    n_critic: int = 1
    critic_bn: bool = True
    labeled_fraction: float = 1.0
    notes: str = ""

    @property
    def d_out(self) -> int:
        """D's output width, as its objective says (bench/objectives.py: the one source of that fact)."""
        return get_objective(self.objective).d_out

    @property
    def g_conditional(self) -> bool:
        """Whether G takes a class label, as its objective says."""
        return get_objective(self.objective).conditional


@dataclass(frozen=True)
class RunSpec:
    """Everything a worker needs to perform one run; its hash is the run id."""

    variant: str
    framework: str  # a name in bench/frameworks.py REGISTRY
    seed: int = 0
    steps: int = 30
    warmup: int = 3
    batch_size: int = 0  # 0: the variant's default
    repeat: int = 0
    device: str = "cpu"  # "cpu" or a GPU index such as "0"
    threads: int = 0  # 0: all cores
    deterministic: bool = False
    dataset: str = ""  # "": the variant's dataset
    data_dir: str = ""
    timeout: float = 900.0
    mode: str = ""  # "": the framework's default (bench/frameworks.py: torch eager, tf function, jax jit)
    intervals: int = 10
    fid_samples: int = 0
    labeled_fraction: float = -1.0  # < 0: the variant's value
    suite: str = ""
    jobs: int = 1  # runs sharing the machine at once; above 1 the speed figures are not for comparison
    compile_cache: bool = True  # persistent compilation caches (Inductor, XLA) under $BENCH_CACHE_DIR/compile
    precision: str = "fp32"  # fp32, tf32, bf16 or fp16 (bench/precision.py says what each means)
    loss_scaler: str = ""  # fp16: "per-network" ("": the default) or "shared"
    checkpoint_every: int = 0  # timed steps between checkpoints (bench/checkpoint.py); 0: none
    eval_every: int = 0  # timed steps between scored sample sets: FID along training (bench/evals.py); 0: none
    extra: dict[str, Any] = field(default_factory=dict)

    # Fields that do not change what is measured, so they are left out of the id.
    _NOT_IN_ID = ("timeout", "suite", "data_dir", "checkpoint_every")  # checkpoints change no result

    @property
    def run_id(self) -> str:
        d = {k: v for k, v in self.to_dict().items() if k not in self._NOT_IN_ID}
        if d["jobs"] == 1:
            del d["jobs"]  # runs recorded before the field existed keep their ids
        if d["compile_cache"]:
            del d["compile_cache"]  # likewise
        if d["precision"] == "fp32":
            del d["precision"]  # likewise: every run before precisions existed was fp32
        if not d["loss_scaler"]:
            del d["loss_scaler"]
        if not d["eval_every"]:
            del d["eval_every"]  # likewise; a run scored along training holds more results, so has its own id
        blob = json.dumps(d, sort_keys=True).encode()
        return f"{self.variant}-{self.framework}-s{self.seed}-r{self.repeat}-{hashlib.sha1(blob).hexdigest()[:10]}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSpec:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def with_(self, **changes: Any) -> RunSpec:
        return replace(self, **changes)


@dataclass(frozen=True)
class ResolvedRun:
    """A run as it will be performed: the spec as the user gave it (its hash stays the run id) and every
    "0 / '' / -1: the variant's own value" field filled in. Built by `bench.validate.resolve` only, which
    checks the spec first; everything downstream reads these fields, not the spec's."""

    spec: RunSpec
    variant: Variant
    arch: Arch
    batch_size: int
    dataset: str
    data_dir: str | None  # None: the default places (the packaged copy, the cache)
    labeled_fraction: float
    mode: str

    @property
    def run_id(self) -> str:
        return self.spec.run_id

    def columns(self) -> dict[str, Any]:
        """The run's identity columns in every table: the one place both the worker and the orchestrator
        take them from."""
        s = self.spec
        return {
            "suite": s.suite,
            "variant": s.variant,
            "framework": s.framework,
            "mode": self.mode,
            "precision": s.precision,
            "arch": self.arch.name,
            "objective": self.variant.objective,
            "seed": s.seed,
            "repeat": s.repeat,
            "batch_size": self.batch_size,
            "steps": s.steps,
            "warmup": s.warmup,
            "n_critic": self.variant.n_critic,
            "device": s.device,
            "deterministic": s.deterministic,
            "jobs": s.jobs,
            "labeled_fraction": self.labeled_fraction,
            "data_dir": s.data_dir,
            "dataset": self.dataset,
            "threads": s.threads,
        }
