"""The suite ETA (bench/eta.py): the FLOP model with speeds learned from finished runs, the FID phase,
and, on runs recorded from real `all` suites on 2-core CPUs, within 30% after their first quarter."""

import io
import json
import socket
from pathlib import Path

import pandas as pd
import pytest

from bench import eta
from bench.eta import Estimator, fid_images, fid_rate, run_work
from bench.executor import Progress, pending
from bench.results import table_path, write_table_atomic
from bench.spec import RunSpec

FIXTURES = Path(__file__).parent / "fixtures"
# `all` suites from fresh clones on 2-core AVX2 hosts (training-time prediction after a quarter, after half):
# PyTorch + TensorFlow, 16 trained runs, 2026-12-02 (+28%, +2%); the three frameworks, 24 runs, 2026-12-03 (-19%, -36%).
# The throughput sweep, three frameworks, its first 445 of 504 trained runs (gan to ssgan), 2026-12-03 (-24%, -31%).
# With the float32 matmul peak each host measured (the prior for architectures not run yet is 0.3 x that).
RECORDED = (
    ("all_suite_runs.csv", 1.12e11),
    ("all_suite_runs_3fw.csv", 1.68e11),
    ("throughput_sweep_runs_3fw.csv", 1.68e11),
)


def row(train_s: float, compile_s: float = 0.0, status: str = "ok") -> dict:
    """A run row whose steps took `train_s` seconds besides `compile_s` of compilation."""
    return {"status": status, "warmup_s": compile_s + 1.0, "timed_s": train_s - 1.0, "compile_s": compile_s}


def test_prior_before_any_run_then_learned_speed():
    spec = RunSpec("dcgan", "torch", steps=100, warmup=2)
    est = Estimator()
    assert est.predict(spec) == pytest.approx(eta.PRIOR_FIXED_S + run_work(spec) / eta.prior_rate(spec))
    rate = 5e9  # FLOP/s this machine reached; 10 s of fixed cost per run
    est.observe(spec, row(run_work(spec) / rate), run_work(spec) / rate + 10.0)
    longer = RunSpec("dcgan", "torch", steps=400, warmup=2)
    assert est.predict(longer) == pytest.approx(10.0 + run_work(longer) / rate)


def test_compile_time_is_fixed_cost_not_speed():
    spec = RunSpec("gan", "torch", mode="compile", steps=100, warmup=3)
    est = Estimator()
    work = run_work(spec)
    est.observe(spec, row(work / 1e10, compile_s=30.0), 30.0 + work / 1e10 + 5.0)  # 5 s besides compiling
    assert est.predict(RunSpec("gan", "torch", mode="compile", steps=1000, warmup=3)) == pytest.approx(
        35.0 + run_work(RunSpec("gan", "torch", steps=1000, warmup=3)) / 1e10
    )


def test_closest_runs_stand_in_and_failures_teach_nothing(monkeypatch):
    monkeypatch.setattr(eta, "prior_rate", lambda spec: 1e9)  # slower than anything learned here
    est = Estimator()
    torch_run, tf_run = RunSpec("gan", "torch", steps=50), RunSpec("gan", "tf", steps=50)
    est.observe(torch_run, row(5.0, status="failed"), 30.0)
    assert not est.seen
    est.observe(torch_run, row(run_work(torch_run) / 1e10), run_work(torch_run) / 1e10 + 4.0)
    xla = RunSpec("gan", "tf", mode="xla", steps=50)
    assert est.predict(xla) == pytest.approx(est.predict(tf_run)) == pytest.approx(est.predict(torch_run))
    est.observe(tf_run, row(run_work(tf_run) / 2e10), run_work(tf_run) / 2e10 + 8.0)
    assert est.predict(xla) == pytest.approx(8.0 + run_work(xla) / 2e10)  # same framework, other mode


