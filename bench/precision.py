"""What each precision means, written once; every framework meets it with its own AMP idiom.

- `fp32`: float32 storage and arithmetic, TF32 off: the parity baseline (and every run's default).
- `tf32`: float32 storage; matmuls and convolutions may use TF32 tensor cores (NVIDIA Ampere or later
  only: a CPU has no TF32, so a tf32 run on a CPU is refused before anything starts).
- `bf16`, `fp16`: mixed precision as each framework's own AMP does it:
  * master weights and optimiser state in float32 (the update is computed in float32);
  * G's and D's forward and backward passes in the low dtype (matmuls, convolutions, activations);
  * batch-norm statistics (and the running averages) in float32;
  * each network's output is cast to float32 at its boundary, so the losses and their reductions, the
    gradient penalty's interpolation and its norm, and every recorded metric are float32;
  * fp16 only: dynamic loss scaling (`LOSS_SCALE`); an update whose unscaled gradients hold an inf or
    NaN is skipped (weights and optimiser state unchanged), the scale is halved, and the skip is
    counted; after `growth_interval` finite updates in a row the scale doubles. The gradient
    penalty's inner gradient is taken of the scaled critic output and divided by the scale before its
    norm (pytorch/pytorch#25081: a penalty on scaled gradients is off by the scale factor).
  * loss scalers: one per network (`per-network`, the default: G and D see losses of different size,
    and NVIDIA apex's DCGAN example keeps one per loss; Keras's LossScaleOptimizer is one per optimiser)
    or one for both (`shared`, PyTorch's documented recipe for several losses and optimisers).
bf16 needs no loss scaling: its exponent range is float32's.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.errors import BenchError


@dataclass(frozen=True)
class Precision:
    name: str
    compute_dtype: str  # the dtype of the networks' forward and backward passes
    tf32: bool = False  # float32 matmuls/convolutions may round to TF32
    loss_scaling: bool = False  # dynamic loss scaling (fp16)
    eps: float = 2.0**-24  # unit roundoff of the compute dtype (half the machine epsilon)


@dataclass(frozen=True)
class LossScale:
    """Dynamic loss scaling, the same in every framework (PyTorch GradScaler's defaults but the start, which
    is Keras LossScaleOptimizer's; Keras fixes growth and backoff at 2x, so they are fixed here too)."""

    initial: float = 2.0**15
    growth_interval: int = 2000
    growth: float = 2.0
    backoff: float = 0.5


PRECISIONS: dict[str, Precision] = {
    p.name: p
    for p in (
        Precision("fp32", "float32"),
        Precision("tf32", "float32", tf32=True, eps=2.0**-11),
        Precision("bf16", "bfloat16", eps=2.0**-8),
        Precision("fp16", "float16", loss_scaling=True, eps=2.0**-11),
    )
}
DEFAULT = "fp32"
LOSS_SCALE = LossScale()
LOSS_SCALERS = ("per-network", "shared")
DEFAULT_SCALER = "per-network"


def set_initial_scale(initial: float) -> None:
    """Start every loss scaler made from now on at `initial` (tests: a scale at which fp16 gradients overflow).
    The frameworks read `LOSS_SCALE` when they build a trainer."""
    global LOSS_SCALE
    LOSS_SCALE = LossScale(initial=initial)


def get_precision(name: str) -> Precision:
    if name not in PRECISIONS:
        raise BenchError(f"unknown precision {name!r}; known: {', '.join(PRECISIONS)}")
    return PRECISIONS[name]


def check_device(precision: str, device: str) -> None:
    """tf32 exists on NVIDIA GPUs only (Ampere or later): on a CPU it is refused, with the reason."""
    if precision == "tf32" and device == "cpu":
        raise BenchError(
            "precision tf32 needs an NVIDIA GPU (Ampere or later): a CPU has no TF32 arithmetic, so a tf32 "
            "run there would be float32 under another name; use fp32 or bf16, or --device 0"
        )


def scaler_name(precision: str, loss_scaler: str) -> str:
    """The scaler a run uses: "" where it has no loss scaling, else the named or default one."""
    return (loss_scaler or DEFAULT_SCALER) if get_precision(precision).loss_scaling else ""
