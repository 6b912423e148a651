"""The analytic FLOP model (bench/flops.py) against hand counts, and the cached matmul peak."""

from __future__ import annotations

import json
import math

import pandas as pd

from bench import peak
from bench.flops import GP_FORWARDS, layer_flops, network_flops, step_flops
from bench.peak import peak_columns, peak_dir
from bench.report.data import with_machine_peak
from bench.run_one import flop_columns
from bench.spec import conv, convt, dense
from bench.variants import VARIANTS, get_variant, variant_arch


def test_dense_conv_and_transposed_conv_layers_by_hand():
    assert layer_flops(dense("fc", 256), (784,)) == 2 * 784 * 256
    # conv 64, k5, s2, same on 28x28x1 -> 14x14x64; each output sums 5*5*1 products
    assert layer_flops(conv("c", 64, 5, 2), (28, 28, 1)) == 2 * 14 * 14 * 64 * 25 * 1 == 627_200
    # valid conv 64, k5, s3 on 64x64x3 -> 20x20x64
    assert layer_flops(conv("c", 64, 5, 3, "valid"), (64, 64, 3)) == 2 * 20 * 20 * 64 * 25 * 3
    # convt 64, k5, s2, same: 7x7x128 -> 14x14x64; each input pixel scatters a 5x5x64 patch
    assert layer_flops(convt("t", 64, 5, 2), (7, 7, 128)) == 2 * 7 * 7 * 128 * 25 * 64 == 20_070_400


def test_mlp_gan_step_by_hand():
    v = get_variant("gan")
    arch = variant_arch(v)
    g = [2 * 96 * 1024, 2 * 1024 * 1024, 2 * 1024 * 784]
    d = [2 * 784 * 256, 2 * 256 * 256, 2 * 256 * 1]
    assert network_flops(arch.generator) == g and network_flops(arch.discriminator) == d
    fg, fd = sum(g), sum(d)
    d_backward = fd + (fd - d[0])  # weight grads of all layers; input grads of all but the first
    d_update = fg + 2 * fd + 2 * d_backward  # G forward (no grad), D on real and fake, both backward
    g_update = fg + fd + fd + (fg + fg - g[0])  # forward, D input grads only, G weight + input grads
    assert d_update == 6_294_528 and g_update == 12_567_552
    sf = step_flops(v, arch, 128)
    assert (sf.d_update, sf.g_update, sf.gp) == (128 * d_update, 128 * g_update, 0)
    assert sf.total == 128 * 18_862_080


def test_n_critic_and_gradient_penalty_scale_as_documented():
    dcgan, wgan, gp = (get_variant(n) for n in ("dcgan", "wgan", "wgan-gp"))  # same dcgan28 networks
    arch = variant_arch(dcgan)
    fd = sum(network_flops(arch.discriminator))
    one, five, with_gp = (step_flops(v, arch, 64) for v in (dcgan, wgan, gp))
    assert five.total - one.total == 4 * one.d_update  # four more D updates, same G update
    assert with_gp.gp == 64 * GP_FORWARDS * fd == 64 * 6 * fd
    assert with_gp.total - five.total == 5 * with_gp.gp  # the penalty in each of the five D updates
    assert step_flops(dcgan, arch, 256).total == 4 * one.total  # linear in the batch


def test_every_variant_has_a_count():
    for v in VARIANTS.values():
        sf = step_flops(v, variant_arch(v), v.batch_size)
        assert sf.total > 0 and sf.n_critic == v.n_critic


def test_peak_is_measured_once_then_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path))
    calls = []

    def measure(device, n, repeats):
        calls.append((device, n, repeats))
        return [2.0, 1.0, 3.0]

    info = {"framework_version": "9.9", "threads": 2}
    first = peak_columns("torch", info, "cpu", measure, 2)
    again = peak_columns("torch", info, "cpu", measure, 2)
    n = calls[0][1]
    assert len(calls) == 1 and first["peak_matmul_flops"] == again["peak_matmul_flops"] == 2 * n**3 / 2.0
    assert (first["peak_matmul_cached"], again["peak_matmul_cached"]) == (False, True)
    peak_columns("torch", info, "cpu", measure, 1)  # other threads asked for: another entry
    assert len(calls) == 2 and len(list(peak_dir().glob("*.json"))) == 2
    entry = json.loads(next(peak_dir().glob("*.json")).read_text())
    assert entry["framework"] == "torch" and entry["n"] == n
    monkeypatch.setenv("BENCH_PEAK", "0")
    assert math.isnan(peak_columns("tf", info, "cpu", measure, 2)["peak_matmul_flops"]) and len(calls) == 2


