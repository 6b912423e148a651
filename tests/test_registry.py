"""The framework registry (bench/frameworks.py) is the one place that knows a framework: every
registered implementation package provides the whole interface, and nothing else in `bench/` names one."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

from bench import frameworks
from bench.environment import environment
from bench.frameworks import FRAMEWORKS, INTERFACE, REFERENCE, REGISTRY, TRAINER_METHODS

REPO = Path(__file__).resolve().parents[1]
# The FID and coverage evaluators are PyTorch programs whatever frameworks are compared (the TF-exact
# Inception ships as TorchScript, the coverage classifier is the project's own): tools, not contestants.
EVALUATORS = ("bench/fid/", "bench/metrics/")
NAMES = re.compile(
    r"""["'](torch|tf|tensorflow|jax|flax)["']|impls_(torch|tf|jax)|^\s*(import|from)\s+(torch|tensorflow|jax|flax)\b"""
)


def public_names(path: Path) -> tuple[set[str], set[str]]:
    """(top-level functions and classes, Trainer's methods) of a module, read from its source."""
    tree = ast.parse(path.read_text())
    tops = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    trainer = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Trainer"), None)
    methods = {m.name for m in trainer.body if isinstance(m, ast.FunctionDef)} if trainer else set()
    if trainer and any(isinstance(b, ast.Name) and b.id == "GanStep" for b in trainer.bases):
        methods.add("(GanStep)")
    return tops, methods


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_every_registered_package_provides_the_whole_interface(name):
    package = REPO / REGISTRY[name].package
    assert (package / "__init__.py").is_file(), f"{package} is not a package"
    for module, wanted in INTERFACE.items():
        tops, methods = public_names(package / f"{module}.py")
        assert set(wanted) <= tops, f"{name}: {module}.py lacks {sorted(set(wanted) - tops)}"
        if module == "train":
            wanted_methods = {*TRAINER_METHODS, "(GanStep)"}
            assert wanted_methods <= methods, f"{name}: Trainer lacks {sorted(wanted_methods - methods)}"


def test_implementation_packages_mirror_each_other():
    modules = {name: {p.name for p in (REPO / REGISTRY[name].package).glob("*.py")} for name in FRAMEWORKS}
    assert len({frozenset(m) for m in modules.values()}) == 1, modules


def test_nothing_in_bench_names_a_framework_outside_the_registry():
    found = []
    for path in sorted((REPO / "bench").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel == "bench/frameworks.py" or rel.startswith(EVALUATORS):
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if NAMES.search(line):
                found.append(f"{rel}:{i}: {line.strip()}")
    assert not found, "framework names outside bench/frameworks.py:\n" + "\n".join(found)


def test_the_grep_catches_a_framework_name():
    for line in ('if fw == "torch":', "import tensorflow as tf", 'x = "jax"', "from impls_tf import train"):
        assert NAMES.search(line), line
    assert not NAMES.search("# PyTorch and TensorFlow are compared") and not NAMES.search("fw.name == REFERENCE")


def test_registry_entries_are_complete_and_consistent():
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    colours = [f.colour for f in REGISTRY.values()]
    assert REFERENCE in REGISTRY and len(set(colours)) == len(colours)
    env = environment()
    for name, f in REGISTRY.items():
        assert f.name == name and f.modes and f.default_mode == f.modes[0] == frameworks.DEFAULT_MODES[name]
        assert f.extra in extras and f.version_column in env
        assert set(f.layout.axes) <= {"dense", "conv", "convt"}
        for perm in f.layout.axes.values():
            assert sorted(perm) == list(range(len(perm)))
    assert frameworks.label("torch") == "PyTorch" and frameworks.label("mystery") == "mystery"
    with pytest.raises(KeyError, match="unknown framework"):
        frameworks.get("mystery")


def test_objective_facts_come_from_the_objective_record():
    """No objective or variant name tests outside bench/objectives.py (the losses, keyed by name, are
    the frameworks' primitives); a variant's D width and G condition are its objective's."""
    pattern = re.compile(r"""objective\s*(==|!=|in\s*\()|variant\s*(==|!=)\s*["']|\b(N_CLASSES|d_out)\s*=\s*\d""")
    found = []
    for path in sorted((REPO / "bench").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel in ("bench/objectives.py",) or rel.startswith(EVALUATORS):
            continue
        found += [f"{rel}:{i}: {line.strip()}" for i, line in enumerate(path.read_text().splitlines(), 1)
                  if pattern.search(line)]  # fmt: skip
    assert not found, "\n".join(found)
    from bench.objectives import get_objective
    from bench.variants import VARIANTS

    for v in VARIANTS.values():
        o = get_objective(v.objective)
        assert (v.d_out, v.g_conditional) == (o.d_out, o.conditional)


def test_an_optional_framework_not_installed_is_left_out_of_defaults_with_a_note(monkeypatch, capsys):
    """Default suites and parity run the frameworks installed; one the user names must be installed."""
    from dataclasses import replace

    from bench import cli
    from bench.errors import BenchError
    from bench.parity.cli import parse_frameworks

    monkeypatch.setitem(REGISTRY, "jax", replace(REGISTRY["jax"], module="no_such_module_here", optional=True))
    _, specs = cli.plan(cli.build_parser().parse_args(["run", "--suite", "quick"]))
    assert {s.framework for s in specs} == {"torch", "tf"}
    err = capsys.readouterr().err
    assert "note: JAX is not installed, so it is left out" in err and '".[jax]"' in err
    assert parse_frameworks("") == ("torch", "tf") and "JAX is not installed" in capsys.readouterr().err
    with pytest.raises(BenchError, match=r"framework 'jax' is not installed \(pip install"):
        cli.plan(cli.build_parser().parse_args(["run", "--suite", "quick", "--frameworks", "jax"]))
    monkeypatch.setitem(REGISTRY, "jax", replace(REGISTRY["jax"], optional=False))  # a core framework: an error
    with pytest.raises(BenchError, match="framework 'jax' is not installed"):
        cli.plan(cli.build_parser().parse_args(["run", "--suite", "quick"]))
