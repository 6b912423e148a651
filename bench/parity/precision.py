"""Parity per precision (`python -m bench parity --precision bf16|fp16`), in numpy only.

Each framework's levels in the low precision (the worker's `P/...` arrays) are compared twice: with the
same framework's float32 levels (`against` = "fp32": what the precision alone changes) and with the
reference framework's levels at the same precision (`against` = the reference: whether the frameworks'
mixed precision is the same). The measures are bench/parity/compare.py's, level by level.

Tolerances come from the compute dtype's unit roundoff u (bf16 2^-8, fp16 2^-11; bench/precision.py) and
the number n of roundings on a value's way: n = 2 x the parameterised layers on the path (under every
framework's AMP a layer rounds its input and its weights to the low dtype and accumulates in float32).
- L2, G's and D's outputs, and L5, the loss curves of the first L5_AGREE_STEPS steps (a loss is a forward
  pass through G and then D): independent roundings add like a random walk, so a result is off by about
  u sqrt(n) relative to its size; tolerance K u sqrt(n) with K = 4 (a 4-sigma bound). n: the deeper
  network's layers for L2, G's and D's together for L5 (the weights' own rounding after a few updates at
  lr <= 1e-3 moves a loss far less than the forward's rounding does).
- L3, every loss term and each network's gradient as one vector (one D and one G update), and L4, each
  network's weights, BN statistics and optimiser slots (m, v) as vectors after one step: n = 4 x the layers
  of G and D together (forward and backward through both). Here rounding is not what dominates: a unit
  whose input lies within rounding of a ReLU/LeakyReLU kink takes the other slope, and Adam turns a
  gradient element within rounding of 0 into a step of +-lr either way. The share of such units grows like
  u and each changes its elements by O(1), so the norm-wise difference grows like sqrt(u), not u
  (measured on dcgan at batch 16: G's gradient off by 8% in bf16 and 3-7% in fp16 in all three frameworks,
  a ratio near sqrt(8) = 2.8 where u differs 8x; a 1000x larger loss scale left fp16's 4.0% and 2.9%
  as they were, so it is not underflow). Tolerance K sqrt(u n), K = 1.
  Whole-network vectors, not tensor by tensor as in float32: a bias gradient is a sum over the batch and
  the pixels whose terms nearly cancel, so its error is relative to the terms' size, not the sum's
  (measured: D.fc.bias and G.deconv3.bias of dcgan off by 0.2-0.5 of their own size in bf16 in every
  framework, against 2e-3 for their network's whole gradient).
Against its own fp32, the L5 window ends at the first update that loss scaling skipped (fp16): from there
the two trajectories differ by design (the update was not applied), which the drift table shows; the
frameworks at the same precision must skip alike.
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
K = {"L2": 4.0, "L3": 1.0, "L4": 1.0, "L5": 4.0}
ROUNDING_LIMITED = ("L2", "L5")  # tolerance K u sqrt(n); the others K sqrt(u n) (see above)
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
    u, n = get_precision(precision).eps, roundings(arch, level)
    return K[level] * (u * math.sqrt(n) if level in ROUNDING_LIMITED else math.sqrt(u * n))


def rule(arch: Arch, level: str) -> str:
    n = roundings(arch, level)
    return f"{K[level]:g} u sqrt({n})" if level in ROUNDING_LIMITED else f"{K[level]:g} sqrt(u {n})"


def low(dump: Dump) -> Dump:
    """A worker's low-precision arrays under their level names (`P/L3/...` -> `L3/...`)."""
    return {k[2:]: a for k, a in dump.items() if k.startswith("P/")}


def compare_two(name: str, arch: Arch, a: Dump, b: Dump, job: Job, own: bool) -> list[Row]:
    """Rows for every precision level the job ran, `a` (the baseline: the framework's own fp32 when `own`,
    else the reference's low precision) against `b`."""
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
            rows.append(trajectory_row(name, a, b, tol, own))
            continue
        abs_d, rel_d, at = worst(parts)
        detail = f"worst: {at}; tolerance {rule(arch, level)}"
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


def trajectory_row(name: str, a: Dump, b: Dump, tol: float, own: bool) -> Row:
    """L5: the first L5_AGREE_STEPS steps within `tol`, ending against its own fp32 (`own`) at the first update
    that loss scaling skipped; against the reference, the two must have skipped the same updates."""
    per_step, abs_per_step = _curves_rel(a, b, "L5")
    window = min(L5_AGREE_STEPS, len(per_step))
    skips = skipped_steps(b)
    note = ""
    if own and skips and skips[0] <= window:
        window, note = skips[0], f"; an update was skipped for overflow at step {skips[0]}: the window ends there"
    passed = bool(per_step[:window].max() <= tol)
    within = lambda steps: [s for s in steps if s <= window]  # noqa: E731  (later, rounding may tip an overflow)
    if not own and within(skipped_steps(a)) != within(skips):
        passed, note = (
            False,
            f"; skipped updates in steps 1-{window} differ: {within(skipped_steps(a))} against {within(skips)}",
        )
    detail = f"max rel diff in steps 1-{window}: {per_step[:window].max():.1e}, at step {len(per_step)}: "
    detail += f"{per_step[-1]:.1e}{note}"
    return Row(name, "L5", float(abs_per_step[:window].max()), float(per_step[:window].max()), tol, passed, None,
               detail)  # fmt: skip


def skipped_steps(dump: Dump) -> list[int]:
    """Steps (1-based) at which loss scaling skipped D's or G's update; [] without loss scaling."""
    if "L5/skipped_d" not in dump:
        return []
    skipped = (np.asarray(dump["L5/skipped_d"]) > 0) | (np.asarray(dump["L5/skipped_g"]) > 0)
    return [int(i) + 1 for i in np.nonzero(skipped)[0]]


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
            for row in compare_two(name, arch, a, low(other), job, against == "fp32"):
                row.framework, row.precision, row.against = fw, job.precision, against
                if row.level == "L5":
                    row.drift_step = drift_step(a, low(other), job.precision)
                rows.append(row)
    return rows


def failed(name: str, level: str, reason: str, fw: str, against: str, job: Job) -> Row:
    arch = variant_arch(get_variant(name))
    return Row(name, level, float("nan"), float("nan"), tolerance(arch, level, job.precision), False, None,
               f"worker: {reason}", framework=fw, precision=job.precision, against=against)  # fmt: skip