def test_flop_columns_of_a_run_row():
    v = get_variant("dcgan")
    arch = variant_arch(v)
    row = {"images_per_s": 128.0, "peak_matmul_flops": 1e11, "machine_peak_flops": 2e11, "first_step_s": 3.0,
           "step_time_s": 0.5}  # fmt: skip
    cols = flop_columns(v, arch, 64, row)
    per_step = step_flops(v, arch, 64).total
    assert cols["flops_per_step"] == per_step and cols["flops_per_s"] == per_step * 2.0
    assert math.isclose(cols["flop_utilisation"], per_step * 2.0 / 2e11) and cols["compile_s"] == 2.5
    assert math.isclose(cols["framework_utilisation"], per_step * 2.0 / 1e11)


def test_machine_peak_is_the_best_framework_on_the_same_machine_device_and_threads(tmp_path, monkeypatch):
    """The issue's case: PyTorch's matmul half TensorFlow's; both runs divide by TensorFlow's."""
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path))
    slow, fast = (lambda d, n, r: [2.0 * n**3 / 5e10]), (lambda d, n, r: [2.0 * n**3 / 1e11])
    # what each framework reports for the same default differs (TF 0, PyTorch its pool): the key is the request
    tf = peak_columns("tf", {"framework_version": "2", "threads": 0}, "cpu", fast, 0)
    torch = peak_columns("torch", {"framework_version": "9", "threads": 2}, "cpu", slow, 0)
    other_threads = peak_columns("torch", {"framework_version": "9", "threads": 1}, "cpu", slow, 1)
    assert math.isclose(torch["peak_matmul_flops"], 5e10) and math.isclose(torch["machine_peak_flops"], 1e11)
    assert math.isclose(tf["machine_peak_flops"], 1e11) and math.isclose(other_threads["machine_peak_flops"], 5e10)


def test_theoretical_peak_from_the_cpu(monkeypatch):
    monkeypatch.setattr(peak, "cpu_flags_and_mhz", lambda: ({"avx", "avx2", "fma"}, 2500.0))
    monkeypatch.setattr(peak, "physical_cores", lambda: 4)
    assert peak.theoretical_peak(0) == 4 * 2 * 8 * 2 * 2500e6  # cores x FMA units x lanes x FMA x clock
    assert peak.theoretical_peak(2) == 2 * 2 * 8 * 2 * 2500e6
    monkeypatch.setattr(peak, "cpu_flags_and_mhz", lambda: ({"avx512f", "fma"}, 2000.0))
    assert peak.theoretical_peak(1) == 1 * 2 * 16 * 2 * 2000e6
    monkeypatch.setattr(peak, "cpu_flags_and_mhz", lambda: (set(), 0.0))
    assert math.isnan(peak.theoretical_peak(1))


def test_physical_cores_count_hyperthreads_once(monkeypatch, tmp_path):
    info = "\n\n".join(f"processor\t: {i}\nphysical id\t: 0\ncore id\t\t: {i % 2}" for i in range(4))
    fake = tmp_path / "cpuinfo"
    fake.write_text(info)
    real_path = peak.Path
    monkeypatch.setattr(peak, "Path", lambda p: fake if p == "/proc/cpuinfo" else real_path(p))
    monkeypatch.setattr(peak.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert peak.physical_cores() == 2  # 4 logical CPUs, 2 cores with 2 threads each
    monkeypatch.setattr(peak.os, "sched_getaffinity", lambda pid: {0})
    assert peak.physical_cores() == 1


def test_report_divides_every_framework_by_one_peak():
    """A throughput sweep over two frameworks: one peak per machine, utilisation ordered as FLOP/s."""
    rows = []
    for batch, (f_torch, f_tf) in {32: (3.0e10, 4.0e10), 64: (4.5e10, 4.2e10)}.items():
        rows.append({"framework": "torch", "batch_size": batch, "flops_per_s": f_torch, "peak_matmul_flops": 5e10})
        rows.append({"framework": "tf", "batch_size": batch, "flops_per_s": f_tf, "peak_matmul_flops": 9.75e10})
    runs = pd.DataFrame(rows).assign(hostname="h", cpu_model="c", device="cpu", gpu_name="", peak_threads=0)
    out = with_machine_peak(runs)
    assert set(out["machine_peak_flops"]) == {9.75e10}
    for _, g in out.groupby("batch_size"):
        assert list(g.sort_values("flops_per_s")["framework"]) == list(g.sort_values("flop_utilisation")["framework"])
    old = out[out["framework"] == "torch"]["framework_utilisation"]  # each framework's own figure is kept
    assert list(old) == [3.0e10 / 5e10, 4.5e10 / 5e10]
    other_host = with_machine_peak(pd.concat([runs, runs.iloc[:1].assign(hostname="h2", peak_matmul_flops=1e9)]))
    assert other_host["machine_peak_flops"].iloc[-1] == 1e9
