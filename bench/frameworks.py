"""The framework registry: the one place in `bench/` that knows a framework (it imports none of them).

Each entry says what the harness needs to run, record, convert and show a framework: its
implementation package (`impls_<name>/`, whose interface tests/test_frameworks.py checks), the
module to import, the distributions whose version is recorded, the pip extra, the execution modes
(the first is the default), the environment to set before import, the plot colour, and the
weight layout bench/convert.py converts to and from the canonical one.
`REFERENCE` is the framework every other is compared with (parity, report ratios).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    """How a framework stores the canonical weights (bench/convert.py applies it): for each layer kind,
    the canonical weight's axes in the framework's order; the weight's leaf name; batch-norm leaf names."""

    axes: dict[str, tuple[int, ...]]
    weight: str = "weight"
    bn: dict[str, str] = field(default_factory=dict)  # canonical leaf -> the framework's


@dataclass(frozen=True)
class Framework:
    name: str  # in specs, rows, file names: "torch"
    label: str  # for people: "PyTorch"
    module: str  # the framework's import name
    distributions: tuple[str, ...]  # PyPI names whose version is recorded (the first installed one)
    extra: str  # this project's pip extra
    modes: tuple[str, ...]  # execution modes; the first is the default
    colour: str  # plot colour (Okabe-Ito palette) and bar hatch
    hatch: str
    layout: Layout  # weight layout against the canonical one
    env: dict[str, str] = field(default_factory=dict)  # set before import
    thread_vars: tuple[str, ...] = ()  # environment variables that take the thread count before import
    interop_var: str = ""  # one that takes min(threads, 2)
    cache_dir: str = ""  # its persistent compile cache under $BENCH_CACHE_DIR/compile/ ("": none)
    optional: bool = False  # left out of default suites and parity, with a note, when not installed

    @property
    def package(self) -> str:
        return f"impls_{self.name}"

    @property
    def default_mode(self) -> str:
        return self.modes[0]

    @property
    def install_hint(self) -> str:
        return f'pip install -c constraints.txt -e ".[{self.extra}]"'

    @property
    def version_column(self) -> str:
        return f"{self.name}_version"

    def compile_cache_env(self, cache: Path | None, cold: Path) -> dict[str, str]:
        """Environment turning this framework's persistent compile cache on (`cache`) or off (None)."""
        return COMPILE_CACHE_ENV.get(self.name, lambda cache, cold: {})(cache, cold)


def _torch_cache(cache: Path | None, cold: Path) -> dict[str, str]:
    """Inductor's FX-graph and AOTAutograd caches; off: an empty Inductor directory of the run's own."""
    on = "1" if cache else "0"
    return {"TORCHINDUCTOR_CACHE_DIR": str(cache or cold / "inductor-cold"), "TORCHINDUCTOR_FX_GRAPH_CACHE": on,
            "TORCHINDUCTOR_AUTOGRAD_CACHE": on}  # fmt: skip


def _tf_cache(cache: Path | None, cold: Path) -> dict[str, str]:
    """XLA's persistent cache is a flag in TF_XLA_FLAGS (merged with the user's own flags by the caller)."""
    return {"TF_XLA_FLAGS": f"--tf_xla_persistent_cache_directory={cache}"} if cache else {}


def _jax_cache(cache: Path | None, cold: Path) -> dict[str, str]:
    """JAX's persistent compilation cache directory (read from the environment at import)."""
    return {"JAX_COMPILATION_CACHE_DIR": str(cache)} if cache else {}


COMPILE_CACHE_ENV = {"torch": _torch_cache, "tf": _tf_cache, "jax": _jax_cache}
REGISTRY: dict[str, Framework] = {
    f.name: f
    for f in (
        Framework("torch", "PyTorch", "torch", ("torch",), "torch", ("eager", "compile"), "#D55E00", "",
                  Layout({"dense": (1, 0), "conv": (3, 2, 0, 1), "convt": (2, 3, 0, 1)}),
                  thread_vars=("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"),
                  cache_dir="torch"),
        Framework("tf", "TensorFlow", "tensorflow", ("tensorflow", "tensorflow-cpu"), "tf",
                  ("function", "xla", "eager"), "#0072B2", "//",
                  Layout({"dense": (0, 1), "conv": (0, 1, 2, 3), "convt": (0, 1, 3, 2)}, "kernel",
                         {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean",
                          "running_var": "moving_variance"}),
                  env={"KERAS_BACKEND": "tensorflow"}, thread_vars=("TF_NUM_INTRAOP_THREADS",),
                  interop_var="TF_NUM_INTEROP_THREADS", cache_dir="tf-xla"),
        Framework("jax", "JAX", "jax", ("jax",), "jax", ("jit", "eager"), "#009E73", "..",
                  Layout({"dense": (0, 1), "conv": (0, 1, 2, 3), "convt": (0, 1, 3, 2)}, "kernel",
                         {"weight": "scale", "running_mean": "mean", "running_var": "var"}),
                  cache_dir="jax", optional=True),
    )
}  # fmt: skip
REFERENCE = "torch"  # parity and the report's ratios compare every framework with this one

