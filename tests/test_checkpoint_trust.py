"""A checkpoint proves it belongs to the run before it is used: real runs, real crafted files.

Each crafted newest checkpoint below carries the checksum of its own bytes in its name (so the name check
passes) and must be passed over with one warning for the checkpoint before it; the run then ends bit for
bit where an uninterrupted run ends. A checkpoint of another seed, or one trained on other data under the
same run id, is refused, and the run never mixes two trajectories.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench import checkpoint
from tests.conftest import run_cli

SUITE = """name = "trust"
variants = ["gan"]
batch_sizes = [16]
steps = 24
warmup = 2
intervals = 8
checkpoint_every = 6
fid_samples = 0
"""


def args(results: Path, suite: Path, seed: int = 0) -> list[str]:
    return ["run", "--suite-file", str(suite), "--frameworks", "torch", "--deterministic", "--threads", "1",
            "--seeds", str(seed), "--results-dir", str(results), "--no-report"]  # fmt: skip


def folder_of(results: Path) -> Path:
    (folder,) = (results / "checkpoints").iterdir()
    return folder


def ended(results: Path) -> tuple[checkpoint.Checkpoint, pd.DataFrame, pd.Series]:
    """The final checkpoint, the step rows and the run row of the one run in `results`."""
    folder = folder_of(results)
    ckpt = checkpoint.read(checkpoint.checkpoints(folder)[0])
    return (
        ckpt,
        pd.read_parquet(results / "steps" / f"{folder.name}.parquet"),
        pd.read_parquet(results / "runs" / f"{folder.name}.parquet").iloc[0],
    )


def assert_same_end(results: Path, whole: Path) -> None:
    a, steps_a, _ = ended(whole)
    b, steps_b, row = ended(results)
    assert row["status"] == "ok" and a.step == b.step
    for key in (k for k in a.arrays if k.startswith(("fw/", "weights/"))):
        assert np.array_equal(a.arrays[key], b.arrays[key]), key
    pd.testing.assert_frame_equal(steps_a[["step", "loss_d", "loss_g"]], steps_b[["step", "loss_d", "loss_g"]])


@pytest.fixture(scope="module")
def env(tmp_path_factory, mnist_dir) -> dict[str, str]:
    return {"BENCH_DATA_DIR": str(mnist_dir), "BENCH_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("suite") / "trust.toml"
    path.write_text(SUITE)
    return path


@pytest.fixture(scope="module")
def whole(tmp_path_factory, suite, env) -> Path:
    results = tmp_path_factory.mktemp("whole")
    proc = run_cli(*args(results, suite), env=env)
    assert proc.returncode == 0, proc.stderr
    return results


def killed(results: Path, suite: Path, env: dict, seed: int = 0) -> Path:
    """A run killed inside its third checkpoint write: checkpoints at steps 8 and 14 are on disk."""
    run_cli(*args(results, suite, seed), env={**env, "BENCH_TEST_KILL_IN_CHECKPOINT": "3"})
    assert [checkpoint.step_of(p) for p in checkpoint.checkpoints(folder_of(results))] == [14, 8]
    return results


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory, suite, env) -> Path:
    return killed(tmp_path_factory.mktemp("interrupted"), suite, env)


def npz(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def huge_header(good: bytes) -> bytes:
    """An archive whose one member's header claims 10^13 float32 values (40 TB) over a few bytes."""
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": "<f4", "fortran_order": False, "shape": (10**13,)})
    member.write(b"\0" * 64)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("meta.npy", member.getvalue())
    return buf.getvalue()


def without_weights(good: bytes) -> bytes:
    with np.load(io.BytesIO(good), allow_pickle=False) as f:
        return npz({k: f[k] for k in f.files if not k.startswith(("fw/", "weights/"))})


