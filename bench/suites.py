"""Suites are data: built-in ones here, user ones from TOML files; each expands to RunSpecs."""

from __future__ import annotations

import itertools
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from bench.errors import BenchError, oneline
from bench.frameworks import FRAMEWORKS, MODES
from bench.precision import get_precision
from bench.spec import RunSpec
from bench.validate import check_suite, check_suite_table
from bench.variants import VARIANTS

MNIST_VARIANTS = ("gan", "dcgan", "dcgan-mm", "lsgan", "wgan", "wgan-gp", "ssgan", "cgan")

# A suite's `modes` list applies each known mode to the frameworks that have it (validation refuses
# names no framework knows before anything runs).


@dataclass(frozen=True)
class Suite:
    """What to run. Lists multiply out: variants x datasets x batch sizes x seeds x repeats x modes x precisions
    x frameworks."""

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
    datasets: tuple[str, ...] = ("",)  # "": each variant's own dataset
    precisions: tuple[str, ...] = ("fp32",)  # bench/precision.py; tf32 needs a GPU
    intervals: int = 10
    fid_samples: int = 0
    timeout: float = 900.0
    jobs: int = 1  # runs at once; above 1 they share the cores (threads split), speed figures not comparable
    checkpoint_every: int = 0  # timed steps between checkpoints; 0: none (bench/checkpoint.py)
    eval_every: int = 0  # timed steps between FID evaluations along training; 0: final FID only (bench/evals.py)
    executor: str = "local"  # where runs execute: "local" (this machine) or "ray" (a Ray cluster)


# Timed steps between checkpoints in the suites that train long enough to lose something: on this class
# of 2-core CPU a dcgan checkpoint (~40 MB) costs 0.1-0.2 s, a dcgan step ~0.3 s, so 50 steps keep the
# cost near 1% (measured: benchmarks/checkpoint_cost.py, docs/measurements/). Every run that checkpoints
# also saves its final state, which `--steps` beyond the run continues from. On a GPU, where a step
# takes milliseconds, raise it with --checkpoint-every.
CHECKPOINT_EVERY = 50

BUILTIN: dict[str, Suite] = {
    s.name: s
    for s in (
        Suite(
            "quick",
            "smoke run: every registered variant x every installed framework, a dozen steps",
            # Sized so that the whole suite, FID included, stays near 3 minutes on a 2-core CPU, where
            # importing TensorFlow alone takes ~7 s and PyTorch ~3 s per worker (measured 2026-12-01).
            steps=12,
            warmup=1,
            intervals=3,
            timeout=600.0,
            jobs=2,  # a smoke run: two runs at a time (their speed figures are flagged as not comparable)
            fid_samples=16,  # a smoke test of the FID path too; figures at 16 samples are flagged biased
            steps_per_variant={"wgan": 4, "wgan-gp": 4, "wgan-gp-64": 3, "dcgan-cifar": 4},
        ),
        Suite(
            "all",
            "every registered variant x every installed framework, long enough for stable speed and loss figures",
            # Sized on a 2-core CPU with a ~100 GFLOP/s float32 matmul peak (measured 2026-12-01): twice these
            # steps took 42 min of training, and FID/KID of 16 runs at 1,024 images about 38 min more
            # (Inception at ~8 images/s there), so half the steps keep the whole suite near an hour.
            steps=150,
            warmup=5,
            intervals=10,
            fid_samples=1024,
            timeout=1800.0,
            checkpoint_every=CHECKPOINT_EVERY,
            steps_per_variant={"gan": 500, "wgan": 50, "wgan-gp": 30, "dcgan-cifar": 30, "wgan-gp-64": 15},
        ),
        Suite(
            "losses",
            "the loss comparison: dcgan28 with mm, ns, ls, wgan, wgan-gp on MNIST, 3 seeds, every installed framework",
            variants=("dcgan-mm", "dcgan", "lsgan", "wgan", "wgan-gp"),
            seeds=(0, 1, 2),
            steps=200,
            warmup=3,
            fid_samples=1024,
            timeout=1800.0,
            checkpoint_every=CHECKPOINT_EVERY,
            steps_per_variant={"wgan": 80, "wgan-gp": 50},
        ),
        Suite(
            "study",
            "the 'Are GANs Created Equal?' protocol: the losses on MNIST and Fashion-MNIST, 20 epochs "
            "(18,750 G steps at batch 64), FID on 10,000 vs 10,000 images; for machines that can afford it",
            variants=("dcgan-mm", "dcgan", "lsgan", "wgan", "wgan-gp"),
            datasets=("mnist", "fashion-mnist"),
            seeds=(0, 1, 2),
            steps=20 * 60000 // 64,
            warmup=5,
            intervals=50,
            fid_samples=10000,
            timeout=7 * 24 * 3600.0,
            checkpoint_every=500,  # a lost node costs at most ~2.5% of a run
            eval_every=1875,  # FID at every 2 epochs (10 points), as compare_gan scores its checkpoints
        ),
        Suite(
            "throughput",
            "speed sweep: every variant x framework x execution mode at batch 16, 64, 256, 3 repeats, few "
            "steps (images/s against batch size, FLOP utilisation); --batch-size for other sizes on a GPU",
            modes=tuple(dict.fromkeys(m for modes in MODES.values() for m in modes)),
            batch_sizes=(16, 64, 256),
            repeats=3,
            steps=6,
            warmup=2,
            intervals=3,
            steps_per_variant={"wgan": 3, "wgan-gp": 3, "wgan-gp-64": 2, "dcgan-cifar": 3},
            timeout=1800.0,
        ),
        Suite(
            "precision",
            "precision as an axis: the MNIST variants x every installed framework x fp32, bf16, fp16 (tf32 "
            "too on a GPU) x 3 seeds; speed and memory against fp32, stability and FID per precision",
            variants=MNIST_VARIANTS,
            precisions=("fp32", "bf16", "fp16"),
            seeds=(0, 1, 2),
            steps=60,
            warmup=3,
            intervals=6,
            fid_samples=512,
            timeout=3600.0,
            checkpoint_every=CHECKPOINT_EVERY,
            steps_per_variant={"wgan": 20, "wgan-gp": 15},
        ),
    )
}

