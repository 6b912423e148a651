"""FID along training: the fixed noise batch's samples at every `eval_every` timed steps, scored later.

The worker generates the run's fixed-noise images (the same `fid_samples` images the final FID
scores) at the interval edges where the timed steps pass a multiple of `eval_every`, and at the last
edge, and saves each set as `step-<step>.npz` (the global step, warm-up included) in the run's
persistent folder next to its checkpoints, so that the sets taken before an interruption survive it.
The orchestrator moves them to `<results>/samples/<run_id>/` with the run's other files, and the
evaluation phase (bench/quality.py) scores every set into the `evals` table: one row per run and step.
"""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.files import write_atomic
from bench.inputs import fixed_noise, to_uint8
from bench.loop import LoopResult
from bench.spec import RunSpec

NAME = re.compile(r"step-(\d{8})\.npz")
FOLDER = "evals"


def set_name(step: int) -> str:
    return f"step-{step:08d}.npz"


def sets(folder: Path) -> list[tuple[int, Path]]:
    """(step, file) of every sample set in `folder`, in step order."""
    return sorted((int(m.group(1)), p) for p in folder.glob("step-*.npz") if (m := NAME.fullmatch(p.name)))


def sampler(folder: Path, spec: RunSpec, trainer, arch, variant) -> Callable[[LoopResult, bool], None]:
    """on_edge for the loop: a sample set every `spec.eval_every` timed steps and at the last edge."""
    if spec.eval_every <= 0 or spec.fid_samples <= 0:
        return lambda res, last: None
    z, labels = fixed_noise(spec.seed, arch, spec.fid_samples, variant.g_conditional)

    def on_edge(res: LoopResult, last: bool) -> None:
        timed = res.timed_steps()
        before = timed - res.intervals[-1]["steps"]
        if not last and timed // spec.eval_every == before // spec.eval_every:
            return
        t0 = time.perf_counter()
        images = to_uint8(trainer.generate(z, labels), arch.data_range)
        save_set(folder, len(res.steps), images, labels)
        res.eval_s += time.perf_counter() - t0

    return on_edge


def save_set(folder: Path, step: int, images: np.ndarray, labels: np.ndarray) -> Path:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=images, labels=labels)
    return write_atomic(folder, set_name(step), buffer.getvalue())


def add_file(folder: Path, name: str, data: bytes) -> None:
    """Store a set received from elsewhere (a Ray task) under its own name; other names are refused."""
    if NAME.fullmatch(name) is None:
        raise ValueError(f"not a sample set's file name: {name!r}")
    write_atomic(folder, name, data)


def collect(source: Path, results_dir: Path, run_id: str) -> None:
    """Move a run's sets into `<results>/samples/<run_id>/`, beside those an interrupted attempt left (a set
    taken again at the same step replaces its earlier copy)."""
    found = sets(source)
    if found:
        dest = samples_folder(results_dir, run_id)
        dest.mkdir(parents=True, exist_ok=True)
        for _, path in found:
            os.replace(path, dest / path.name)


def samples_folder(results_dir: Path, run_id: str) -> Path:
    return Path(results_dir) / "samples" / run_id


def clear(folder: Path) -> None:
    """Remove a run's unscored sets (a forced rerun starts again); only files this module names."""
    for _, path in sets(folder):
        path.unlink(missing_ok=True)


def stored(results_dir: Path, run_id: str) -> list[tuple[int, Path]]:
    return sets(samples_folder(results_dir, run_id))
