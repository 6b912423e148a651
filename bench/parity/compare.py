"""Compare each framework's dump with the reference framework's, level by level, in numpy only.

No framework is imported here. Every level compares a pair: the reference (bench/frameworks.py
REFERENCE) and one other framework; each row names the other (`framework`).

Relative differences are taken against the scale of what is compared, so that a tolerance means
the same thing for a logit of 0.05 and a gradient of 1e-4:
- L2 outputs: max |a - b| / max(1, largest |output|) (absolute below 1, relative above);
- L3 gradients and L4 states, per tensor: ||a - b|| / max(||a||, ||b||) (Euclidean norms). A norm,
  not the worst element, because a ReLU-family unit whose input sits within float32 rounding of 0
  takes a different slope in each framework and changes a few gradient elements by O(1/batch);
  the norm sees such a flip in proportion to its size, the worst element as a 100% error;
- a loss value: |a - b| / max(|a|, |b|); in L5 the denominator is at least the curve's mean |value|,
  so a WGAN loss that crosses zero is measured against its typical size, not against ~0.
The `max_abs_diff` column always holds the largest elementwise |a - b|. L3, L4 and L5's agreement
window are also computed in float64 (column `f64_rel_diff`): a float32 difference over tolerance
passes only when float64 agrees (F64_TOL; F64_TRAJ_TOL for the trajectory), i.e. when the two
implementations compute the same math (see `f64_checked_row`, `level5`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bench import frameworks
from bench.convert import compare_keys, converter
from bench.parity.levels import DRIFT, F64_TOL, F64_TRAJ_TOL, L5_AGREE_STEPS, LEVELS, Job, tolerance
from bench.spec import Arch
from bench.variants import get_variant, variant_arch
from bench.weights import arch_shapes, count_params

FRAMEWORKS = frameworks.FRAMEWORKS
Dump = dict[str, np.ndarray]
Parts = dict[str, tuple[float, float]]  # name -> (max abs diff, rel diff)


@dataclass
class Row:
    """One line of the parity table."""

    variant: str
    level: str
    max_abs_diff: float
    max_rel_diff: float
    tolerance: float
    passed: bool
    drift_step: int | None
    detail: str
    f64_rel_diff: float = float("nan")  # L3, L4: the same comparison in float64
    framework: str = ""  # the framework compared with the reference
    precision: str = "fp32"  # bf16, fp16: a row of bench/parity/precision.py
    against: str = ""  # for those: "fp32" (the framework's own float32 levels) or the reference framework

    def to_dict(self) -> dict:
        return asdict(self)


def rel_diff(a: np.ndarray, b: np.ndarray, floor: float = 0.0) -> tuple[float, float]:
    """(max |a - b|, that divided by the larger of the two tensors' scales and `floor`)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf"), float("inf")
    if a.size == 0:
        return 0.0, 0.0
    diff = float(np.abs(a - b).max())
    scale = max(float(np.abs(a).max()), float(np.abs(b).max()), floor)
    return diff, diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))


