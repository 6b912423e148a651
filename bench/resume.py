"""The worker's side of checkpoints: what one holds for a run, and how an interrupted run resumes.

The orchestrator names the run's checkpoint folder in BENCH_CHECKPOINT_DIR. A run that finds a good
checkpoint there restores the framework's whole state (Trainer.restore_state), the harness's place in
its data order and noise streams, and the step rows and intervals so far, and trains the remaining
intervals only, so that its weights and losses are those of an uninterrupted run (bit for bit where
the framework is deterministic). Checkpoints are taken at interval edges, outside the timed intervals,
every `checkpoint_every` timed steps and at the end of training.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from bench import checkpoint
from bench.inputs import InputStream
from bench.loop import LoopResult
from bench.spec import RunSpec

ENV = "BENCH_CHECKPOINT_DIR"
CONTINUES = "BENCH_CONTINUES"  # the run id of a shorter finished run whose final checkpoint this run starts from
LOOP_FIELDS = (
    "first_step_s",
    "warmup_s",
    "timed_s",
    "divergence_step",
    "checkpoints",
    "checkpoint_s",
    "continued_from",
    "eval_s",
)


def folder() -> Path | None:
    return Path(os.environ[ENV]) if os.environ.get(ENV) else None


def resume(where: Path | None, spec: RunSpec, trainer, stream: InputStream, warn: Callable) -> LoopResult | None:
    """The loop state to continue from, with trainer and stream restored; None: start at step 0.

    A checkpoint is used only once it proves it belongs to this run (`belongs`); one that does not is passed
    over with a warning, for the one before it, then step 0."""
    ckpt = checkpoint.latest(where, warn, lambda c: belongs(c, spec, trainer, stream)) if where else None
    if ckpt is None:
        return None
    trainer.restore_state(ckpt.group("fw"))
    stream.restore(ckpt.meta["stream"], ckpt.arrays["stream/order"])
    res = LoopResult(steps=records(ckpt.group("steps")), intervals=records(ckpt.group("intervals")))
    for name in LOOP_FIELDS:
        setattr(res, name, type(getattr(res, name))(ckpt.meta["loop"].get(name, getattr(res, name))))
    res.resumed_from = list(ckpt.meta["loop"]["resumed_from"])
    if ckpt.meta["run_id"] != spec.run_id:
        res.continued_from = ckpt.meta["run_id"]
    return res


def provenance(spec: RunSpec, stream: InputStream) -> dict:
    """What decides a run's trajectory beyond its id: the seed, and the data it trains on (the dataset a
    run resolves to can change under the same id: the offline fallback, or new files in the data directory)."""
    return {"seed": spec.seed, "data": stream.digest()}


def belongs(ckpt: checkpoint.Checkpoint, spec: RunSpec, trainer, stream: InputStream) -> None:
    """ValueError (the reason) unless `ckpt` was written by this run (or the run it continues) from this
    seed and data, and holds every array this trainer and stream restore, with their shapes and dtypes."""
    meta = ckpt.meta
    if meta.get("run_id") not in (spec.run_id, os.environ.get(CONTINUES)):
        raise ValueError(f"it belongs to run {meta.get('run_id')}")
    if "provenance" not in meta:
        raise ValueError("it records no seed and data checksum (written before checkpoints did)")
    theirs, mine = meta["provenance"], provenance(spec, stream)
    if not isinstance(theirs, dict):
        raise ValueError("its provenance record is not an object")
    if theirs.get("seed") != mine["seed"]:
        raise ValueError(f"it was written from another seed ({theirs.get('seed')})")
    if theirs.get("data") != mine["data"]:
        raise ValueError("it was trained on other data (the dataset behind this run changed since)")
    expected = {f"fw/{k}": v for k, v in trainer.checkpoint_state().items()}
    expected |= {f"weights/{k}": v for k, v in trainer.export_weights().items()}
    for key, want in expected.items():
        got = ckpt.arrays.get(key)
        if got is None or got.shape != np.shape(want) or got.dtype != np.asarray(want).dtype:
            raise ValueError(f"its {key} is missing or of another shape or type")
    stream.check_state(meta.get("stream"), ckpt.arrays.get("stream/order"))
    if not isinstance(meta.get("loop"), dict) or not isinstance(meta["loop"].get("resumed_from"), list):
        raise ValueError("its loop record is incomplete")
    if any(len(v) != ckpt.step for v in ckpt.group("steps").values()) or ckpt.meta.get("step") != ckpt.step:
        raise ValueError("its step records do not match its step")


def records(columns: dict[str, np.ndarray]) -> list[dict]:
    """Rows back from the column arrays a checkpoint holds (numbers as Python numbers)."""
    return pd.DataFrame(columns).to_dict("records") if columns else []


def columns(rows: list[dict], prefix: str) -> dict[str, np.ndarray]:
    df = pd.DataFrame(rows)
    return {f"{prefix}/{c}": np.array(df[c].tolist(), dtype=str if text(df[c]) else None) for c in df}


def text(col: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(col) or col.dtype == object


def saver(where: Path | None, spec: RunSpec, trainer, stream: InputStream) -> Callable[[LoopResult, bool], None]:
    """on_edge for the loop: a checkpoint every `spec.checkpoint_every` timed steps and at the last edge."""
    if where is None or spec.checkpoint_every <= 0:
        return lambda res, last: None
    saved_at: list[int] = []  # timed steps at this process's checkpoints (its segment's start first)
    kill_at = int(os.environ.get("BENCH_TEST_KILL_IN_CHECKPOINT") or 0)  # test hook: die in this process's N-th write

    def on_edge(res: LoopResult, last: bool) -> None:
        timed = res.timed_steps()
        saved_at[:] = saved_at or [timed - res.intervals[-1]["steps"]]
        if not last and timed - saved_at[-1] < spec.checkpoint_every:
            return
        t0 = time.perf_counter()
        res.checkpoints += 1
        die = len(saved_at) == kill_at
        arrays, meta = contents(res, spec, trainer, stream)
        checkpoint.save(where, len(res.steps), arrays, meta, before_rename=lambda: die and os.kill(os.getpid(), 9))
        res.checkpoint_s += time.perf_counter() - t0
        saved_at.append(timed)

    return on_edge


def contents(res: LoopResult, spec: RunSpec, trainer, stream: InputStream) -> tuple[dict[str, np.ndarray], dict]:
    state, order = stream.state()
    arrays = {f"fw/{k}": v for k, v in trainer.checkpoint_state().items()}
    arrays |= {f"weights/{k}": v for k, v in trainer.export_weights().items()}
    arrays |= {"stream/order": order, **columns(res.steps, "steps"), **columns(res.intervals, "intervals")}
    loop = {name: getattr(res, name) for name in LOOP_FIELDS} | {"resumed_from": res.resumed_from}
    meta = {"run_id": spec.run_id, "step": len(res.steps), "stream": state, "loop": loop}
    return arrays, meta | {"spec": spec.to_dict(), "provenance": provenance(spec, stream)}