CRAFTED: dict[str, Callable[[bytes], bytes]] = {
    "zip header and garbage": lambda good: b"PK\x03\x04" + np.random.default_rng(0).bytes(4096),
    "truncated": lambda good: good[: len(good) // 2],
    "plain npy": lambda good: (lambda b: (np.save(b, np.zeros(10)), b.getvalue())[1])(io.BytesIO()),
    "header claiming 10^13 values": huge_header,
    "meta without weights": without_weights,
}


def plant(folder: Path, step: int, data: bytes) -> Path:
    """Write `data` as the checkpoint of `step`, named with the checksum of these very bytes."""
    path = folder / f"ckpt-{step:08d}-{hashlib.sha256(data).hexdigest()[:16]}.npz"
    path.write_bytes(data)
    return path


def test_each_crafted_checkpoint_is_passed_over_for_the_one_before_and_the_run_ends_as_an_uninterrupted_one(
    interrupted, whole, suite, env, tmp_path
):
    """One crafted file per kind, at steps 13 down to 9 (the genuine 14 removed): each is named in its own
    warning and passed over for the one before it, down to the genuine checkpoint of step 8."""
    results = tmp_path / "r"
    shutil.copytree(interrupted, results)
    newest, genuine = checkpoint.checkpoints(folder_of(results))
    good = newest.read_bytes()
    newest.unlink()
    planted = {kind: plant(genuine.parent, 13 - i, make(good)) for i, (kind, make) in enumerate(CRAFTED.items())}
    proc = run_cli(*args(results, suite), env=env)
    assert proc.returncode == 0, proc.stderr
    warned = [ln for ln in proc.stderr.splitlines() if "warning: checkpoint" in ln]
    assert len(warned) == len(CRAFTED), proc.stderr
    for (kind, path), line in zip(planted.items(), warned, strict=True):
        assert str(path) in line and "the one before" in line, (kind, line)
    assert ended(results)[2]["resumed_from"] == "8"
    assert_same_end(results, whole)


def test_a_checkpoint_of_another_seed_is_refused_even_under_this_runs_id_and_seed(
    interrupted, whole, suite, env, tmp_path
):
    """Seed 1's checkpoint, its meta rewritten to name seed 0's run and seed: the generators' state gives it
    away (a PCG64's increment is fixed by its seed), and the run starts at step 0 instead."""
    other = killed(tmp_path / "seed1", suite, env, seed=1)
    results = tmp_path / "r"
    shutil.copytree(interrupted, results)
    mine = folder_of(results)
    own_meta = checkpoint.read(checkpoint.checkpoints(mine)[0]).meta
    foreign = checkpoint.read(checkpoint.checkpoints(folder_of(other))[0])
    assert foreign.meta["provenance"]["seed"] == 1
    meta = {**foreign.meta, "run_id": own_meta["run_id"], "provenance": own_meta["provenance"]}
    for p in checkpoint.checkpoints(mine):
        p.unlink()
    planted = plant(mine, 14, npz({"meta": np.array(json.dumps(meta)), **foreign.arrays}))
    proc = run_cli(*args(results, suite), env=env)
    assert proc.returncode == 0, proc.stderr
    warned = [ln for ln in proc.stderr.splitlines() if "warning: checkpoint" in ln]
    assert len(warned) == 1 and str(planted) in warned[0] and "not seeded as this run's" in warned[0], proc.stderr
    assert ended(results)[2]["resumed"] == 0
    assert_same_end(results, whole)


def test_a_run_whose_data_changed_under_the_same_id_restarts_and_never_mixes(whole, suite, env, tmp_path):
    """Interrupted on the offline default (mnist-5k: no MNIST anywhere), resumed once the real MNIST is
    found: both checkpoints were trained on other data, so the run starts again at step 0."""
    results = tmp_path / "r"
    offline = {"BENCH_DATA_DIR": "", "BENCH_CACHE_DIR": str(tmp_path / "empty-cache")}
    killed(results, suite, offline)
    newest = checkpoint.read(checkpoint.checkpoints(folder_of(results))[0])
    assert newest.meta["provenance"]["data"] != ended(whole)[0].meta["provenance"]["data"]
    proc = run_cli(*args(results, suite), env=env)
    assert proc.returncode == 0, proc.stderr
    warned = [ln for ln in proc.stderr.splitlines() if "warning: checkpoint" in ln]
    assert len(warned) == 2 and all("other data" in w for w in warned), proc.stderr
    _, _, row = ended(results)
    assert row["resumed"] == 0 and row["dataset"] == "mnist" and not row["offline_default"]
    assert_same_end(results, whole)


def test_checkpoints_without_provenance_are_not_resumed(interrupted, whole, suite, env, tmp_path):
    """Checkpoints written before they recorded provenance hold no seed or data checksum: they are passed
    over and the run starts again at step 0, never trusting them."""
    results = tmp_path / "r"
    shutil.copytree(interrupted, results)
    folder = folder_of(results)
    for p in checkpoint.checkpoints(folder):
        ckpt = checkpoint.read(p)
        meta = {k: v for k, v in ckpt.meta.items() if k not in ("provenance", "spec")}
        p.unlink()
        plant(folder, ckpt.step, npz({"meta": np.array(json.dumps(meta)), **ckpt.arrays}))
    proc = run_cli(*args(results, suite), env=env)
    assert proc.returncode == 0, proc.stderr
    warned = [ln for ln in proc.stderr.splitlines() if "warning: checkpoint" in ln]
    assert len(warned) == 2 and all("records no seed" in w for w in warned), proc.stderr
    assert ended(results)[2]["resumed"] == 0
    assert_same_end(results, whole)
