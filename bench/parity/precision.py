"""Parity per precision (`python -m bench parity --precision bf16|fp16`), in numpy only.

Each framework's levels in the low precision (the worker's `P/...` arrays) are compared twice: with the
same framework's float32 levels (`against` = "fp32": what the precision alone changes) and with the
reference framework's levels at the same precision (`against` = the reference: whether the frameworks'
mixed precision is the same). The measures are bench/parity/compare.py's, level by level.

Tolerances come from the compute dtype's unit roundoff u (bf16 2^-8, fp16 2^-11; bench/precision.py) and
the number n of roundings on a value's way. Under every framework's AMP a parameterised layer rounds its
input and its weights to the low dtype and accumulates in float32, so each layer on the path adds two
roundings of relative size <= u. Independent roundings add like a random walk: a result after n of them
is off by about u * sqrt(n) relative to its size. Each level's tolerance is K * u * sqrt(n):
- L2, G's and D's outputs: n = 2 x the parameterised layers of the deeper network; K = 4 (a 4-sigma
  bound on the random walk);
- L3, every loss term, and each network's gradient as one vector, of one D and one G update: n = 4 x the
  layers of G and D together (the forward and the backward pass through both); K = 8: a unit whose input
  is within rounding of a LeakyReLU kink takes the other slope, which the norm-wise measure sees in
  proportion (compare.py). Whole-network vectors, not tensor by tensor as in float32: a bias gradient is a
  sum over the batch and the pixels whose terms nearly cancel, so its rounding error is relative to the
  terms' size, not the sum's (measured: D.fc.bias and G.deconv3.bias of dcgan off by 0.2-0.5 of their own
  size in bf16 in every framework, against 2e-3 for their network's whole gradient);
- L4, each network's weights, BN statistics and optimiser slots (m, v) after one step, as vectors: n as
  L3; K = 16: Adam's first update is lr * g / |g| per element, so an element whose gradient is within
  rounding of 0 moves by +-lr either way (the sign flip compare.py's float64 check explains in float32);
- L5, the loss curves of the first L5_AGREE_STEPS steps: a loss is a forward pass through G and then D, so
  n = 2 x the layers of G and D together; K = 4 (the weights' own rounding after a few steps at lr <= 1e-3
  moves the losses much less than the forward's rounding).
The drift table gives the first step at which a low-precision loss curve leaves the float32 one (or the
reference framework's at the same precision) by more than DRIFT_UNITS x u, relative to the curve's size.
"""

from __future__ import annotations

import math

import numpy as np

from bench import frameworks
from bench.parity.compare import Dump, Parts, Row, _curves_rel, _shadow_dependents, rel_diff, rel_norm, section, worst
from bench.parity.levels import L5_AGREE_STEPS, Job
from bench.precision import get_precision
from bench.spec import Arch
from bench.variants import get_variant, variant_arch

LEVELS = ("L2", "L3", "L4", "L5")
K = {"L2": 4.0, "L3": 8.0, "L4": 16.0, "L5": 4.0}
DRIFT_UNITS = 16  # the drift table's bound: 16 u (bf16 6.25%, fp16 0.78%) of a loss's size


def layers(arch: Arch) -> tuple[int, int]:
    """Parameterised layers of G and of D."""
    count = lambda net: sum(1 for layer in net.layers if layer.has_params)  # noqa: E731
    return count(arch.generator), count(arch.discriminator)


def roundings(arch: Arch, level: str) -> int:
    """n of the module docstring: roundings on a value's way at `level`."""
    g, d = layers(arch)
    if level == "L2":
        return 2 * max(g, d)
    return (2 if level == "L5" else 4) * (g + d)


def tolerance(arch: Arch, level: str, precision: str) -> float:
    return K[level] * get_precision(precision).eps * math.sqrt(roundings(arch, level))


def low(dump: Dump) -> Dump:
    """A worker's low-precision arrays under their level names (`P/L3/...` -> `L3/...`)."""
    return {k[2:]: a for k, a in dump.items() if k.startswith("P/")}