def test_a_rate_from_another_architecture_is_used_only_where_it_beats_the_prior(monkeypatch):
    """A sweep starts with the MLP gan, whose FLOP rate at batch 16 is a tenth of a conv net's: taken
    for dcgan, it made the throughput sweep's ETA 2.5-5x too long for its first quarter."""
    monkeypatch.setattr(eta, "prior_rate", lambda spec: 3e10)
    est = Estimator()
    mlp = RunSpec("gan", "torch", steps=6, warmup=2, batch_size=16)
    est.observe(mlp, row(run_work(mlp) / 2e9), run_work(mlp) / 2e9 + 3.0)  # 2 GFLOP/s, 3 s besides
    conv = RunSpec("dcgan", "torch", steps=6, warmup=2, batch_size=64)
    assert est.predict(conv) == pytest.approx(3.0 + run_work(conv) / 3e10)  # the prior's rate, the fixed cost seen
    assert est.predict(RunSpec("gan", "torch", steps=6, warmup=2, batch_size=64)) == pytest.approx(
        3.0 + run_work(RunSpec("gan", "torch", steps=6, warmup=2, batch_size=64)) / 2e9
    )  # the same architecture at another batch size: its own rate, even below the prior
    est.observe(conv, row(run_work(conv) / 1e10), run_work(conv) / 1e10 + 5.0)
    same_arch = RunSpec("wgan", "torch", steps=6, warmup=2, batch_size=64)
    assert est.predict(same_arch) == pytest.approx(5.0 + run_work(same_arch) / 1e10)  # dcgan's conv net
    gpu, gpu_conv = RunSpec("gan", "torch", device="0", batch_size=16), RunSpec("dcgan", "torch", device="0")
    gpu_est = Estimator()  # a GPU's prior is a guess, not a measured peak: what was learned stands
    gpu_est.observe(gpu, row(run_work(gpu) / 2e9), run_work(gpu) / 2e9 + 3.0)
    assert gpu_est.predict(gpu_conv) == pytest.approx(3.0 + run_work(gpu_conv) / 2e9)


def test_fid_phase_counts_samples_reference_and_floor(tmp_path, monkeypatch):
    specs = [RunSpec("gan", fw, fid_samples=1024) for fw in ("torch", "tf")] + [RunSpec("dcgan", "tf")]
    assert fid_images(specs) == 2 * 1024 + 2 * 1024  # one MNIST reference and one floor set
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path))
    assert fid_rate("cpu") == (eta.PRIOR_FID_RATE["cpu"], "a prior")
    saved = {"runtime": "openvino", "host": socket.gethostname(), "measured": {"openvino": {"images_per_s": 12.5}}}
    (tmp_path / "fid-runtime").mkdir()
    (tmp_path / "fid-runtime" / "choice-x.json").write_text(json.dumps(saved))
    assert fid_rate("cpu") == (12.5, "measured here")
    assert eta.fid_s(specs) == pytest.approx(4096 / 12.5 + 3 * eta.SCORE_S)  # two runs' sets and the floor
    assert "for 4096 images at 12.5/s (measured here)" in eta.expected(Estimator(), specs, specs[:2], 1)


def test_fid_speed_before_it_is_measured_comes_from_the_matmul_peak(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path))
    (tmp_path / "peak").mkdir()
    entry = {"hostname": socket.gethostname(), "device": "cpu", "threads": 1, "flops": 9e10}
    (tmp_path / "peak" / "torch-1.json").write_text(json.dumps(entry))
    assert fid_rate("cpu") == (eta.PRIOR_FID_RATE["cpu"], "a prior")  # one thread's peak is not the extractor's
    (tmp_path / "peak" / "torch-0.json").write_text(json.dumps(dict(entry, threads=0, flops=1.68e11)))
    rate, source = fid_rate("cpu")
    assert (rate, source) == (pytest.approx(0.8 * 1.68e11 / 11.42e9), "from this machine's matmul peak")
    assert 10.0 < rate < 14.3  # that host's FID phase ran at 14.3 images/s
    assert fid_rate("0") == (eta.PRIOR_FID_RATE["gpu"], "a prior")


def test_progress_refreshes_the_fid_phase_when_a_run_has_measured_the_peak(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path))
    specs = [RunSpec("gan", fw, steps=10, warmup=1, fid_samples=1024) for fw in ("torch", "tf")]
    progress = Progress(total=2, stream=io.StringIO())
    progress.plan(specs, tmp_path / "results")
    before = progress.fid_phase_s
    assert before == pytest.approx(eta.fid_s(specs))  # the 8 images/s prior: nothing measured yet
    (tmp_path / "peak").mkdir()  # what the first run's worker caches
    entry = {"hostname": socket.gethostname(), "device": "cpu", "threads": 0, "flops": 1.68e11}
    (tmp_path / "peak" / "torch-0.json").write_text(json.dumps(entry))
    progress.started(specs[0])
    progress.finished(specs[0], row(1.0))
    assert progress.fid_phase_s == pytest.approx(eta.fid_s(specs)) and progress.fid_phase_s < 0.8 * before


