"""Cross-framework parity: every level (L1-L5, L2e) for every variant, and proof that the checks can fail.

Per variant, one worker process per framework runs every level once (on that variant's first test), at
batch 8 (4 for dcgan-cifar) with 10 L5 steps to fit the CI budget (the CLI defaults are each variant's
batch size and 50 steps); the tests compare the dumps with numpy only. JAX, when installed, runs in a
third worker beside them. One variant per setup, not all of them in one: each setup fits the test's own
timeout (pytest-timeout, 600 s) on a host twice as slow as today's with the machine busy, and adding a
variant does not grow any setup (all ten in one setup took 383 s quiet, and errored 66 tests under load).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench import frameworks
from bench.inputs import rngs
from bench.parity import cli
from bench.parity.compare import Row, compare_variant, level1, level2, level5, load_dump
from bench.parity.levels import F64_TRAJ_TOL, LEVELS, TOLERANCE, Job
from bench.parity.runner import collect, run_workers
from bench.variants import VARIANTS, variant_arch
from bench.weights import init_weights

pytestmark = pytest.mark.parity

BATCH, STEPS = 8, 10
WORKER_TIMEOUT = 540  # seconds for one variant's workers: below the test's own timeout (600 s)
SMALLER = {"dcgan-cifar": 4}  # the heaviest model (6M parameters, 256-channel 32x32 maps) at half the batch
REPO = Path(__file__).resolve().parents[1]


def small_job(**changes) -> Job:
    job = Job(list(VARIANTS), steps=STEPS, batch_size=BATCH, threads=1, batch_sizes=dict(SMALLER))
    for k, v in changes.items():
        setattr(job, k, v)
    return job


JAX = "jax" if frameworks.installed("jax") else ""


Run = tuple[Job, Path, dict[str, Path]]


@pytest.fixture(scope="session")
def parity_runs(tmp_path_factory) -> Callable[[str], Run]:
    """`run(variant)`: PyTorch, TensorFlow and (when installed) JAX on that variant, their workers side by
    side, started on the variant's first use and kept for the session."""
    done: dict[str, Run] = {}

    def run(variant: str) -> Run:
        if variant not in done:
            job, workdir = small_job(variants=[variant]), tmp_path_factory.mktemp(f"parity-{variant}")
            fws = ("torch", "tf", *([JAX] if JAX else []))
            done[variant] = job, workdir, run_workers(job, workdir, WORKER_TIMEOUT, frameworks=fws)
        return done[variant]

    return run


@pytest.fixture(scope="session")
def parity_run(parity_runs) -> Run:
    """The runs of gan and dcgan, which the perturbation and CLI tests read."""
    job, workdir, outs = parity_runs("dcgan")
    _, _, gan_outs = parity_runs("gan")
    both = small_job(variants=["gan", "dcgan"])
    return both, workdir, {fw: merged(workdir / f"both-{fw}", outs[fw], gan_outs[fw]) for fw in outs}


def merged(out: Path, *dirs: Path) -> Path:
    """One output directory holding the files of several workers' (file names carry the variant)."""
    out.mkdir(exist_ok=True)
    for d in dirs:
        for f in d.iterdir():
            if not (out / f.name).exists():
                (out / f.name).symlink_to(f.resolve())
    return out


@pytest.fixture(scope="session")
def rows(parity_runs) -> Callable[[str], dict[str, list[Row]]]:
    """`rows(variant)`: every framework's rows against the reference, by level."""

    done: dict[str, dict[str, list[Row]]] = {}

    def of(variant: str) -> dict[str, list[Row]]:
        if variant not in done:
            job, workdir, outs = parity_runs(variant)
            done[variant] = {}
            for r in compare_variant(variant, collect(outs, variant, workdir), job):
                done[variant].setdefault(r.level, []).append(r)
        return done[variant]

    return of


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_level_passes(rows, variant, level):
    found = rows(variant)[level]
    assert [r.framework for r in found] == ["tf", *([JAX] if JAX else [])]
    for row in found:
        assert row.passed, (
            f"{variant} {row.framework} {level}: rel {row.max_rel_diff:.2e} > tol {row.tolerance:g}; {row.detail}"
        )


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_variant_drift_step_is_recorded(rows, variant):
    for row in rows(variant)["L5"]:
        assert row.drift_step is None or 1 <= row.drift_step <= STEPS
        assert "drift" in row.detail


@pytest.fixture(scope="session")
def perturbed(parity_run, tmp_path_factory) -> dict[str, dict]:
    """dcgan's dumps where one G weight moved by 1e-3 in PyTorch's input only (TF's are the healthy ones)."""
    job, _, outs = parity_run
    tmp = tmp_path_factory.mktemp("perturbed")
    weights = init_weights(variant_arch(VARIANTS["dcgan"]), rngs(job.seed)["init"])
    weights["G.deconv3.weight"][2, 2, 0, 0] += 1e-3
    np.savez(tmp / "w.npz", **weights)
    bad = small_job(variants=["dcgan"], levels=["L2", "L5"], weights={"dcgan": str(tmp / "w.npz")})
    bad_outs = run_workers(bad, tmp / "work", timeout=300, frameworks=("torch",))
    return {"torch": load_dump(bad_outs["torch"], "dcgan"), "tf": load_dump(outs["tf"], "dcgan")}