def compare_two(name: str, arch: Arch, a: Dump, b: Dump, job: Job) -> list[Row]:
    """Rows for every precision level the job ran, `a` (the baseline) against `b`."""
    rows = []
    for level in (lv for lv in LEVELS if lv in job.levels):
        tol = tolerance(arch, level, job.precision)
        if level == "L2":
            parts = {k: rel_diff(a[f"L2/{k}"], b[f"L2/{k}"], floor=1.0) for k in ("g", "d")}
        elif level == "L3":
            parts = _losses(a, b) | by_network(section(a, "L3/grad"), section(b, "L3/grad"), set())
        elif level == "L4":
            state = lambda d: section(d, "L4/w") | section(d, "L4/opt")  # noqa: E731
            parts = by_network(state(a), state(b), _shadow_dependents(arch))
        else:
            rows.append(trajectory_row(name, a, b, tol))
            continue
        abs_d, rel_d, at = worst(parts)
        detail = f"worst: {at}; tolerance {K[level]:g} u sqrt({roundings(arch, level)})"
        rows.append(Row(name, level, abs_d, rel_d, tol, bool(rel_d <= tol), None, detail))
    return rows


def _losses(a: Dump, b: Dump) -> Parts:
    la, lb = section(a, "L3/loss"), section(b, "L3/loss")
    if set(la) != set(lb):
        return {f"loss names differ: {sorted(set(la) ^ set(lb))}": (np.inf, np.inf)}
    return {f"loss {k}": rel_diff(la[k], lb[k], floor=1e-12) for k in la}


def by_network(a: dict[str, np.ndarray], b: dict[str, np.ndarray], excluded: set[str]) -> Parts:
    """Norm-wise differences of each network's tensors of one kind (parameters or gradients, BN statistics,
    Adam's m, v) joined into one vector; `excluded` names are left out."""
    if set(a) != set(b):
        return {f"names differ: {sorted(set(a) ^ set(b))}": (np.inf, np.inf)}
    groups: dict[str, list[str]] = {}
    for k in sorted(set(a) - excluded):
        kind = k.rsplit(".", 1)[1] if k.endswith((".m", ".v")) else ("bn" if ".running_" in k else "")
        groups.setdefault(f"{k.split('.')[0]} {kind}".strip(), []).append(k)
    join = lambda d, keys: np.concatenate([np.ravel(d[k]).astype(np.float64) for k in keys])  # noqa: E731
    return {name: rel_norm(join(a, keys), join(b, keys)) for name, keys in groups.items()}


def trajectory_row(name: str, a: Dump, b: Dump, tol: float) -> Row:
    """L5: the first L5_AGREE_STEPS steps within `tol`; the drift step against the drift bound."""
    per_step, abs_per_step = _curves_rel(a, b, "L5")
    window = min(L5_AGREE_STEPS, len(per_step))
    return Row(
        name, "L5", float(abs_per_step[:window].max()), float(per_step[:window].max()), tol,
        bool(per_step[:window].max() <= tol), None,
        f"max rel diff in steps 1-{window}: {per_step[:window].max():.1e}, at step {len(per_step)}: {per_step[-1]:.1e}",
    )  # fmt: skip


def drift_step(a: Dump, b: Dump, precision: str) -> int | None:
    """First step (1-based) whose loss differs by more than DRIFT_UNITS u of its curve's size; None: never."""
    per_step, _ = _curves_rel(a, b, "L5")
    over = np.nonzero(per_step > DRIFT_UNITS * get_precision(precision).eps)[0]
    return int(over[0]) + 1 if len(over) else None


def compare_variant_precision(name: str, dumps: dict[str, Dump | str], job: Job) -> list[Row]:
    """Every framework's low precision against its float32, then every other framework's against the
    reference's at the same precision; a worker error fails that framework's rows with its reason."""
    arch, ref = variant_arch(get_variant(name)), frameworks.REFERENCE
    rows: list[Row] = []
    for fw, dump in dumps.items():
        pairs = [("fp32", dump, dump)] + ([(ref, dumps[ref], dump)] if fw != ref else [])
        for against, base, other in pairs:
            if isinstance(base, str) or isinstance(other, str):
                why = next(d for d in (base, other) if isinstance(d, str))
                rows += [failed(name, lv, why, fw, against, job) for lv in LEVELS if lv in job.levels]
                continue
            a = base if against == "fp32" else low(base)
            for row in compare_two(name, arch, a, low(other), job):
                row.framework, row.precision, row.against = fw, job.precision, against
                if row.level == "L5":
                    row.drift_step = drift_step(a, low(other), job.precision)
                rows.append(row)
    return rows


def failed(name: str, level: str, reason: str, fw: str, against: str, job: Job) -> Row:
    arch = variant_arch(get_variant(name))
    return Row(name, level, float("nan"), float("nan"), tolerance(arch, level, job.precision), False, None,
               f"worker: {reason}", framework=fw, precision=job.precision, against=against)  # fmt: skip
