"""Suites are data: built-in ones here, user ones from TOML files; each expands to RunSpecs."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from bench.errors import BenchError
from bench.spec import RunSpec
from bench.variants import VARIANTS

FRAMEWORKS = ("torch", "tf")


@dataclass(frozen=True)
class Suite:
    """What to run. Lists multiply out: variants x frameworks x seeds x batch sizes x repeats."""

    name: str
    description: str = ""
    variants: tuple[str, ...] = ()  # empty: every registered variant
    frameworks: tuple[str, ...] = FRAMEWORKS
    seeds: tuple[int, ...] = (0,)
    steps: int = 30
    steps_per_variant: dict[str, int] = field(default_factory=dict)  # overrides `steps`
    warmup: int = 3
    repeats: int = 1
    batch_sizes: tuple[int, ...] = ()  # empty: each variant's own batch size
    modes: tuple[str, ...] = ("",)  # "": each framework's default mode
    intervals: int = 10
    fid_samples: int = 0
    timeout: float = 900.0


BUILTIN: dict[str, Suite] = {
    s.name: s
    for s in (
        Suite(
            "quick",
            "smoke run: every registered variant x both frameworks, a few dozen steps",
            steps=20,
            warmup=2,
            intervals=4,
            timeout=600.0,
            steps_per_variant={"wgan": 8, "wgan-gp": 8, "wgan-gp-64": 4, "dcgan-cifar": 8},
        ),
        Suite(
            "all",
            "every registered variant x both frameworks, long enough for stable speed and loss figures",
            steps=300,
            warmup=5,
            intervals=10,
            fid_samples=1024,
            timeout=1800.0,
            steps_per_variant={"gan": 1000, "wgan": 100, "wgan-gp": 60, "dcgan-cifar": 60, "wgan-gp-64": 30},
        ),
        Suite(
            "losses",
            "the loss comparison: dcgan28 with mm, ns, ls, wgan, wgan-gp on MNIST, 3 seeds, both frameworks",
            variants=("dcgan-mm", "dcgan", "lsgan", "wgan", "wgan-gp"),
            seeds=(0, 1, 2),
            steps=200,
            warmup=3,
            fid_samples=1024,
            timeout=1800.0,
            steps_per_variant={"wgan": 80, "wgan-gp": 50},
        ),
    )
}


def get_suite(name: str) -> Suite:
    if name not in BUILTIN:
        raise BenchError(f"unknown suite {name!r}; built-in suites: {', '.join(BUILTIN)} (or use --suite-file)")
    return BUILTIN[name]


_TUPLE_FIELDS = {"variants", "frameworks", "seeds", "batch_sizes", "modes"}


def load_suite_file(path: str | Path) -> Suite:
    """A suite from TOML; keys are Suite's fields (`name` defaults to the file's stem)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except OSError as e:
        raise BenchError(f"cannot read suite file {p}: {e.strerror or e}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise BenchError(f"suite file {p} is not valid TOML: {e}") from None
    known = {f.name for f in fields(Suite)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise BenchError(f"suite file {p}: unknown keys {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
    data.setdefault("name", p.stem)
    try:
        suite = Suite(**{k: tuple(v) if k in _TUPLE_FIELDS else v for k, v in data.items()})
    except TypeError as e:
        raise BenchError(f"suite file {p}: {e}") from None
    validate(suite)
    return suite


def validate(suite: Suite) -> None:
    """Every problem a suite can have, as one clear error."""
    for v in (*suite.variants, *suite.steps_per_variant):
        if v not in VARIANTS:
            raise BenchError(f"unknown variant {v!r}; known: {', '.join(VARIANTS)}")
    for fw in suite.frameworks:
        if fw not in FRAMEWORKS:
            raise BenchError(f"unknown framework {fw!r}; known: {', '.join(FRAMEWORKS)}")
    _positive("steps", [suite.steps, *suite.steps_per_variant.values()])
    _positive("batch size", list(suite.batch_sizes))
    _positive("warmup", [suite.warmup])
    _positive("repeats", [suite.repeats])
    _positive("intervals", [suite.intervals])
    _positive("timeout", [suite.timeout])
    if not suite.frameworks or not suite.seeds:
        raise BenchError("a suite needs at least one framework and one seed")
    if suite.fid_samples < 0:
        raise BenchError(f"fid_samples must be >= 0, got {suite.fid_samples}")


def _positive(what: str, values: list) -> None:
    for x in values:
        if isinstance(x, bool) or not isinstance(x, int | float) or x <= 0:
            raise BenchError(f"{what} must be a positive number, got {x!r}")


def override(suite: Suite, **changes) -> Suite:
    """The suite with CLI overrides applied (None means: keep the suite's value)."""
    given = {k: v for k, v in changes.items() if v is not None}
    if "steps" in given:
        given["steps_per_variant"] = {}  # an explicit --steps applies to every variant
    out = replace(suite, **given)
    validate(out)
    return out


def expand(suite: Suite, base: RunSpec) -> list[RunSpec]:
    """RunSpecs in a stable order: variant, batch size, seed, repeat, mode, framework."""
    specs = []
    for variant in suite.variants or tuple(VARIANTS):
        steps = suite.steps_per_variant.get(variant, suite.steps)
        for batch in suite.batch_sizes or (0,):
            for seed in suite.seeds:
                for repeat in range(suite.repeats):
                    for mode in suite.modes:
                        for fw in suite.frameworks:
                            specs.append(
                                base.with_(
                                    variant=variant, framework=fw, seed=seed, repeat=repeat, steps=steps,
                                    warmup=suite.warmup, batch_size=batch, mode=mode,
                                    intervals=suite.intervals, fid_samples=suite.fid_samples,
                                    timeout=suite.timeout, suite=suite.name,
                                )
                            )  # fmt: skip
    return specs
