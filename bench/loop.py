"""The harness's training loop: warm-up, then timed intervals with a device sync at each edge.

Framework-agnostic: it drives the `Trainer` of any registered implementation package. Step outputs stay on
the device during an interval and are fetched at its end (the fetch is the sync), so the loop adds
no per-step synchronisation that a hand-written loop would not have.
"""

from __future__ import annotations

import itertools
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
    resumed_from: list[int] = field(default_factory=list)  # the step each resumed segment began at
    continued_from: str = ""  # the shorter finished run this one continued (train further), if any
    checkpoints: int = 0  # checkpoints written (all segments)
    checkpoint_s: float = 0.0  # seconds spent writing them, outside every timed interval
    eval_s: float = 0.0  # seconds spent generating the sample sets of FID along training (bench/evals.py)

    def timed_steps(self) -> int:
        """Timed steps done so far (the loop's position in its interval plan)."""
        return sum(iv["steps"] for iv in self.intervals)

    def counted(self) -> list[dict]:
        """The intervals that speed figures use: all but the first of each resumed segment, which pays
        that process's tracing/compilation again (its warm-up)."""
        return [iv for iv in self.intervals if iv.get("counted", True)]


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
    resume: LoopResult | None = None,
    on_edge: Callable[[LoopResult, bool], None] = lambda res, last: None,
) -> LoopResult:
    """Warm-up, then the timed intervals; `on_edge(res, last)` after each interval (checkpoints). With
    `resume` (a checkpoint's loop state, taken at an interval edge), the remaining intervals only."""
    total = steps + warmup
    if resume is None:
        res = LoopResult()
        if not _warmup(res, trainer, stream, warmup):
            return res
    else:
        res = resume
        res.resumed_from.append(len(res.steps))
    reset_memory()
    plan, done, segment = remaining_plan(steps, intervals, res), len(res.intervals), len(res.resumed_from)
    for k, n in enumerate(plan, done):
        trainer.sync()
        start = time.perf_counter()
        outs = [trainer.train_step(stream.next()) for _ in range(n)]
        fetched = trainer.fetch(outs)  # waits for the device
        seconds = time.perf_counter() - start
        res.timed_s += seconds
        res.intervals.append(
            {
                "interval": k,
                "steps": n,
                "seconds": seconds,
                "images_per_s": stream.batch * n / seconds,
                "segment": segment,
                "counted": not (segment > 0 and k == done),
            }  # fmt: skip
        )
        if not _record(res, fetched, "timed"):
            break
        on_progress(len(res.steps), total, n / seconds)
        on_edge(res, k == done + len(plan) - 1)
    return res


def remaining_plan(steps: int, intervals: int, res: LoopResult) -> list[int]:
    """The timed intervals still to run: the rest of the run's own plan when it stopped at one of its
    edges (a resumed run), else the remaining steps split anew (a run continued to more steps)."""
    full = split_steps(steps, intervals)
    done = res.timed_steps()
    edges = list(itertools.accumulate(full))
    if done == 0:
        return full
    if done in edges:
        return full[edges.index(done) + 1 :]
    return split_steps(steps - done, max(1, intervals - len(res.intervals)))


def _warmup(res: LoopResult, trainer, stream: InputStream, warmup: int) -> bool:
    """The untimed warm-up steps (the first traces/compiles); False at a non-finite loss."""
    t0 = time.perf_counter()
    for i in range(warmup):
        out = trainer.train_step(stream.next())
        ok = _record(res, trainer.fetch([out]), "warmup")
        if i == 0:
            res.first_step_s = time.perf_counter() - t0
        if not ok:
            res.warmup_s = time.perf_counter() - t0
            return False
    res.warmup_s = time.perf_counter() - t0
    return True
