"""The validation layer: suites, suite files, RunSpecs, devices, results directories and data are
checked here before any worker starts, and every problem is one BenchError line (the CLI prints
`error: ...` and exits 2).

The checks write nothing, so a refused command leaves every directory as it was. Bounds are
generous for real studies (the `study` suite has 18,750 steps and 10,000 FID images) but stop a
typo such as 10**23 steps before any compute is spent.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import fields
from pathlib import Path

from bench.errors import BenchError, show
from bench.executors import EXECUTORS
from bench.frameworks import ALL_MODES, FRAMEWORKS, MODES, mode
from bench.precision import LOSS_SCALERS, PRECISIONS
from bench.precision import check_device as check_precision_device
from bench.results import check_run_id
from bench.spec import ResolvedRun, RunSpec
from bench.variants import VARIANTS, batch_size, variant_arch

LIMITS: dict[str, tuple[int, int]] = {  # inclusive
    "steps": (1, 10**7),
    "warmup": (1, 10**5),
    "repeats": (1, 1000),
    "repeat": (0, 999),
    "batch size": (1, 65536),
    "seed": (0, 2**32 - 1),
    "intervals": (1, 10**5),
    "jobs": (1, 256),
    "fid_samples": (0, 10**6),
    "checkpoint_every": (0, 10**7),
    "eval_every": (0, 10**7),
    "threads": (0, 4096),
}
MAX_TIMEOUT_S = 30 * 24 * 3600.0
NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")  # one entry per GPU the driver sees


def integer(what: str, x: object) -> int:
    lo, hi = LIMITS[what]
    if isinstance(x, bool) or not isinstance(x, int):
        raise BenchError(f"{what} must be an integer, got {show(x)}")
    if not lo <= x <= hi:
        raise BenchError(f"{what} must be an integer from {lo} to {hi:,}, got {show(x)}")
    return x


def seconds(what: str, x: object, most: float = MAX_TIMEOUT_S) -> float:
    """A finite positive number of seconds (NaN or inf would silently turn a timeout off)."""
    try:
        ok = not isinstance(x, bool) and isinstance(x, int | float) and math.isfinite(x) and 0 < x <= most
    except OverflowError:  # an int too large for a float
        ok = False
    if not ok:
        raise BenchError(f"{what} must be a finite number of seconds in (0, {most:g}], got {show(x)}")
    return float(x)


def names(what: str, values: Iterable[object], known: Iterable[str]) -> None:
    """Each value a known name, none twice (a repeated name would make two runs with one id)."""
    known, seen = tuple(known), set()
    for v in values:
        if not isinstance(v, str):
            raise BenchError(f"{what} names must be strings, got {show(v)}")
        if v not in known:
            raise BenchError(f"unknown {what} {show(v)}; known: {', '.join(k for k in known if k)}")
        _once(what, v, seen)


def _once(what: str, v: object, seen: set) -> None:
    if v in seen:
        raise BenchError(f"{what} {show(v)} is listed twice")
    seen.add(v)


# TOML types of Suite fields, keyed by their annotation (a new Suite field needs an entry here).
_TOML_KINDS = {
    "str": ("a string", lambda v: isinstance(v, str)),
    "int": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "float": ("a number", lambda v: isinstance(v, int | float) and not isinstance(v, bool)),
    "tuple[str, ...]": ("a list of strings", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)),
    "tuple[int, ...]": (
        "a list of integers",
        lambda v: isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v),
    ),
    "dict[str, int]": (
        "a table of variant = integer",
        lambda v: isinstance(v, dict) and all(isinstance(x, int) and not isinstance(x, bool) for x in v.values()),
    ),
}


def check_suite_table(data: dict, where: str, suite_type: type) -> None:
    """The types of a suite file's values, before a Suite is built from them (`variants = "gan"` is
    not read as five letters, `steps = 3.5` is not truncated)."""
    annotations = {f.name: str(f.type) for f in fields(suite_type)}
    for key, value in data.items():
        desc, ok = _TOML_KINDS[annotations[key]]
        if not ok(value):
            raise BenchError(f"{where}: {key} must be {desc}, got {show(value)}")


def check_suite(suite) -> None:
    """Every problem a Suite can have (names, duplicates, ranges, finite numbers), as one error."""
    from bench.data import DATASETS

    if not isinstance(suite.name, str) or not suite.name.isprintable() or not 0 < len(suite.name) <= 200:
        raise BenchError(f"a suite name must be 1 to 200 printable characters, got {show(suite.name)}")
    names("variant", suite.variants, VARIANTS)
    names("variant", suite.steps_per_variant, VARIANTS)
    if not suite.frameworks or not suite.seeds:
        raise BenchError("a suite needs at least one framework and one seed")
    names("framework", suite.frameworks, FRAMEWORKS)
    names("mode", suite.modes, ("", *ALL_MODES))
    names("dataset", suite.datasets, ("", *DATASETS))
    names("precision", suite.precisions, PRECISIONS)
    if not suite.precisions:
        raise BenchError("a suite needs at least one precision")
    for what, values in (("seed", suite.seeds), ("batch size", suite.batch_sizes)):
        seen: set = set()
        for v in values:
            _once(what, integer(what, v), seen)
    for v in (suite.steps, *suite.steps_per_variant.values()):
        integer("steps", v)
    for what in ("warmup", "repeats", "intervals", "jobs", "fid_samples", "checkpoint_every", "eval_every"):
        integer(what, getattr(suite, what))
    if suite.eval_every and not suite.fid_samples:
        raise BenchError("eval_every scores generated samples along training: it needs fid_samples above 0")
    check_fid_samples(suite.fid_samples)
    seconds("timeout", suite.timeout)
    names("executor", [suite.executor], EXECUTORS)  # registry: bench/executors.py
    for dataset in filter(None, suite.datasets):
        check_dataset_shape(dataset, suite.variants or tuple(VARIANTS))


def check_dataset_shape(name: str, variants: Iterable[str]) -> None:
    """An unknown dataset, or one whose images do not fit a variant's architecture, is an error."""
    from bench.data import DATASETS, NATIVE_SHAPE

    if name not in DATASETS:
        raise BenchError(f"unknown dataset {show(name)}; known: {', '.join(DATASETS)}")
    for v in variants:
        arch = variant_arch(VARIANTS[v])
        if name in NATIVE_SHAPE and NATIVE_SHAPE[name] != arch.image_shape:
            have, need = ("x".join(map(str, s)) for s in (NATIVE_SHAPE[name], arch.image_shape))
            raise BenchError(f"dataset {name} has {have} images but variant {v} ({arch.name}) needs {need}")


