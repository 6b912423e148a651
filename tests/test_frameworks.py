"""Every installed implementation against the spec and each other, each framework in its own process.

One probe process per framework (tests/probe_framework.py) dumps initial weights, outputs, loss
values on fixed logits, a gradient penalty and a WGAN step; these tests compare the dumps.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.frameworks import FRAMEWORKS, installed
from bench.inputs import rngs
from bench.variants import OBJECTIVES, VARIANTS, variant_arch
from bench.weights import init_weights
from tests.loss_fixtures import fixed_logits, reference

HERE = Path(__file__).resolve().parent
INSTALLED = [fw for fw in FRAMEWORKS if installed(fw)]


@pytest.fixture(scope="module")
def dumps(tmp_path_factory) -> dict[str, dict[str, np.ndarray]]:
    out = {}
    procs = {}
    for fw in INSTALLED:
        path = tmp_path_factory.mktemp(fw) / "probe.npz"
        cmd = [sys.executable, str(HERE / "probe_framework.py"), fw, str(path)]
        procs[fw] = (subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True), path)
    for fw, (p, path) in procs.items():
        _, err = p.communicate(timeout=540)
        assert p.returncode == 0, f"{fw} probe failed: {err[-2000:]}"
        out[fw] = dict(np.load(path))
    return out


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_initial_weights_identical_in_every_framework(dumps, name):
    arch = variant_arch(VARIANTS[name])
    canonical = init_weights(arch, rngs(0)["init"])
    for fw in INSTALLED:
        got = {k.split("/w/", 1)[1]: a for k, a in dumps[fw].items() if k.startswith(f"{name}/w/")}
        assert set(got) == set(canonical), fw
        for k, a in canonical.items():
            np.testing.assert_array_equal(got[k], a, err_msg=f"{fw} {k}")


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_output_shapes_and_ranges(dumps, name):
    arch = variant_arch(VARIANTS[name])
    lo, hi = arch.data_range
    for fw in INSTALLED:
        g, d = dumps[fw][f"{name}/g_out"], dumps[fw][f"{name}/d_out"]
        assert g.shape == (8, *arch.image_shape), fw
        assert lo <= g.min() and g.max() <= hi, fw
        assert d.shape == (8, VARIANTS[name].d_out), fw


@pytest.mark.parametrize("obj", sorted(OBJECTIVES))
def test_losses_match_numpy_reference(dumps, obj):
    want_d, want_g = reference(obj, fixed_logits(obj))
    for fw in INSTALLED:
        np.testing.assert_allclose(dumps[fw][f"loss/{obj}/d"], want_d, rtol=1e-5, err_msg=fw)
        np.testing.assert_allclose(dumps[fw][f"loss/{obj}/g"], want_g, rtol=1e-5, err_msg=fw)


def test_gradient_penalty_of_a_linear_critic(dumps):
    w = np.random.default_rng(0).normal(0, 0.05, (28 * 28,)).astype(np.float32)
    want = (np.linalg.norm(w.astype(np.float64)) - 1) ** 2
    for fw in INSTALLED:
        np.testing.assert_allclose(dumps[fw]["gp/value"], want, rtol=1e-5, err_msg=fw)


def test_wgan_clips_after_every_critic_update_and_counts_n_critic(dumps):
    for fw in INSTALLED:
        assert int(dumps[fw]["wgan/critic_calls"]) == 2 * VARIANTS["wgan"].n_critic, fw
        maxima = dumps[fw]["wgan/max_abs_after_update"]
        assert len(maxima) == 10 and maxima.max() <= 0.01 + 1e-9, fw
