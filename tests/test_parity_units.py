"""The parity package's numpy side on its own: metrics, inputs, slot conversion, drift step (no framework)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.convert import converter, slots_to_canonical
from bench.frameworks import FRAMEWORKS
from bench.parity.cases import synthetic_data, with_running_stats
from bench.parity.compare import bn_shadowed, level5, rel_diff, rel_norm
from bench.parity.levels import DRIFT, F64_TRAJ_TOL, L5_AGREE_STEPS, TOLERANCE, Job, tolerance
from bench.variants import VARIANTS, variant_arch
from bench.weights import init_weights

pytestmark = pytest.mark.parity


def test_relative_differences_use_the_tensor_scale():
    a = np.array([1.0, -2.0, 0.5])
    assert rel_diff(a, a) == (0.0, 0.0)
    assert rel_diff(a, a + [0, 2e-4, 0]) == pytest.approx((2e-4, 1e-4), rel=1e-3)
    assert rel_diff(np.array([0.01]), np.array([0.0101]), floor=1.0)[1] == pytest.approx(1e-4, rel=1e-3)
    assert rel_norm(a, 2 * a)[1] == pytest.approx(0.5)
    assert rel_norm(a, a[:2]) == (float("inf"), float("inf"))


def test_bn_cancelled_biases_are_those_feeding_a_batch_norm():
    assert bn_shadowed(variant_arch(VARIANTS["ssgan"])) == {
        "G.fc.bias": "G.bn0",
        "G.deconv1.bias": "G.bn1",
        "D.conv1.bias": "D.bn1",
        "D.conv2.bias": "D.bn2",
        "D.fc1.bias": "D.bn3",
    }
    assert bn_shadowed(variant_arch(VARIANTS["dcgan"])) == {}  # no bias before BN in dcgan28
    assert "G.fc.bias" not in bn_shadowed(variant_arch(VARIANTS["dcgan-cifar"]))  # a reshape in between


@pytest.mark.parametrize("name", ["dcgan", "ssgan", "wgan-gp-64"])
def test_optimizer_slots_convert_like_their_parameters(name):
    arch = variant_arch(VARIANTS[name])
    w = {k: a for k, a in init_weights(arch, np.random.default_rng(0)).items() if not k.endswith("running_var")}
    slots = {f"{k}.{s}": a + i for k, a in w.items() for i, s in enumerate(("m", "v"))}
    for there, back in ((converter(fw, "to"), converter(fw, "from")) for fw in FRAMEWORKS):
        framework = {
            f"{k}.{s}": a for s in ("m", "v") for k, a in there(arch, {n: slots[f"{n}.{s}"] for n in w}).items()
        }
        again = slots_to_canonical(arch, framework, back)
        assert set(again) == set(slots)
        for k in slots:
            np.testing.assert_array_equal(again[k], slots[k])


def test_synthetic_data_is_deterministic_and_image_like():
    a, la = synthetic_data((28, 28, 1), 64, 0)
    b, lb = synthetic_data((28, 28, 1), 64, 0)
    assert a.dtype == np.uint8 and a.shape == (64, 28, 28, 1) and la.min() >= 0 and la.max() <= 9
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)
    assert not np.array_equal(a, synthetic_data((28, 28, 1), 64, 1)[0])
    assert (a[:, ::4, ::4] == a[:, 1::4, 1::4]).all()  # 4x4 blocks


def test_eval_weights_have_random_running_statistics():
    arch = variant_arch(VARIANTS["dcgan"])
    w = init_weights(arch, np.random.default_rng(0))
    e = with_running_stats(w, 0)
    assert e["G.bn0.running_var"].min() >= 0.5 and not np.allclose(e["G.bn0.running_mean"], 0)
    np.testing.assert_array_equal(e["G.fc.weight"], w["G.fc.weight"])


def l5_dumps(torch32: np.ndarray, tf32: np.ndarray, torch64: np.ndarray, tf64: np.ndarray) -> dict:
    """Dumps whose D curves are the given ones (G's agree), float64 curves cut to the agreement window."""
    samples = np.zeros((2, 4, 4, 1), np.float32)
    n = L5_AGREE_STEPS

    def dump(c32: np.ndarray, c64: np.ndarray) -> dict:
        return {
            "L5/loss_d": c32,
            "L5/loss_g": BASE,
            "L5_64/loss_d": c64[:n],
            "L5_64/loss_g": BASE[:n],
            "L5/samples": samples,
        }

    return {"torch": dump(torch32, torch64), "tf": dump(tf32, tf64)}


BASE = np.linspace(1.0, 2.0, 12)


def test_drift_step_and_window():
    drifted = BASE.copy()
    drifted[7:] *= 1 + 2 * DRIFT  # from step 8 on
    job = Job(["gan"], steps=len(BASE))
    arch = variant_arch(VARIANTS["gan"])
    row = level5("gan", arch, l5_dumps(BASE, drifted, BASE, BASE), job)
    assert row.drift_step == 8 and row.passed and row.max_rel_diff == pytest.approx(2 * DRIFT, rel=1e-2)
    assert row.f64_rel_diff == 0 and "float32 leaves float64 by 0.0e+00 (torch) / 2.0e-03 (tf)" in row.detail
    drifted[2:] *= 1.5
    assert not level5("gan", arch, l5_dumps(BASE, drifted, BASE, drifted), job).passed  # float64 parts too


def test_float32_trajectories_past_tolerance_pass_only_when_float64_agrees():
    """Rounding amplified by training: each framework's float32 leaves float64, the float64 curves agree."""
    job, arch = Job(["gan"], steps=len(BASE)), variant_arch(VARIANTS["gan"])
    t32, f32 = BASE * (1 + 1e-2 * np.arange(12)), BASE * (1 - 1e-2 * np.arange(12))
    row = level5("gan", arch, l5_dumps(t32, f32, BASE, BASE * (1 + 1e-12)), job)
    assert row.passed and row.max_rel_diff > TOLERANCE["L5"] and row.f64_rel_diff < 1e-11
    assert "float32 is over" in row.detail and "float32 leaves float64 by 8.3e-02 (torch) / 9.0e-02 (tf)" in row.detail
    off = BASE.copy()
    off[4:] += 1e-6  # a real difference: float64 curves part at step 5
    row = level5("gan", arch, l5_dumps(t32, f32, BASE, off), job)
    assert not row.passed and row.f64_rel_diff > F64_TRAJ_TOL and "a real difference" in row.detail
    assert "float64 differs by" in row.detail
    close = level5("gan", arch, l5_dumps(BASE, BASE, BASE, off), job)  # float32 agrees, float64 does not
    assert not close.passed and close.max_rel_diff == 0


def test_l5_fails_when_float64_ran_fewer_steps_than_the_window():
    job, arch = Job(["gan"], steps=len(BASE)), variant_arch(VARIANTS["gan"])
    dumps = l5_dumps(BASE, BASE, BASE, BASE)
    for d in dumps.values():
        d["L5_64/loss_d"], d["L5_64/loss_g"] = d["L5_64/loss_d"][:3], d["L5_64/loss_g"][:3]
    row = level5("gan", arch, dumps, job)
    assert not row.passed and "over 3 of 10 steps" in row.detail


def test_job_round_trips_through_json(tmp_path: Path):
    job = Job(["gan"], ["L2"], 5, 8, 3, 1, "synthetic", "", {"gan": "w.npz"}, {"gan": 4})
    job.write(tmp_path / "job.json")
    assert Job.read(tmp_path / "job.json") == job
    assert job.batch_for("gan") == 4 and job.batch_for("dcgan") == 8 and Job(["gan"]).batch_for("gan") == 128


def test_every_override_has_a_reason():
    for name in VARIANTS:
        for level in ("L1", "L2", "L2e", "L3", "L4", "L5"):
            tol, why = tolerance(name, level)
            assert tol > 0 or level == "L1"
            if why:
                assert len(why) > 40, (name, level)
