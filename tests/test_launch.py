"""One launcher: every Python child of the project starts in `bench/launch.py`, in a session of its own.

Workers, evaluators, parity workers and the framework probe rely on it for the same things: `bench`
importable in the child, its whole process group killed on a timeout or an interrupt, the exit code.
"""

from __future__ import annotations

import ast
import os
import subprocess
import time
from pathlib import Path

import pytest

from bench import launch

REPO = Path(__file__).resolve().parents[1]
SOURCES = [p for pkg in ("bench", "impls_torch", "impls_tf", "impls_jax") for p in sorted((REPO / pkg).rglob("*.py"))]


def uses(path: Path) -> set[str]:
    """Which of Popen(...) / sys.executable / "PYTHONPATH" / a REPO... constant the code (not its text) uses."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and "Popen" in (getattr(node.func, "attr", ""), getattr(node.func, "id", "")):
            found.add("Popen")  # a call; `subprocess.Popen` as a type hint is no child
        elif isinstance(node, ast.Attribute) and node.attr == "executable":
            found.add("executable")
        elif isinstance(node, ast.Constant) and node.value == "PYTHONPATH":
            found.add("PYTHONPATH")
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", "").startswith("REPO") for t in node.targets):
            found.add("REPO")
        elif isinstance(node, ast.Attribute) and node.attr == "parents":
            found.add("REPO")  # Path(__file__).parents[...]: a repository root of its own
    return found


def test_only_the_launcher_starts_python_children_and_builds_their_environment():
    outside = {p.relative_to(REPO).as_posix(): sorted(uses(p)) for p in SOURCES if p != REPO / "bench" / "launch.py"}
    assert {k: v for k, v in outside.items() if v} == {"bench/executor_ray.py": ["PYTHONPATH"]}, (
        "start children with bench.launch.start/run and build their environment with bench.launch.child_env"
    )
    assert "launch.pythonpath()" in (REPO / "bench" / "executor_ray.py").read_text()  # Ray's runtime env: the same


def test_the_scan_sees_a_popen_and_a_repo_constant(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import subprocess, sys\nREPO = 1\nsubprocess.Popen([sys.executable])\n")
    assert uses(bad) == {"Popen", "executable", "REPO"}


def test_a_child_imports_bench_from_the_repository_first():
    out = launch.run(["-c", "import bench, os; print(bench.__file__); print(os.environ['BENCH_ORCHESTRATOR_PID'])"], 60)
    path, pid = out.stdout.split()
    assert out.returncode == 0 and Path(path).parent == REPO / "bench" and int(pid) == os.getpid()
    assert launch.child_env({"X": "1"})["PYTHONPATH"].split(os.pathsep)[0] == str(REPO)


def test_kill_group_takes_down_what_the_child_started(tmp_path):
    """A child that started a grandchild and is killed (as at its timeout) leaves nothing running."""
    pidfile = tmp_path / "pid"
    code = (
        "import subprocess, sys, time; "
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); "
        f"open({str(pidfile)!r}, 'w').write(str(p.pid)); time.sleep(300)"
    )
    proc = launch.start(["-c", code])
    assert os.getpgid(proc.pid) == proc.pid  # a session (and process group) of its own
    deadline = time.monotonic() + 120  # a busy machine starts Python slowly
    while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    with pytest.raises(subprocess.TimeoutExpired):
        launch.wait(proc, timeout=0.5)  # still running: it sleeps for 300 s
    launch.kill_group(proc)
    grandchild = int(pidfile.read_text())
    for _ in range(50):
        if not Path(f"/proc/{grandchild}").exists() or "Z" in Path(f"/proc/{grandchild}/stat").read_text().split()[2]:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the grandchild outlived kill_group")


def test_wait_stops_at_once_when_asked_and_returns_the_exit_code():
    proc = launch.start(["-c", "import time; time.sleep(300)"])
    try:
        t0 = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            launch.wait(proc, timeout=None, stop=lambda: True)
        assert time.monotonic() - t0 < 30
    finally:
        launch.kill_group(proc)
    assert launch.wait(launch.start(["-c", "raise SystemExit(3)"]), timeout=60) == 3
