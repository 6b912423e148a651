"""The evaluator process: torch stays out of the orchestrator, requests are checked, failures
come back as one-line BenchErrors, and `bench fid A B` works end to end on tiny folders."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from bench.errors import BenchError
from bench.fid.cli import main_fid
from bench.fid.evaluator import _run_child, parse_request, run_evaluator


def test_orchestrator_side_does_not_import_torch():
    code = "import sys, bench.fid, bench.fid.cli, bench.fid.cache; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_parse_request(tmp_path):
    (tmp_path / "r.npz").write_bytes(b"")
    with pytest.raises(BenchError, match="lacks fake, out"):
        parse_request({"real": "x"})
    with pytest.raises(BenchError, match="unknown keys: colour"):
        parse_request({"real": "x", "fake": [], "out": "o", "colour": 1})
    with pytest.raises(BenchError, match="not found"):
        parse_request({"real": str(tmp_path / "r.npz"), "fake": [str(tmp_path / "f.npz")], "out": "o"})
    req = parse_request({"real": str(tmp_path / "r.npz"), "fake": str(tmp_path / "r.npz"), "out": "o"})
    assert req["fake"] == [str(tmp_path / "r.npz")] and req["device"] == "cpu" and req["batch_size"] == 32


def test_child_failure_becomes_bench_error(tmp_path):
    with pytest.raises(BenchError, match="exit 2.*image set not found"):
        run_evaluator({"real": str(tmp_path / "nope"), "fake": []}, timeout=60)


def test_child_timeout():
    with pytest.raises(BenchError, match="timed out"):
        _run_child(["-c", "import time; time.sleep(30)"], timeout=0.5, echo=False)


def write_folder(path, n, seed, high=256):
    path.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, high, (16, 16, 3), dtype=np.uint8)).save(path / f"{i}.png")


def test_main_fid_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    write_folder(tmp_path / "a", 3, seed=0)
    write_folder(tmp_path / "b", 4, seed=1, high=100)
    assert main_fid([str(tmp_path / "a"), str(tmp_path / "b"), "--batch-size", "4"]) == 0
    out = capsys.readouterr().out
    fid = float(out.split("FID")[1].split()[0])
    assert fid > 0 and "KID" in out and "±" in out
    assert "A: 3  B: 4" in out
    assert len(list((tmp_path / "cache" / "fid").glob("*.npz"))) == 1


def test_main_fid_errors(tmp_path, capsys):
    assert main_fid([str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "not found" in err and len(err.splitlines()) == 1
    assert main_fid([str(tmp_path), str(tmp_path), "--max-images", "1"]) == 2
    assert main_fid(["only-one"]) == 2
