"""Stability figures and seed spread on hand-made tables with known answers (no framework)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from bench.metrics.stability import STABILITY_COLUMNS, seed_spread, stability, stability_table
from tests.conftest import REPO


def steps_table(loss_d, loss_g=None, grad_d=None, grad_g=None, run_id="r") -> pd.DataFrame:
    n = len(loss_d)
    return pd.DataFrame(
        {
            "run_id": run_id,
            "step": np.arange(n),
            "phase": ["warmup"] * 2 + ["timed"] * (n - 2),
            "loss_d": np.asarray(loss_d, float),
            "loss_g": np.asarray(loss_g if loss_g is not None else np.ones(n), float),
            "grad_norm_d": np.asarray(grad_d if grad_d is not None else np.ones(n), float),
            "grad_norm_g": np.asarray(grad_g if grad_g is not None else np.ones(n), float),
        }
    )


def test_divergence_step_is_the_first_non_finite_loss():
    assert stability(steps_table(np.ones(10)))["divergence_step"] == -1
    loss_d = np.ones(10)
    loss_d[6:] = np.nan
    loss_g = np.ones(10)
    loss_g[8] = np.inf
    assert stability(steps_table(loss_d))["divergence_step"] == 6
    assert stability(steps_table(np.ones(10), loss_g))["divergence_step"] == 8
    assert stability(steps_table(loss_d, loss_g))["divergence_step"] == 6


def test_divergence_step_reports_the_step_number_in_step_order():
    t = steps_table([1.0, 1.0, np.nan, 1.0]).assign(step=[10, 11, 12, 13]).iloc[::-1]
    assert stability(t)["divergence_step"] == 12


def test_dispersion_and_mean_abs_change_use_the_second_half():
    # first half is wild and must be ignored; second half alternates 1, 3: std 1, |change| 2
    loss_d = [100.0, -50.0, 7.0, 0.0, 1.0, 3.0, 1.0, 3.0]
    loss_g = [9.0, 9.0, 9.0, 9.0, 0.0, 1.0, 3.0, 6.0]  # changes 1, 2, 3: mean 2
    s = stability(steps_table(loss_d, loss_g))
    assert s["loss_d_dispersion"] == pytest.approx(1.0)
    assert s["loss_d_mean_abs_change"] == pytest.approx(2.0)
    assert s["loss_g_dispersion"] == pytest.approx(np.std([0.0, 1.0, 3.0, 6.0]))
    assert s["loss_g_mean_abs_change"] == pytest.approx(2.0)


def test_odd_length_takes_the_later_half_and_skips_non_finite_values():
    # n = 7: second half is the last 4 values; the NaN drops one value and both changes around it
    s = stability(steps_table([5.0, 5.0, 5.0, 2.0, 4.0, np.nan, 8.0]))
    assert s["loss_d_dispersion"] == pytest.approx(np.std([2.0, 4.0, 8.0]))
    assert s["loss_d_mean_abs_change"] == pytest.approx(2.0)  # only |4 - 2|
    assert s["divergence_step"] == 5


def test_too_few_values_give_nan():
    s = stability(steps_table([1.0, 2.0, np.nan, np.nan]))
    assert math.isnan(s["loss_d_dispersion"]) and math.isnan(s["loss_d_mean_abs_change"])


def test_gradient_norm_statistics_over_all_finite_steps():
    grad_d = [1.0, 9.0, 2.0, np.nan, 3.0, np.inf]
    s = stability(steps_table(np.ones(6), grad_d=grad_d, grad_g=[np.nan] * 6))
    assert s["grad_norm_d_median"] == pytest.approx(2.5)
    assert s["grad_norm_d_max"] == pytest.approx(9.0)
    assert math.isnan(s["grad_norm_g_median"]) and math.isnan(s["grad_norm_g_max"])


def test_stability_table_has_one_row_per_run():
    steps = pd.concat([steps_table(np.ones(6), run_id="a"), steps_table([1, 1, 1, np.nan, 1, 1], run_id="b")])
    table = stability_table(steps)
    assert list(table.columns) == ["run_id", *STABILITY_COLUMNS]
    assert table.set_index("run_id")["divergence_step"].to_dict() == {"a": -1, "b": 3}
    with pytest.raises(ValueError, match="one run"):
        stability(steps)


def test_seed_spread_averages_repeats_then_spreads_over_seeds():
    runs = pd.DataFrame(
        {
            "variant": ["gan"] * 5 + ["dcgan"] * 2,
            "framework": ["torch", "torch", "torch", "tf", "tf", "torch", "torch"],
            "seed": [0, 0, 1, 0, 1, 0, 1],
            "repeat": [0, 1, 0, 0, 0, 0, 0],
            "fid": [10.0, 12.0, 15.0, 20.0, np.nan, 5.0, np.inf],
        }
    )
    spread = seed_spread(runs).set_index(["variant", "framework"])
    torch_gan = spread.loc[("gan", "torch")]  # seed 0 -> mean of repeats 11, seed 1 -> 15
    assert torch_gan["metric"] == "fid"
    assert torch_gan["mean"] == pytest.approx(13.0)
    assert torch_gan["std"] == pytest.approx(np.std([11.0, 15.0], ddof=1))
    assert (torch_gan["min"], torch_gan["max"], torch_gan["n"]) == (11.0, 15.0, 2)
    tf_gan = spread.loc[("gan", "tf")]  # NaN seed ignored: one value, std undefined
    assert tf_gan["n"] == 1 and tf_gan["mean"] == 20.0 and math.isnan(tf_gan["std"])
    assert spread.loc[("dcgan", "torch")]["n"] == 1  # inf is not a value


def test_seed_spread_of_a_missing_column_is_empty():
    assert seed_spread(pd.DataFrame({"variant": ["gan"], "framework": ["tf"], "seed": [0]})).empty


def test_orchestrator_side_modules_import_without_frameworks():
    code = (
        "import sys, bench.metrics.stability, bench.metrics.coverage, bench.metrics.evaluate;"
        "bad = [m for m in ('torch', 'tensorflow') if m in sys.modules]; assert not bad, bad"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
