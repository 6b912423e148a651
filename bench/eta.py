"""How long a suite will take: each pending run from the FLOP model and the speed of runs finished on this machine.

A run costs `fixed + work / rate` seconds: `work` is its analytic FLOPs (bench/flops.py: one step's
FLOPs x (steps + warm-up)), `rate` the FLOP/s that the closest runs already finished here reached
(compilation counted in `fixed`, with process start, imports, model build and samples): same
framework, mode, architecture and batch size, then the same architecture at any batch, then the
framework and mode, the framework, any run, then a prior. Runs recorded earlier on this host in the
results directory count too. On a CPU, where no run of the architecture in this framework and mode
was seen yet, the rate learned from the others is used only where it beats the prior (a share of the
machine's matmul peak): an MLP at batch 16 reaches a tenth of a conv net's FLOP/s, and a sweep starts
with the MLP. The FID
phase is the images to score (samples, the reference and the floor of each dataset) over the
extractor speed measured on this machine (bench/fid/runtimes.py's saved choice), else a share of its
measured matmul peak, else a prior.
Coverage (a small classifier) is left out. Tested on recorded runs in tests/test_eta.py.
"""

from __future__ import annotations

import functools
import glob
import json
import math
import socket
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bench.files import cache_root
from bench.flops import step_flops
from bench.peak import best_measured, theoretical_peak
from bench.spec import RunSpec
from bench.validate import resolve
from bench.variants import get_variant, variant_arch

PRIOR_FIXED_S = 20.0  # a CPU run's process start, imports, build and samples, before any run is seen
PRIOR_RATE = {"cpu": 2e10, "gpu": 1e12}  # FLOP/s of a GAN step before any run is seen, without a peak
PRIOR_SHARE = 0.3  # before any run is seen: this share of the machine's peak (measured, else theoretical)
PRIOR_FID_RATE = {"cpu": 8.0, "gpu": 300.0}  # Inception images/s before the extractor or any matmul was measured
# Before the extractor is measured (at the start of the FID phase), a CPU's best matmul stands in: the
# network is 11.42 GFLOP an image (benchmarks/bench_inception.py counts it), and the `all` suite's FID
# phase ran at 0.7-1.0x the matmul peak on three 2-core hosts (12 images/s at 200 GFLOP/s with PyTorch;
# 10 at 110 and 14.3 at 168 with OpenVINO): 0.8 keeps the estimate within about 30% of each.
INCEPTION_FLOPS = 11.42e9
FID_PEAK_SHARE = 0.8
# Scoring one set besides extraction: FID's 2048x2048 matrix square root, KID's 100 subsets, loading;
# 19 s per set of 1,024 in the `all` suite on a 2-core AVX2 CPU (120 s a set, 101 s of it extraction).
SCORE_S = 18.0
MEASURED = ("ok", "diverged")


def run_work(spec: RunSpec) -> float:
    """Analytic FLOPs of the whole run: one step's FLOPs x (timed + warm-up steps)."""
    return step_work(spec.variant, resolve(spec).batch_size) * (spec.steps + spec.warmup)


@functools.lru_cache(maxsize=1024)
def step_work(name: str, batch_size: int) -> float:
    variant = get_variant(name)
    return float(step_flops(variant, variant_arch(variant), batch_size).total)


def levels(spec: RunSpec) -> list[tuple]:
    """The keys a finished run teaches, closest first: framework, mode, architecture and batch size;
    without the batch; framework and mode; framework; any run."""
    run, fw, mode = resolve(spec), spec.framework, spec_mode(spec)
    return [(fw, mode, run.arch.name, run.batch_size), (fw, mode, run.arch.name), (fw, mode), (fw,), ()]


def spec_mode(spec: RunSpec) -> str:
    """The run's mode, with its precision unless fp32: a precision changes the speed as much as a mode does
    (PyTorch's fp16 on a CPU is ~20x slower than its fp32), so rates are learned per precision."""
    mode = resolve(spec).mode
    return mode if spec.precision == "fp32" else f"{mode}/{spec.precision}"


def device_kind(spec: RunSpec) -> str:
    return "cpu" if spec.device == "cpu" else "gpu"


@dataclass
class Seen:
    """What the finished runs under one `levels` key cost: fixed seconds each, and FLOPs over train seconds."""

    fixed: list[float] = field(default_factory=list)
    work: float = 0.0
    train_s: float = 0.0