def test_a_resumed_suite_learns_from_the_runs_it_finished_before(tmp_path, monkeypatch):
    """The finished runs of a suite stopped half way are on disk: the resumed suite's up-front
    estimate starts from their speed, not from the prior (it did before: only pending runs counted)."""
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path))
    done, todo = RunSpec("dcgan", "torch", steps=20, warmup=2), RunSpec("dcgan", "torch", steps=20, warmup=2, seed=1)
    rate = 4e9  # FLOP/s the finished run reached; it ran 7 s besides its steps
    recorded = {**row(run_work(done) / rate), "run_id": done.run_id, "variant": "dcgan", "framework": "torch"}
    recorded.update(hostname=socket.gethostname(), jobs=1, wall_s=run_work(done) / rate + 6.0)  # +1 s to start
    write_table_atomic(pd.DataFrame([recorded]), table_path(tmp_path / "results", "runs", done.run_id))
    progress = Progress(total=2, stream=io.StringIO())
    assert [spec for _, spec in pending([done, todo], tmp_path / "results", False, progress)] == [todo]
    assert progress.estimator.predict(todo) == pytest.approx(7.0 + run_work(todo) / rate)
    progress.announce()
    assert "(runs seen on this machine)" in progress.stream.getvalue()
    elsewhere = Progress(total=2, stream=io.StringIO())
    monkeypatch.setattr(socket, "gethostname", lambda: "another-host")
    pending([done, todo], tmp_path / "results", False, elsewhere)
    assert not elsewhere.estimator.seen  # another machine's rows teach nothing


def test_prior_is_a_share_of_the_machine_peak(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(eta, "theoretical_peak", lambda threads: 1e11)
    spec = RunSpec("gan", "torch")
    assert eta.prior_rate(spec) == pytest.approx(eta.PRIOR_SHARE * 1e11)  # nothing measured yet: theory
    (tmp_path / "peak").mkdir()
    entry = {"hostname": socket.gethostname(), "device": "cpu", "flops": 6e10}
    (tmp_path / "peak" / "tf-x.json").write_text(json.dumps(entry))
    assert eta.prior_rate(spec) == pytest.approx(eta.PRIOR_SHARE * 6e10)  # the measured matmul wins
    assert eta.prior_rate(RunSpec("gan", "torch", device="0")) == eta.PRIOR_RATE["gpu"]


def test_clock():
    assert (eta.clock(5), eta.clock(125.9), eta.clock(3 * 3600 + 61)) == ("0m05s", "2m05s", "3h01m")


@pytest.mark.parametrize(("recorded", "peak"), RECORDED)
def test_within_30_percent_after_the_first_quarter_of_a_recorded_suite(recorded, peak, monkeypatch):
    """Replay a real suite (its rows in run order, `seconds` as the orchestrator spent on each run end
    to end): after a quarter of the runs that trained have finished, the predicted training time of the
    rest is within 30% of theirs. After half, the three-framework suites are 31-36% under: their second
    halves hold wgan-gp and ssgan, whose FLOP rates are below what the same framework reached on dcgan."""
    monkeypatch.setattr(eta, "prior_rate", lambda spec: eta.PRIOR_SHARE * peak)
    runs = pd.read_csv(FIXTURES / recorded)
    runs = runs[runs["status"].isin(["ok", "diverged"])].reset_index(drop=True)  # skipped ones cost nothing
    specs = [RunSpec(r.variant, r.framework, steps=int(r.steps), warmup=int(r.warmup), batch_size=int(r.batch_size),
                     mode=r.mode) for r in runs.itertuples()]  # fmt: skip
    quarter = len(runs) // 4
    est = Estimator()
    for spec, r in zip(specs[:quarter], runs.to_dict("records")[:quarter], strict=True):
        est.observe(spec, r, r["seconds"])
    predicted = est.training_s(specs[quarter:], jobs=1)
    actual = runs["seconds"].iloc[quarter:].sum()
    assert abs(predicted - actual) <= 0.3 * actual, (predicted, actual)
