"""Framework display names come from the registry only: no literal "PyTorch" / "TensorFlow" / "JAX" in
`bench/` outside `bench/frameworks.py` (docstrings and comments aside), so no text can name a framework
that did not run (the report once named TensorFlow as the winner of every PyTorch-vs-JAX ratio)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from bench.frameworks import REGISTRY

BENCH = Path(__file__).resolve().parents[1] / "bench"
REGISTRY_FILE = BENCH / "frameworks.py"


def docstring_nodes(tree: ast.AST) -> set[int]:
    """ids of the Constant nodes that are docstrings (module, class, function)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def display_name_literals(source: str, names: list[str]) -> list[tuple[int, str]]:
    """(line, text) of every non-docstring string literal that holds one of `names` as a word."""
    tree = ast.parse(source)
    docs = docstring_nodes(tree)
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
        and pattern.search(node.value)
    ]  # fmt: skip


def test_no_framework_display_name_is_a_literal_outside_the_registry():
    names = [f.label for f in REGISTRY.values()]
    found = [
        f"{path.relative_to(BENCH.parent)}:{line}: {text!r}"
        for path in sorted(BENCH.rglob("*.py"))
        if path != REGISTRY_FILE
        for line, text in display_name_literals(path.read_text(), names)
    ]
    assert not found, "framework names belong to bench/frameworks.py:\n" + "\n".join(found)


def test_the_check_finds_a_literal_and_ignores_docstrings_and_comments():
    source = '"""PyTorch in a docstring."""\n# JAX in a comment\n'
    source += 'def f(a="x"):\n    """TensorFlow."""\n    return "JAX faster"\n'
    assert display_name_literals(source, ["PyTorch", "TensorFlow", "JAX"]) == [(5, "JAX faster")]
    assert display_name_literals('x = f"{a} JAXON"\n', ["JAX"]) == []
