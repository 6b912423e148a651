"""The parity package's numpy side on its own: metrics, inputs, slot conversion, drift step (no framework)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.convert import canonical_to_tf, canonical_to_torch, slots_to_canonical, tf_to_canonical, torch_to_canonical
from bench.parity.cases import synthetic_data, with_running_stats
from bench.parity.compare import bn_shadowed, level5, rel_diff, rel_norm
from bench.parity.levels import DRIFT, Job, tolerance
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
    for there, back in ((canonical_to_torch, torch_to_canonical), (canonical_to_tf, tf_to_canonical)):
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


def test_drift_step_and_window():
    steps = 12
    base = np.linspace(1.0, 2.0, steps)
    drifted = base.copy()
    drifted[7:] *= 1 + 2 * DRIFT  # from step 8 on
    samples = np.zeros((2, 4, 4, 1), np.float32)
    dumps = {
        "torch": {"L5/loss_d": base, "L5/loss_g": base, "L5/samples": samples},
        "tf": {"L5/loss_d": drifted, "L5/loss_g": base, "L5/samples": samples},
    }
    job = Job(["gan"], steps=steps)
    arch = variant_arch(VARIANTS["gan"])
    row = level5("gan", arch, dumps, job)
    assert row.drift_step == 8 and row.passed and row.max_rel_diff == pytest.approx(2 * DRIFT, rel=1e-2)
    drifted[2:] *= 1.5
    assert not level5("gan", arch, dumps, job).passed


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