@dataclass
class Estimator:
    seen: dict[tuple, Seen] = field(default_factory=lambda: defaultdict(Seen))  # by `levels`
    priors: dict[tuple[str, int], float] = field(default_factory=dict)  # prior FLOP/s by (device, threads)

    def observe(self, spec: RunSpec, row: dict, seconds: float) -> None:
        """Learn from a finished run: `seconds` end to end, and its row's warm-up, timed and compile seconds."""
        if row.get("status") not in MEASURED:
            return
        try:
            train = float(row["warmup_s"]) + float(row["timed_s"])
            compile_s = max(0.0, float(row.get("compile_s", 0.0)))
        except (KeyError, TypeError, ValueError):
            return
        if not all(math.isfinite(v) for v in (train, compile_s, seconds)) or train - compile_s <= 0:
            return
        fixed, work = max(0.0, seconds - train + compile_s), run_work(spec)
        for key in levels(spec):
            seen = self.seen[key]
            seen.fixed.append(fixed)
            seen.work += work
            seen.train_s += train - compile_s

    def predict(self, spec: RunSpec) -> float:
        """Seconds for one run, from the closest runs seen (see `levels`), else from the prior."""
        key = next((k for k in levels(spec) if k in self.seen), None)
        if key is None:
            return PRIOR_FIXED_S + run_work(spec) / self.prior(spec)
        seen = self.seen[key]
        rate = seen.work / seen.train_s
        if len(key) < 3 and device_kind(spec) == "cpu":  # no run of this architecture in this framework
            rate = max(rate, self.prior(spec))  # and mode: others' FLOP rates need not carry over
        return statistics.median(seen.fixed) + run_work(spec) / rate

    def prior(self, spec: RunSpec) -> float:
        key = (spec.device, spec.threads)
        if key not in self.priors:  # read from disk once per device and thread count
            self.priors[key] = prior_rate(spec)
        return self.priors[key]

    def training_s(self, specs: list[RunSpec], jobs: int) -> float:
        return sum(self.predict(s) for s in specs) / max(1, jobs)

    def learn_from_results(self, runs: list[dict], specs_by_id: dict[str, RunSpec]) -> None:
        """Rows of these specs recorded on this host earlier (their worker's wall_s plus ~1 s of process
        start). A run id includes `jobs`, so a row shared the machine as the spec will."""
        host = socket.gethostname()
        for row in runs:
            spec = specs_by_id.get(str(row.get("run_id")))
            if spec is None or row.get("hostname") != host:
                continue
            try:
                self.observe(spec, row, float(row.get("wall_s", math.nan)) + 1.0)
            except (TypeError, ValueError):
                continue


def prior_rate(spec: RunSpec) -> float:
    """FLOP/s to expect before any run is seen: a share of the best matmul measured on this host
    (bench/peak.py's cache), else of the CPU's theoretical peak, else a fixed guess."""
    if device_kind(spec) != "cpu":
        return PRIOR_RATE["gpu"]
    peak = best_measured({"hostname": socket.gethostname(), "device": "cpu"})  # any framework, any threads
    if not math.isfinite(peak):
        peak = theoretical_peak(spec.threads)
    return PRIOR_SHARE * peak if math.isfinite(peak) and peak > 0 else PRIOR_RATE["cpu"]


def fid_images(specs: list[RunSpec]) -> int:
    """Images the evaluation extracts: every run's samples, plus a reference and a floor set per dataset."""
    per_dataset: dict[str, int] = defaultdict(int)
    total = 0
    for s in specs:
        if s.fid_samples:
            dataset = s.dataset or get_variant(s.variant).dataset
            per_dataset[dataset] = max(per_dataset[dataset], s.fid_samples)
            total += s.fid_samples
    return total + 2 * sum(per_dataset.values())


def fid_rate(device: str) -> tuple[float, str]:
    """(images/s, where the figure comes from): this host's measured FID runtime, else a share of its
    matmul peak (measured by the first run of a suite, at the default thread count), else a prior."""
    if device != "cpu":
        return PRIOR_FID_RATE["gpu"], "a prior"
    best = 0.0
    for path in glob.glob(str(cache_root() / "fid-runtime" / "choice-*.json")):
        try:
            saved = json.loads(Path(path).read_text())
            if saved.get("host") == socket.gethostname():
                best = max(best, float(saved["measured"][saved["runtime"]]["images_per_s"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    if best > 0:
        return best, "measured here"
    peak = best_measured({"hostname": socket.gethostname(), "device": "cpu", "threads": 0})
    if math.isfinite(peak) and peak > 0:
        return FID_PEAK_SHARE * peak / INCEPTION_FLOPS, "from this machine's matmul peak"
    return PRIOR_FID_RATE["cpu"], "a prior"


def fid_s(specs: list[RunSpec]) -> float:
    """Extraction (images over the measured speed) plus the scoring of each set: every run's and the floor."""
    if not specs:
        return 0.0
    datasets = {s.dataset or get_variant(s.variant).dataset for s in specs if s.fid_samples}
    sets = sum(1 for s in specs if s.fid_samples) + len(datasets)
    return fid_images(specs) / fid_rate(specs[0].device)[0] + sets * SCORE_S


def clock(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds >= 3600:
        return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def expected(estimator: Estimator, pending: list[RunSpec], evaluated: list[RunSpec], jobs: int) -> str:
    """The up-front line: expected duration with its two parts and where the speeds come from."""
    train, fid = estimator.training_s(pending, jobs), fid_s(evaluated)
    rate, source = fid_rate(evaluated[0].device) if evaluated else (0.0, "")
    known = "runs seen on this machine" if estimator.seen else "a prior (no run seen on this machine yet)"
    fid_text = f"FID {clock(fid)} for {fid_images(evaluated)} images at {rate:.1f}/s ({source})" if fid else "no FID"
    return f"expected duration {clock(train + fid)}: training {clock(train)} ({known}), {fid_text}"