def rel_norm(a: np.ndarray, b: np.ndarray, floor: float = 0.0) -> tuple[float, float]:
    """(max |a - b|, ||a - b|| / max(||a||, ||b||, floor)) for two tensors."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf"), float("inf")
    if a.size == 0:
        return 0.0, 0.0
    diff = float(np.abs(a - b).max())
    scale = max(float(np.linalg.norm(a)), float(np.linalg.norm(b)), floor)
    return diff, float(np.linalg.norm(a - b)) / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))


def section(dump: Dump, prefix: str) -> dict[str, np.ndarray]:
    """The arrays under `prefix/`, keyed by the rest of their name."""
    return {k[len(prefix) + 1 :]: a for k, a in dump.items() if k.startswith(prefix + "/")}


def bn_shadowed(arch: Arch) -> dict[str, str]:
    """Biases whose layer feeds a batch norm directly (bias name -> that BN's prefix).

    BN subtracts the batch mean per channel, so such a bias has no effect in training mode and an
    analytically zero gradient; float rounding leaves ~1e-9 there, which Adam turns into lr-sized
    steps of random sign, different in each framework (and in each float precision).
    """
    out = {}
    for net in (arch.generator, arch.discriminator):
        for layer, nxt in zip(net.layers, net.layers[1:], strict=False):
            if layer.kind in ("dense", "conv", "convt") and layer.bias and nxt.kind == "bn":
                out[f"{net.name}.{layer.name}.bias"] = f"{net.name}.{nxt.name}"
    return out


def worst(parts: Parts) -> tuple[float, float, str]:
    """(largest abs diff, largest rel diff, name of the tensor with the largest rel diff)."""
    if not parts:
        return 0.0, 0.0, ""
    name = max(parts, key=lambda k: parts[k][1])
    return max(d for d, _ in parts.values()), parts[name][1], name


def make_row(
    variant: str, level: str, abs_d: float, rel_d: float, detail: str, job: Job, drift: int | None = None
) -> Row:
    tol, why = tolerance(variant, level, job.batch_for(variant))
    if why:
        detail = f"{detail}; looser check because {why}"
    return Row(variant, level, float(abs_d), float(rel_d), tol, bool(rel_d <= tol), drift, detail)


# -- the levels ------------------------------------------------------------------------------------
def level1(name: str, arch: Arch, dumps: dict[str, Dump], job: Job) -> Row:
    """Framework tensors, renamed to canonical names, against the spec's shapes and counts."""
    expected = arch_shapes(arch)
    want = count_params(expected)
    problems, worst_count = [], 0
    for fw in dumps:
        to_canonical = converter(fw, "from")
        native = {k: np.broadcast_to(np.float32(0), tuple(s)) for k, s in section(dumps[fw], "L1/shape").items()}
        report = compare_keys(expected, to_canonical(arch, native))
        got = int(dumps[fw]["L1/count"])
        worst_count = max(worst_count, abs(got - want))
        if not report.ok or got != want:
            problems.append(f"{fw}: {report}; {got} trainable parameters")
    detail = "; ".join(problems) or f"{len(expected)} tensors, {want:,} trainable parameters in both"
    row = make_row(name, "L1", worst_count, worst_count / want, detail, job)
    row.passed = not problems
    return row


def level2(name: str, arch: Arch, dumps: dict[str, Dump], job: Job, level: str = "L2") -> Row:
    """G and D outputs from the same weights and inputs (L2: training mode; L2e: eval mode)."""
    a, b = (section(d, level) for d in pair(dumps))
    parts = {k: rel_diff(a[k], b[k], floor=1.0) for k in ("g", "d")}
    abs_d, rel_d, _ = worst(parts)
    detail = ", ".join(f"{'G' if k == 'g' else 'D'} out max|d| {d:.1e}" for k, (d, _) in parts.items())
    return make_row(name, level, abs_d, rel_d, detail, job)


def level3(name: str, arch: Arch, dumps: dict[str, Dump], job: Job) -> Row:
    """Every loss term and every parameter's gradient of the first D update and of the G update."""
    p32, p64 = (_gradient_parts(arch, dumps, prefix) for prefix in ("L3", "L3_64"))
    losses = section(pair(dumps)[0], "L3/loss")
    terms = ", ".join(f"{k}={float(v):.4g}" for k, v in sorted(losses.items()))
    shadowed = bn_shadowed(arch)
    note = f"; {len(shadowed)} BN-cancelled bias gradients (~0) vs their network's largest" if shadowed else ""
    return f64_checked_row(name, "L3", p32, p64, f"losses {terms}{note}", job)


def _gradient_parts(arch: Arch, dumps: dict[str, Dump], prefix: str) -> Parts:
    la, lb = (section(d, f"{prefix}/loss") for d in pair(dumps))
    ga, gb = (section(d, f"{prefix}/grad") for d in pair(dumps))
    if set(la) != set(lb) or set(ga) != set(gb):
        return {f"names differ: {sorted(set(la) ^ set(lb) | set(ga) ^ set(gb))}": (np.inf, np.inf)}
    parts = {f"loss {k}": rel_diff(la[k], lb[k], floor=1e-12) for k in la}
    shadowed = bn_shadowed(arch)
    for k in ga:
        floor = 0.0
        if k in shadowed:  # ~0 analytically: measured against the largest gradient of its network
            floor = max(float(np.linalg.norm(g)) for n, g in ga.items() if n[0] == k[0] and n not in shadowed)
        parts[f"grad {k}"] = rel_norm(ga[k], gb[k], floor)
    return parts


def level4(name: str, arch: Arch, dumps: dict[str, Dump], job: Job) -> Row:
    """Parameters, BN statistics and optimiser slots after one full step (n_critic D updates + G)."""
    excluded = _shadow_dependents(arch)
    p32, p64 = (_state_parts(dumps, prefix, excluded) for prefix in ("L4", "L4_64"))
    detail = ""
    if excluded:
        a, b = (section(d, "L4/w") | section(d, "L4/opt") for d in pair(dumps))
        off = max(rel_diff(a[k], b[k])[0] for k in excluded & set(a))
        detail = f"excluded {len(excluded & set(a))} BN-cancelled biases, their slots and BN means (max|d| {off:.1e})"
    return f64_checked_row(name, "L4", p32, p64, detail, job)


def _state_parts(dumps: dict[str, Dump], prefix: str, excluded: set[str]) -> Parts:
    a, b = (section(d, f"{prefix}/w") | section(d, f"{prefix}/opt") for d in pair(dumps))
    if set(a) != set(b):
        return {f"names differ: {sorted(set(a) ^ set(b))}": (np.inf, np.inf)}
    return {k: rel_norm(a[k], b[k]) for k in a if k not in excluded}


def f64_checked_row(name: str, level: str, p32: Parts, p64: Parts, detail: str, job: Job) -> Row:
    """A float32 comparison that, beyond its tolerance, passes only if float64 agrees (to F64_TOL).

    In float32 a unit whose input lies within rounding of a ReLU/LeakyReLU kink takes a different
    slope in each framework, and Adam/RMSprop turn gradient elements below rounding into lr-sized
    steps of random sign; both change individual elements by O(1), so float32 differences are
    measured and reported, while float64 (where neither happens) decides if the math is the same.
    """
    abs_d, rel_d, at = worst(p32)
    _, rel64, at64 = worst(p64)
    row = make_row(name, level, abs_d, rel_d, f"float32 worst: {at}; float64 worst: {at64} {rel64:.1e}", job)
    row.f64_rel_diff = rel64
    if not row.passed and rel64 <= F64_TOL:
        row.passed = True
        row.detail += f"; float32 is over {row.tolerance:g} from rounding (kink/sign flips), float64 agrees"
    elif rel64 > F64_TOL:
        row.passed = False
        row.detail += f"; float64 differs by {rel64:.1e} > {F64_TOL:g}: a real difference"
    row.detail += f"; {detail}" if detail else ""
    return row


def level5(name: str, arch: Arch, dumps: dict[str, Dump], job: Job) -> Row:
    """Loss curves over N steps with identical data and noise: agreement window and drift step.

    Past the tolerance in float32, the row passes only if the float64 curves of the window agree to
    F64_TRAJ_TOL: then the float32 gap is rounding amplified by training (each framework's own
    float32-vs-float64 gap, in the detail, shows its size), not a difference in the math.
    """
    per_step, abs_per_step = _curves_rel(*pair(dumps), "L5")
    window = min(L5_AGREE_STEPS, len(per_step))
    over = np.nonzero(per_step > DRIFT)[0]
    drift = int(over[0]) + 1 if len(over) else None
    samples = rel_diff(*(d["L5/samples"] for d in pair(dumps)), floor=1.0)[0]
    detail = (
        f"max rel diff in steps 1-{window}: {per_step[:window].max():.1e}, "
        f"at step {len(per_step)}: {per_step[-1]:.1e}; "
        f"drift (> {DRIFT:g}) at step {drift if drift else 'none'} of {len(per_step)}; "
        f"eval samples after step {len(per_step)} differ by max {samples:.1e}"
    )
    row = make_row(name, "L5", abs_per_step[:window].max(), per_step[:window].max(), detail, job, drift)
    row.passed = bool(per_step[:window].max() <= row.tolerance) and len(per_step) == job.steps
    return _f64_checked_l5(row, dumps, window, len(per_step) == job.steps)


def _f64_checked_l5(row: Row, dumps: dict[str, Dump], window: int, complete: bool) -> Row:
    """L5's float64 verdict (see level5), with how far float32 leaves float64 in each framework."""
    rel64 = _curves_rel(*pair(dumps), "L5_64")[0]
    n = len(rel64)
    row.f64_rel_diff = float(rel64.max())
    floors = {fw: _curves_rel(dumps[fw], dumps[fw], "L5", "L5_64", n)[0].max() for fw in dumps}
    row.detail += (
        f"; float64 steps 1-{n}: frameworks differ by {row.f64_rel_diff:.1e}, float32 leaves float64 by "
        + " / ".join(f"{floors[fw]:.1e} ({fw})" for fw in dumps)
    )
    if n < window:
        row.passed = False
        row.detail += f"; float64 ran over {n} of {window} steps"
    elif row.f64_rel_diff > F64_TRAJ_TOL:
        row.passed = False
        row.detail += f"; float64 differs by {row.f64_rel_diff:.1e} > {F64_TRAJ_TOL:g}: a real difference"
    elif not row.passed and complete:
        row.passed = True
        floor = max(floors.values())
        row.detail += (
            f"; float32 is over {row.tolerance:g} from rounding, float64 agrees (float32 alone strays {floor:.1e})"
        )
    return row


def _curves_rel(
    a: Dump, b: Dump, prefix: str, prefix_b: str = "", n: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-step (relative, absolute) difference of the loss curves, the worse of D's and G's."""
    pairs = [_curve_rel(a[f"{prefix}/{k}"][:n], b[f"{prefix_b or prefix}/{k}"][:n]) for k in ("loss_d", "loss_g")]
    return np.max([r for r, _ in pairs], axis=0), np.max([d for _, d in pairs], axis=0)


def _curve_rel(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-step (relative, absolute) difference of two loss curves."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    diff = np.abs(a - b)
    scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), np.abs(a).mean())
    rel = np.where(np.isfinite(diff), diff / np.where(scale > 0, scale, 1.0), np.inf)
    return rel, diff


def _shadow_dependents(arch: Arch) -> set[str]:
    """L4 entries that a BN-cancelled bias decides: the bias, its Adam/RMSprop slots, the BN's mean."""
    out = set()
    for bias, bn in bn_shadowed(arch).items():
        out |= {bias, f"{bias}.m", f"{bias}.v", f"{bn}.running_mean"}
    return out


# -- a whole variant -------------------------------------------------------------------------------
def pair(dumps: dict[str, Dump]) -> tuple[Dump, Dump]:
    """(reference's dump, the other framework's): the two a level compares, reference first."""
    ref, other = dumps
    return dumps[ref], dumps[other]


def compare_variant(name: str, dumps: dict[str, Dump | str], job: Job) -> list[Row]:
    """Rows for every level the job ran and every other framework against the reference
    (bench/frameworks.py REFERENCE); a worker error fails the rows of its pair with its reason."""
    ref = frameworks.REFERENCE
    if ref not in dumps:
        raise ValueError(f"parity needs the reference framework's dump ({ref}); got {', '.join(dumps)}")
    rows = []
    for fw in (f for f in dumps if f != ref):
        for row in compare_pair(name, {ref: dumps[ref], fw: dumps[fw]}, job):
            row.framework = fw
            rows.append(row)
    return rows


def compare_pair(name: str, dumps: dict[str, Dump | str], job: Job) -> list[Row]:
    levels = [lv for lv in LEVELS if lv in job.levels]
    errors = [f"{fw} worker: {d}" for fw, d in dumps.items() if isinstance(d, str)]
    if errors:
        return [make_failed(name, lv, "; ".join(errors), job) for lv in levels]
    arch = variant_arch(get_variant(name))
    rows = []
    for lv in levels:
        try:
            rows.append(LEVEL_CHECKS[lv](name, arch, dumps, job))
        except KeyError as e:
            rows.append(make_failed(name, lv, f"missing array {e} in a dump", job))
    return rows


LEVEL_CHECKS = {
    "L1": level1,
    "L2": level2,
    "L2e": lambda name, arch, dumps, job: level2(name, arch, dumps, job, "L2e"),
    "L3": level3,
    "L4": level4,
    "L5": level5,
}


def make_failed(name: str, level: str, reason: str, job: Job) -> Row:
    tol, _ = tolerance(name, level, job.batch_for(name))
    return Row(name, level, float("nan"), float("nan"), tol, False, None, reason)


def load_dump(directory: Path, variant: str) -> Dump | str:
    """A worker's arrays for `variant`, or the reason it has none."""
    err = directory / f"{variant}.error"
    if err.exists():
        return err.read_text().strip() or "failed"
    path = directory / f"{variant}.npz"
    if not path.exists():
        return "no output (the worker crashed or timed out before this variant)"
    with np.load(path) as z:
        return dict(z)