def test_a_perturbed_weight_makes_forward_parity_fail(parity_run, perturbed):
    """L2 must fail, and only for that reason."""
    job, _, outs = parity_run
    arch = variant_arch(VARIANTS["dcgan"])
    row = level2("dcgan", arch, perturbed, job)
    assert not row.passed and row.max_abs_diff > 1e-4, row
    healthy = level2("dcgan", arch, {fw: load_dump(outs[fw], "dcgan") for fw in ("torch", "tf")}, job)
    assert healthy.passed and healthy.max_abs_diff < TOLERANCE["L2"]


def test_every_framework_is_compared_with_the_reference(parity_run, perturbed, monkeypatch):
    """N frameworks: each gets its own rows against the reference; a third one (here a registered copy
    of PyTorch fed the perturbed weights) fails alone, and the healthy pair still passes."""
    job, _, outs = parity_run
    monkeypatch.setitem(frameworks.REGISTRY, "torch2", dataclasses.replace(frameworks.REGISTRY["torch"], name="torch2"))
    healthy = {fw: load_dump(outs[fw], "dcgan") for fw in ("torch", "tf")}
    three = {**healthy, "torch2": perturbed["torch"]}
    found = compare_variant("dcgan", three, small_job(variants=["dcgan"], levels=["L2"]))  # perturbed ran L2, L5
    assert {(r.framework, r.level): r.passed for r in found} == {("tf", "L2"): True, ("torch2", "L2"): False}


def test_a_perturbed_weight_makes_the_trajectory_fail_in_float64(parity_run, perturbed):
    """Float32 drift past tolerance is forgiven only when float64 agrees: a real difference is not."""
    job, _, _ = parity_run
    row = level5("dcgan", variant_arch(VARIANTS["dcgan"]), perturbed, job)
    assert not row.passed and row.f64_rel_diff > F64_TRAJ_TOL and "float64 differs by" in row.detail, row


def test_a_missing_or_misshapen_tensor_fails_shapes(parity_run):
    job, _, outs = parity_run
    arch = variant_arch(VARIANTS["dcgan"])
    dumps = {fw: load_dump(outs[fw], "dcgan") for fw in ("torch", "tf")}
    del dumps["tf"]["L1/shape/G.bn0.gamma"]
    dumps["torch"]["L1/shape/D.conv1.weight"] = np.array([64, 1, 5, 4])
    row = level1("dcgan", arch, dumps, job)
    assert not row.passed
    assert "missing: G.bn0.weight" in row.detail and "mismatched: D.conv1.weight" in row.detail


def test_a_worker_error_fails_every_level_with_its_reason(tmp_path):
    for fw in ("torch", "tf"):
        (tmp_path / fw).mkdir()
    (tmp_path / "tf" / "gan.error").write_text("RuntimeError: boom")
    outs = {fw: tmp_path / fw for fw in ("torch", "tf")}
    found = compare_variant("gan", collect(outs, "gan", tmp_path), small_job(variants=["gan"]))
    assert [r.level for r in found] == list(LEVELS)
    assert all(not r.passed for r in found)
    assert "tf worker: RuntimeError: boom" in found[0].detail and "torch worker: no output" in found[0].detail


def test_cli_writes_the_table_and_exit_code(parity_run, tmp_path, monkeypatch, capsys):
    """main_parity end to end on the session's dumps (its worker start is replaced, not its logic)."""
    job, _, outs = parity_run
    monkeypatch.setattr(cli, "run_workers", lambda *a, **k: outs)
    argv = [
        "--variants",
        "gan,dcgan",
        "--steps",
        str(STEPS),
        "--batch-size",
        str(BATCH),
        "--results-dir",
        str(tmp_path),
    ]
    code = cli.main_parity(argv)
    out = capsys.readouterr().out
    df = pd.read_parquet(tmp_path / "parity" / "parity.parquet")
    assert list(df.columns) == [
        "variant", "level", "max_abs_diff", "max_rel_diff", "tolerance", "passed", "drift_step", "detail",
        "f64_rel_diff", "framework", "precision", "against",
    ]  # fmt: skip
    assert set(df["precision"]) == {"fp32"} and set(df["against"]) == {""}
    compared = {"tf", *([JAX] if JAX else [])}  # the default: every installed framework but the reference
    assert set(df["framework"]) == compared
    assert len(df) == 2 * len(LEVELS) * len(compared) and set(df["variant"]) == {"gan", "dcgan"}
    assert code == (0 if df["passed"].all() else 1)
    assert "gan" in out and "L5" in out and "checks passed" in out
    assert not any(p.name.endswith(".tmp") for p in (tmp_path / "parity").iterdir())


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--variants", "nope"], "unknown variant 'nope'"),
        (["--levels", "L9"], "unknown level 'L9'"),
        (["--steps", "0"], "steps must be >= 1"),
        (["--data", "imagenet"], "invalid choice: 'imagenet'"),
        (["--frameworks", "torch,mxnet"], "unknown framework 'mxnet'"),
        (["--frameworks", "torch"], "nothing to compare: name a framework besides the reference"),
        (["--data", "real", "--variants", "wgan-gp-64", "--data-dir", "/no/such/dir"], "--data real: wgan-gp-64 needs"),
    ],
)
def test_bad_input_is_one_line_exit_2(argv, message, capsys, tmp_path):
    assert cli.main_parity([*argv, "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert not any(tmp_path.iterdir())


def test_module_entry_point_reports_bad_input_without_traceback():
    p = subprocess.run(
        [sys.executable, "-m", "bench.parity.cli", "--variants", "nope"], cwd=REPO, capture_output=True, text=True
    )
    assert p.returncode == 2 and p.stderr.startswith("error: unknown variant") and "Traceback" not in p.stderr