def check_spec(spec: RunSpec) -> None:
    """One RunSpec, field by field (for specs built in Python as much as for suites)."""
    from bench.data import DATASETS

    names("variant", [spec.variant], VARIANTS)
    names("framework", [spec.framework], FRAMEWORKS)
    names(f"{spec.framework} mode", [spec.mode], ("", *MODES[spec.framework]))
    names("dataset", [spec.dataset], ("", *DATASETS))
    names("precision", [spec.precision], PRECISIONS)
    names("loss scaler", [spec.loss_scaler], ("", *LOSS_SCALERS))
    for what, value in (("seed", spec.seed), ("steps", spec.steps), ("warmup", spec.warmup), ("repeat", spec.repeat),
                        ("threads", spec.threads), ("intervals", spec.intervals), ("jobs", spec.jobs),
                        ("fid_samples", spec.fid_samples), ("checkpoint_every", spec.checkpoint_every),
                        ("eval_every", spec.eval_every)):  # fmt: skip
        integer(what, value)
    if spec.eval_every and not spec.fid_samples:
        raise BenchError("eval_every scores generated samples along training: it needs fid_samples above 0")
    check_fid_samples(spec.fid_samples)
    if spec.batch_size != 0:
        integer("batch size", spec.batch_size)
    seconds("timeout", spec.timeout)
    if not isinstance(spec.device, str) or not (spec.device == "cpu" or spec.device.isdigit()):
        raise BenchError(f"device must be 'cpu' or a GPU index such as 0, got {show(spec.device)}")
    check_precision_device(spec.precision, spec.device)
    fraction = spec.labeled_fraction
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, int | float)
        or not (fraction == -1.0 or 0.0 <= fraction <= 1.0)
    ):
        raise BenchError(f"labeled fraction must be in [0, 1], got {show(fraction)}")
    if not isinstance(spec.data_dir, str) or "\0" in spec.data_dir:
        raise BenchError(f"data directory must be a path, got {show(spec.data_dir)}")
    check_run_id(spec.run_id)


def resolve(spec: RunSpec) -> ResolvedRun:
    """The spec checked (`check_spec`) and its defaults filled in; the only builder of a ResolvedRun.

    Cached per spec, so that planning, the executor and the ETA share one check and one resolution."""
    key = repr(spec)  # a RunSpec holds a dict (`extra`), so it is not hashable itself
    if key not in _RESOLVED:
        check_spec(spec)
        variant = VARIANTS[spec.variant]
        _RESOLVED[key] = ResolvedRun(
            spec=spec,
            variant=variant,
            arch=variant_arch(variant),
            batch_size=batch_size(spec.variant, spec.batch_size),
            dataset=spec.dataset or variant.dataset,
            data_dir=spec.data_dir or None,
            labeled_fraction=variant.labeled_fraction if spec.labeled_fraction < 0 else spec.labeled_fraction,
            mode=mode(spec.framework, spec.mode),
        )
    return _RESOLVED[key]


_RESOLVED: dict[str, ResolvedRun] = {}