# What an implementation package provides (checked without importing it by tests/test_registry.py):
# module -> public names, and the Trainer's methods that the harness, parity and evaluation call.
INTERFACE: dict[str, tuple[str, ...]] = {
    "layers": ("Net", "make_layer", "activation"),
    "losses": ("d_loss", "d_loss_terms", "g_loss"),
    "models": ("build_models", "framework_tensors", "load_weights", "export_weights", "count_trainable"),
    "optim": ("make_optimizer", "optimizer_state"),
    "runtime": ("configure", "tf32", "device_name", "sync", "reset_peak_memory", "peak_device_memory", "info",
                "matmul_seconds", "compile_cache_probe", "compile_cache_state"),
    "train": ("Trainer", "gradient_penalty"),
}  # fmt: skip
# The Trainer subclasses bench.step.GanStep (the step's control flow) and supplies its primitives,
# the step entry point, and what results, parity and evaluation read back.
TRAINER_METHODS = ("train_step", "fake_for_d", "g_images", "d_outputs", "loss_terms", "g_loss_of", "penalty",
                   "update", "clip_weights", "mean", "fetch", "sync", "generate", "d_logits", "export_weights",
                   "optimizer_state", "load", "forward", "d_grads", "g_grads", "precision_state",
                   "checkpoint_state", "restore_state")  # fmt: skip

FRAMEWORKS = tuple(REGISTRY)
MODES: dict[str, tuple[str, ...]] = {name: f.modes for name, f in REGISTRY.items()}
DEFAULT_MODES = {name: f.default_mode for name, f in REGISTRY.items()}


def mode(framework: str, given: str = "") -> str:
    """A mode as given, '' meaning the framework's default: the rule everything that reads a mode shares."""
    return given or DEFAULT_MODES[framework]


ALL_MODES = tuple(dict.fromkeys(m for modes in MODES.values() for m in modes))
IMPORT_NAME = {name: f.module for name, f in REGISTRY.items()}
INSTALL_HINT = {name: f.install_hint for name, f in REGISTRY.items()}


def get(name: str) -> Framework:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown framework {name!r}; known: {', '.join(FRAMEWORKS)}") from None


def label(name: str) -> str:
    """The framework's name for people; an unknown name stands for itself."""
    return REGISTRY[name].label if name in REGISTRY else name


def installed(name: str) -> bool:
    """Whether the framework's module can be found (without importing it)."""
    import importlib.util

    return importlib.util.find_spec(REGISTRY[name].module) is not None


def drop_missing_optional(names: tuple[str, ...]) -> tuple[tuple[str, ...], list[str]]:
    """`names` without the optional frameworks that are not installed, and a note for each one left out.
    Only for default framework lists: a framework the user names must be installed."""
    missing = [n for n in names if REGISTRY[n].optional and not installed(n)]
    notes = [f"{label(n)} is not installed, so it is left out ({REGISTRY[n].install_hint} adds it)" for n in missing]
    return tuple(n for n in names if n not in missing), notes


def thread_environment(threads: int) -> dict[str, str]:
    """Every registered framework's thread variables for `threads` > 0 (set before any import)."""
    env: dict[str, str] = {}
    for f in REGISTRY.values():
        env.update({var: str(threads) for var in f.thread_vars})
        if f.interop_var:
            env[f.interop_var] = str(max(1, min(threads, 2)))
    return env


def import_environment() -> dict[str, str]:
    out: dict[str, str] = {}
    for f in REGISTRY.values():
        out.update(f.env)
    return out
