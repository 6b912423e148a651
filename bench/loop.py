"""The harness's training loop: warm-up, then timed intervals with a device sync at each edge.

Framework-agnostic: it drives the `Trainer` of any registered implementation package. Step outputs stay on
the device during an interval and are fetched at its end (the fetch is the sync), so the loop adds
no per-step synchronisation that a hand-written loop would not have.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.inputs import InputStream
from bench.measure import split_steps

LOSSES = ("loss_d", "loss_g")


@dataclass
class LoopResult:
    steps: list[dict] = field(default_factory=list)  # per step: step, phase, losses, grad norms
    intervals: list[dict] = field(default_factory=list)  # per interval: steps, seconds, images_per_s
    first_step_s: float = 0.0
    warmup_s: float = 0.0
    timed_s: float = 0.0
    divergence_step: int = -1


def _record(res: LoopResult, fetched: list[dict], phase: str) -> bool:
    """Append fetched step values; return False (and note the step) at the first non-finite loss.

    Under loss scaling (fp16) a step whose update was skipped for overflow may show a non-finite loss (a
    gradient penalty whose inner gradient overflowed): that update was not applied and is counted as
    skipped, not as divergence."""
    for values in fetched:
        step = len(res.steps)
        res.steps.append({"step": step, "phase": phase, **values})
        skipped = values.get("skipped_d", 0.0) > 0 or values.get("skipped_g", 0.0) > 0
        if res.divergence_step < 0 and not skipped and not all(math.isfinite(values[k]) for k in LOSSES):
            res.divergence_step = step
    return res.divergence_step < 0


def train_loop(
    trainer,
    stream: InputStream,
    steps: int,
    warmup: int,
    intervals: int,
    on_progress: Callable[[int, int, float], None] = lambda done, total, rate: None,
    reset_memory: Callable[[], None] = lambda: None,
) -> LoopResult:
    res = LoopResult()
    total = steps + warmup
    t0 = time.perf_counter()
    for i in range(warmup):
        out = trainer.train_step(stream.next())
        ok = _record(res, trainer.fetch([out]), "warmup")
        if i == 0:
            res.first_step_s = time.perf_counter() - t0
        if not ok:
            res.warmup_s = time.perf_counter() - t0
            return res
    res.warmup_s = time.perf_counter() - t0
    reset_memory()
    for n in split_steps(steps, intervals):
        trainer.sync()
        start = time.perf_counter()
        outs = [trainer.train_step(stream.next()) for _ in range(n)]
        fetched = trainer.fetch(outs)  # waits for the device
        seconds = time.perf_counter() - start
        res.timed_s += seconds
        res.intervals.append(
            {"interval": len(res.intervals), "steps": n, "seconds": seconds, "images_per_s": stream.batch * n / seconds}
        )
        if not _record(res, fetched, "timed"):
            break
        on_progress(len(res.steps), total, n / seconds)
    return res