def gpu_count() -> int:
    """NVIDIA GPUs on this machine, without importing a framework (the driver's /proc entries, or nvidia-smi)."""
    if NVIDIA_GPUS.is_dir():
        return sum(1 for _ in NVIDIA_GPUS.iterdir())
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return 0
        return sum(line.startswith("GPU ") for line in out.stdout.splitlines()) if out.returncode == 0 else 0
    return 0


def check_device(device: str) -> None:
    """`cpu`, or the index of a GPU that exists here (the worker would otherwise fail after start-up)."""
    if device == "cpu":
        return
    count = gpu_count()
    if int(device) >= count:
        have = f"{count} NVIDIA GPU(s), indices 0 to {count - 1}" if count else "no NVIDIA GPU"
        raise BenchError(f"no GPU {device} on this machine: it has {have}; use --device cpu")


RESULT_DIRS = ("runs", "steps", "intervals", "metrics", "samples", "grids", "reference", "fid_floor", ".work")


def check_results_dir(path: Path) -> None:
    """The results directory and its sub-directories are directories (or do not exist yet)."""
    for p in (path, *(path / d for d in RESULT_DIRS)):
        if p.exists() and not p.is_dir():
            raise BenchError(f"results directory {p} is not a directory (a file is in the way)")


def check_data(specs: list[RunSpec]) -> None:
    """Read every dataset the runs use once, before any worker starts.

    Corrupt or unreadable files, an explicit data directory that is missing or holds none of the
    suite's datasets, and a batch larger than the training split are errors here. A dataset that is
    simply absent is not: its runs are recorded as `skipped` with the reason, as before.
    """
    from bench.data import dataset_available, holds_dataset, load_dataset

    for data_dir in sorted({s.data_dir for s in specs if s.data_dir}):
        if not Path(data_dir).expanduser().is_dir():
            raise BenchError(f"data directory {data_dir} does not exist or is not a directory")
    needs: dict[tuple[str, str], tuple[int, str]] = {}  # (dataset, data_dir) -> (largest batch, its variant)
    for s in specs:
        run = resolve(s)
        key = (run.dataset, s.data_dir)
        if run.batch_size > needs.get(key, (0, ""))[0]:
            needs[key] = (run.batch_size, s.variant)
    used: set[str] = set()
    for (name, data_dir), (batch, variant) in needs.items():
        if not dataset_available(name, data_dir or None, fallback=not data_dir)[0]:
            continue  # recorded as skipped, with the reason
        if data_dir and holds_dataset(name, data_dir):
            used.add(data_dir)
        size = variant_arch(VARIANTS[variant]).image_shape[:2]
        quiet = lambda msg: None  # noqa: E731
        train = load_dataset(name, "train", data_dir or None, size, False, quiet, fallback=not data_dir)
        if name != "image-folder":  # an image folder has no separate test split
            load_dataset(name, "test", data_dir or None, size, False, quiet, fallback=not data_dir)
        if batch > len(train.images):
            have = f"{len(train.images):,} images"
            raise BenchError(f"batch size {batch} ({variant}) is larger than the {train.name} training split ({have})")
    for data_dir in sorted({s.data_dir for s in specs if s.data_dir} - used):
        wanted = ", ".join(sorted({name for name, d in needs if d == data_dir}))
        raise BenchError(f"data directory {data_dir} holds none of the datasets these runs use ({wanted})")


MIN_FID_SAMPLES = 2  # FID's covariance and KID's unbiased estimate need two images a side (bench/fid/frechet.py)


def check_fid_samples(n: int) -> None:
    """0 (no FID) or enough images for the evaluator to compute FID and KID at all."""
    if 0 < n < MIN_FID_SAMPLES:
        raise BenchError(f"fid_samples must be 0 (no FID) or at least {MIN_FID_SAMPLES}: got {n}")


def check_cache_dir() -> None:
    """The user cache (datasets, compile caches, FID references) is a writable directory or can be made
    one: found here, not inside every worker after the suite started."""
    from bench.files import cache_root

    root = cache_root()
    what = f"cache directory {root} (BENCH_CACHE_DIR, else XDG_CACHE_HOME/gan-bench, else ~/.cache/gan-bench)"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise BenchError(f"{what} is not a directory") from None
    except OSError as e:
        raise BenchError(f"cannot write to {what}: {e.strerror or e}") from None
    if why := write_problem(root):
        raise BenchError(f"cannot write to {what}: {why}")


def write_problem(folder: Path) -> str:
    """Why `folder` cannot take a new file, or '': the one probe the results and cache checks share."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        return str(e.strerror or e)
    return ""


def probe_writable(results_dir: Path) -> None:
    """Each existing directory of the results layout takes a file (found now, not after training)."""
    for p in (results_dir, *(results_dir / d for d in RESULT_DIRS)):
        if p.is_dir() and (why := write_problem(p)):
            raise BenchError(f"cannot write to results directory {p} ({why})")