GPU_PRECISIONS = ("fp32", "tf32", "bf16", "fp16")  # the precision suite on a GPU, unless --precision says
GPU_FID_SAMPLES = 10000  # the study's count; `all` uses it on a GPU unless --fid-samples says otherwise


def get_suite(name: str) -> Suite:
    if name not in BUILTIN:
        raise BenchError(f"unknown suite {name!r}; built-in suites: {', '.join(BUILTIN)} (or use --suite-file)")
    return BUILTIN[name]


_TUPLE_FIELDS = {"variants", "frameworks", "seeds", "batch_sizes", "modes", "datasets", "precisions"}


def load_suite_file(path: str | Path) -> Suite:
    """A suite from TOML; keys are Suite's fields (`name` defaults to the file's stem). Every value
    is type-checked before the Suite is built, then the Suite is validated as a whole."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except OSError as e:
        raise BenchError(f"cannot read suite file {p}: {e.strerror or e}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise BenchError(f"suite file {p} is not valid TOML: {oneline(str(e), 200)}") from None
    except ValueError as e:  # e.g. an integer too long for Python's int-to-string guard
        raise BenchError(f"suite file {p} is not valid TOML: {oneline(str(e), 120)}") from None
    known = {f.name for f in fields(Suite)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise BenchError(
            f"suite file {p}: unknown keys {oneline(', '.join(unknown))}; allowed: {', '.join(sorted(known))}"
        )
    data.setdefault("name", p.stem)
    check_suite_table(data, f"suite file {p}", Suite)
    suite = Suite(**{k: tuple(v) if k in _TUPLE_FIELDS else v for k, v in data.items()})
    try:
        check_suite(suite)
    except BenchError as e:
        raise BenchError(f"suite file {p}: {e}") from None
    return suite


def validate(suite: Suite) -> None:
    """Every problem a suite can have, as one clear error (see bench.validate)."""
    check_suite(suite)


def override(suite: Suite, **changes) -> Suite:
    """The suite with CLI overrides applied (None means: keep the suite's value)."""
    given = {k: v for k, v in changes.items() if v is not None}
    if "steps" in given:
        given["steps_per_variant"] = {}  # an explicit --steps applies to every variant
    out = replace(suite, **given)
    validate(out)
    return out


def expand(suite: Suite, base: RunSpec) -> list[RunSpec]:
    """RunSpecs in a stable order: variant, dataset, batch size, seed, repeat, mode, precision, framework.

    Never more jobs than runs: a suite of one run gets all the cores, not the share of a pair.
    """
    axes = itertools.product(
        suite.variants or tuple(VARIANTS), suite.datasets or ("",), suite.batch_sizes or (0,), suite.seeds,
        range(suite.repeats), suite.modes, suite.precisions, suite.frameworks,
    )  # fmt: skip
    combos = [c for c in axes if mode_applies(c[5], c[7])]
    jobs = max(1, min(suite.jobs, len(combos)))
    return [
        base.with_(
            variant=variant,
            framework=fw,
            seed=seed,
            repeat=repeat,
            batch_size=batch,
            mode=mode,
            precision=precision,
            loss_scaler=base.loss_scaler if get_precision(precision).loss_scaling else "",
            dataset=dataset or base.dataset,
            steps=suite.steps_per_variant.get(variant, suite.steps),
            warmup=suite.warmup,
            intervals=suite.intervals,
            fid_samples=suite.fid_samples,
            checkpoint_every=suite.checkpoint_every,
            eval_every=suite.eval_every,
            timeout=suite.timeout,
            suite=suite.name,
            jobs=jobs,
            threads=base.threads or (threads_per_job(jobs) if jobs > 1 else 0),
        )  # fmt: skip
        for variant, dataset, batch, seed, repeat, mode, precision, fw in combos
    ]


def threads_per_job(jobs: int) -> int:
    """Cores split evenly among `jobs` concurrent runs (at least one thread each)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // jobs)


def mode_applies(mode: str, framework: str) -> bool:
    """The default (""), a mode of this framework, or a name no framework knows (to fail visibly)."""
    known = {m for modes in MODES.values() for m in modes}
    return mode in ("", *MODES.get(framework, ())) or mode not in known
