"""Canonical <-> PyTorch <-> TensorFlow weight layouts (numpy only) and the key report."""

import numpy as np
import pytest

from bench.convert import check_keys, compare_keys, converter
from bench.errors import BenchError
from bench.frameworks import FRAMEWORKS
from bench.variants import VARIANTS, variant_arch
from bench.weights import arch_shapes, init_weights


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_round_trips_are_exact(name):
    arch = variant_arch(VARIANTS[name])
    w = init_weights(arch, np.random.default_rng(0))
    for fw in FRAMEWORKS:
        again = converter(fw, "from")(arch, converter(fw, "to")(arch, w))
        assert set(again) == set(w)
        for k in w:
            np.testing.assert_array_equal(again[k], w[k])


def test_layouts_of_each_layer_kind():
    arch = variant_arch(VARIANTS["dcgan"])
    w = init_weights(arch, np.random.default_rng(0))
    pt, tf = converter("torch", "to")(arch, w), converter("tf", "to")(arch, w)
    assert w["G.fc.weight"].shape == (100, 12544) and pt["G.fc.weight"].shape == (12544, 100)
    assert tf["G.fc.kernel"].shape == (100, 12544)
    assert pt["G.deconv2.weight"].shape == (128, 64, 5, 5)  # (in, out, kh, kw)
    assert tf["G.deconv2.kernel"].shape == (5, 5, 64, 128)  # (kh, kw, out, in)
    assert pt["D.conv2.weight"].shape == (128, 64, 5, 5)  # (out, in, kh, kw)
    assert tf["D.conv2.kernel"].shape == (5, 5, 64, 128)  # (kh, kw, in, out)
    assert pt["D.conv2.weight"][3, 2, 1, 0] == w["D.conv2.weight"][1, 0, 2, 3]
    assert pt["G.deconv2.weight"][3, 2, 1, 0] == w["G.deconv2.weight"][1, 0, 3, 2]
    assert tf["G.deconv2.kernel"][1, 0, 2, 3] == w["G.deconv2.weight"][1, 0, 3, 2]
    assert "G.bn1.moving_variance" in tf and "G.bn1.running_var" in pt


def test_key_report_names_missing_unexpected_and_mismatched():
    expected = {"a": (2,), "b": (3,), "c": (4,)}
    rep = compare_keys(expected, {"a": np.zeros(2), "c": np.zeros(5), "z": np.zeros(1)})
    assert rep.missing == ["b"] and rep.unexpected == ["z"] and rep.mismatched == ["c (5,) != (4,)"]
    with pytest.raises(BenchError, match="missing: b; unexpected: z; mismatched: c"):
        check_keys(expected, {"a": np.zeros(2), "c": np.zeros(5), "z": np.zeros(1)}, "test weights")


def test_init_schemes_follow_the_spec():
    rng = np.random.default_rng(0)
    mlp = init_weights(variant_arch(VARIANTS["gan"]), rng)
    bound = 1 / np.sqrt(96)
    assert np.abs(mlp["G.fc1.weight"]).max() <= bound and np.abs(mlp["G.fc1.bias"]).max() <= bound
    assert np.abs(mlp["G.fc1.weight"]).max() > 0.9 * bound
    conv = init_weights(variant_arch(VARIANTS["dcgan"]), rng)
    assert abs(conv["G.deconv2.weight"].std() - 0.02) < 0.001
    assert abs(conv["G.bn1.weight"].mean() - 1) < 0.01 and conv["G.bn1.bias"].max() == 0
    assert (conv["G.bn1.running_var"] == 1).all() and (conv["D.conv1.bias"] == 0).all()
    assert all(a.dtype == np.float32 for a in conv.values())
    assert set(conv) == set(arch_shapes(variant_arch(VARIANTS["dcgan"])))
