"""The import graph has a direction: no circle between modules, and no import against the order of stages.

Reads every import (`ast`, lazy imports inside functions and `TYPE_CHECKING` imports included) of every
module under `bench/` and `impls_*/`. Each module belongs to the stage its longest prefix in `STAGES`
names; a module may import its own stage and the stages below it. What today's code still does against
that is listed, explicitly, in `KNOWN_CIRCLES` and `KNOWN_UPWARD`: a new circle or upward import fails,
and so does an entry that no longer happens (remove it: the lists only shrink). Module paths passed as
strings (`python -m bench.worker`, the executor registry) are not imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("bench", "impls_torch", "impls_tf", "impls_jax")
STAGES = [  # bottom first: (stage, module prefixes)
    ("base", ["bench", "bench.errors", "bench.files", "bench.frameworks", "bench.compile_cache", "bench.launch"]),
    ("the GAN as data", ["bench.spec", "bench.archs", "bench.variants", "bench.objectives", "bench.weights",
                         "bench.inputs", "bench.step", "bench.precision", "bench.flops", "bench.convert"]),
    ("implementations", ["impls_torch", "impls_tf", "impls_jax"]),
    ("results and data", ["bench.results", "bench.columns", "bench.schema", "bench.lock", "bench.data"]),
    ("the machine", ["bench.environment", "bench.peak"]),  # what this host is and can do: recorded and planned with
    ("planning", ["bench.suites", "bench.validate", "bench.eta", "bench.executors"]),
    ("worker", ["bench.worker", "bench.run_one", "bench.loop", "bench.checkpoint", "bench.resume", "bench.evals",
                "bench.measure", "bench.grids"]),
    ("execution and evaluation", ["bench.executor", "bench.executor_ray", "bench.jobs", "bench.quality",
                                  "bench.quality_cluster", "bench.fid", "bench.metrics"]),
    ("views", ["bench.report", "bench.compare", "bench.parity"]),
    ("command line", ["bench.cli", "bench.__main__"]),
]  # fmt: skip
KNOWN_CIRCLES = [  # each: the modules of one strongly connected component, sorted
]
KNOWN_UPWARD = [  # (importer, imported) against the order of stages
]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path = REPO) -> dict[str, Path]:
    return {module_name(p, root): p for pkg in PACKAGES for p in sorted((root / pkg).rglob("*.py"))}


def import_edges(mods: dict[str, Path]) -> set[tuple[str, str]]:
    """(importer, imported) between the project's modules, for every import statement anywhere in a file."""

    def resolve(name: str) -> str:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name

    edges = set()
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [resolve(a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets = [resolve(f"{base}.{a.name}") or resolve(base) for a in node.names]
            edges |= {(name, t) for t in targets if t and t != name}
    return edges


def circles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while not comp or comp[-1] != v:
                comp.append(stack.pop())
                on.discard(comp[-1])
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def stage(module: str) -> int:
    """Index in STAGES of the longest prefix that names `module`."""
    hits = [(len(p), i) for i, (_, prefixes) in enumerate(STAGES) for p in prefixes
            if module == p or module.startswith(p + ".")]  # fmt: skip
    assert hits, f"{module} is in no stage: add it to STAGES"
    return max(hits)[1]


def upward(edges: set[tuple[str, str]]) -> list[tuple[str, str]]:
    return sorted((a, b) for a, b in edges if stage(b) > stage(a))


def test_every_module_has_a_stage():
    for name in modules():
        stage(name)


def test_no_new_circle_and_no_stale_entry():
    assert circles(import_edges(modules())) == sorted(KNOWN_CIRCLES)


def test_no_new_import_against_the_stages_and_no_stale_entry():
    assert upward(import_edges(modules())) == sorted(KNOWN_UPWARD)


def test_the_check_finds_a_circle_and_an_upward_import_including_lazy_ones(tmp_path):
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "bench" / "spec.py").write_text("def f():\n    from bench import cli\n")  # lazy, upward
    (tmp_path / "bench" / "cli.py").write_text("from .spec import f\n")
    edges = import_edges(modules(tmp_path))
    assert edges == {("bench.spec", "bench.cli"), ("bench.cli", "bench.spec")}
    assert circles(edges) == [["bench.cli", "bench.spec"]]
    assert upward(edges) == [("bench.spec", "bench.cli")]
