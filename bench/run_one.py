"""The body of one run inside a worker: data, models, training loop, samples, the run row.

Frameworks enter only through the `runtime` and `train` modules the worker imported; everything
random comes from `bench.inputs`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from bench import evals, resume
from bench.data import check_image_shape, load_dataset
from bench.environment import environment, gpu_precision_support
from bench.flops import step_flops
from bench.grids import save_grid
from bench.inputs import InputStream, fixed_noise, framework_seed, rngs, scale_images, to_uint8
from bench.loop import LoopResult, train_loop
from bench.measure import MIB, current_rss_mb, peak_rss_mb, throughput_stats
from bench.peak import peak_columns
from bench.precision import get_precision, scaler_name
from bench.spec import RunSpec, Variant
from bench.validate import resolve
from bench.variants import objective
from bench.weights import arch_shapes, count_params, init_weights

GRID_SAMPLES = 64


def run(spec: RunSpec, workdir: Path, runtime, train, on_progress: Callable) -> dict:
    """Perform `spec` and write steps/intervals/samples into `workdir`; return the run row."""
    baseline_rss = current_rss_mb()
    seed = framework_seed(spec.seed)
    precision = get_precision(spec.precision)
    runtime.configure(spec.threads, spec.deterministic, seed, precision.tf32)
    run = resolve(spec)
    variant, arch, mode = run.variant, run.arch, run.mode
    ds = load_dataset(run.dataset, "train", run.data_dir, arch.image_shape[:2], fallback=run.data_dir is None)
    check_image_shape(ds, arch.image_shape, arch.name)

    t0 = time.perf_counter()
    weights = init_weights(arch, rngs(spec.seed)["init"])
    trainer = train.Trainer(
        variant, arch, weights, spec.device, mode, dropout=True, seed=seed, precision=spec.precision,
        loss_scaler=spec.loss_scaler,
    )  # fmt: skip
    build_s = time.perf_counter() - t0
    stream = InputStream(ds.images, ds.labels, arch, variant, run.batch_size, spec.seed, run.labeled_fraction)
    probe = runtime.compile_cache_probe()
    where = resume.folder()
    res = train_loop(
        trainer,
        stream,
        spec.steps,
        spec.warmup,
        spec.intervals,
        on_progress,
        reset_memory=lambda: runtime.reset_peak_memory(spec.device),
        resume=resume.resume(where, spec, trainer, stream, warn),
        on_edge=on_edges(
            evals.sampler((where or workdir) / evals.FOLDER, spec, trainer, arch, variant),  # before the checkpoint
            resume.saver(where, spec, trainer, stream),
        ),
    )
    peak_dev = runtime.peak_device_memory(spec.device)
    cache_state = runtime.compile_cache_state(mode, probe)
    write_steps(res, workdir)
    save_samples(trainer, arch, variant, spec, workdir)
    shapes = arch_shapes(arch)
    row = {
        **run.columns(),
        "dataset": ds.name,
        "dataset_source": ds.source,
        "offline_default": bool(ds.offline_default),
        "status": "ok" if res.divergence_step < 0 else "diverged",
        "reason": "" if res.divergence_step < 0 else f"non-finite loss at step {res.divergence_step}",
        "steps_done": len(res.steps),
        **throughput_stats([iv["images_per_s"] for iv in res.counted()]),
        "step_time_s": float(np.median([iv["seconds"] / iv["steps"] for iv in res.counted()]))
        if res.counted()
        else np.nan,
        "first_step_s": res.first_step_s,
        "compile_cache": cache_state,
        "warmup_s": res.warmup_s,
        "timed_s": res.timed_s,
        "build_s": build_s,
        "baseline_rss_mb": baseline_rss,
        "peak_rss_mb": peak_rss_mb(),
        "rss_increase_mb": peak_rss_mb() - baseline_rss,
        "peak_device_mem_mb": peak_dev / MIB if peak_dev is not None else np.nan,
        "params_g": count_params(shapes, "G."),
        "params_d": count_params(shapes, "D."),
        **final_losses(res),
        **checkpoint_columns(res, spec),
        **precision_columns(trainer, res, spec),
        "divergence_step": res.divergence_step,
        "d_test_accuracy": test_accuracy(trainer, variant, arch, spec)
        if objective(variant).semi_supervised
        else np.nan,
        **environment(),
        **runtime.info(spec.device),
    }
    row.update(gpu_precision_support(str(row.get("gpu_compute_capability", ""))))
    # The matmul peak runs last: its large matrices must not count in the run's memory figures.
    measure = getattr(runtime, "matmul_seconds", None)
    row.update(peak_columns(spec.framework, runtime.info(spec.device), spec.device, measure, spec.threads))
    row.update(flop_columns(variant, arch, run.batch_size, row))
    return row


def flop_columns(variant: Variant, arch, batch: int, row: dict) -> dict[str, float]:
    """Analytic FLOPs per step (bench/flops.py), achieved FLOP/s at the median speed, share of the peak,
    and an estimate of tracing/compilation time: the first step minus a steady-state step."""
    per_step = step_flops(variant, arch, batch).total
    flops_per_s = per_step * row["images_per_s"] / batch
    return {
        "flops_per_step": float(per_step),
        "flops_per_s": float(flops_per_s),
        "flop_utilisation": float(flops_per_s / row["machine_peak_flops"]),
        "framework_utilisation": float(flops_per_s / row["peak_matmul_flops"]),
        "compile_s": float(row["first_step_s"] - row["step_time_s"]),
    }


def checkpoint_columns(res: LoopResult, spec: RunSpec) -> dict:
    """How the run was checkpointed and resumed: speed figures leave out each resumed segment's first interval."""
    return {
        "checkpoint_every": spec.checkpoint_every,
        "checkpoints": res.checkpoints,
        "checkpoint_s": res.checkpoint_s,
        "resumed": len(res.resumed_from),
        "resumed_from": ",".join(map(str, res.resumed_from)),
        "continued_from": res.continued_from,
        "eval_every": spec.eval_every,
        "eval_s": res.eval_s,
    }


def on_edges(*hooks: Callable[[LoopResult, bool], None]) -> Callable[[LoopResult, bool], None]:
    def each(res: LoopResult, last: bool) -> None:
        for hook in hooks:
            hook(res, last)

    return each


def warn(msg: str) -> None:
    print(msg, flush=True)  # stdout: the orchestrator shows `warning:` lines with the run's name


def precision_columns(trainer, res: LoopResult, spec: RunSpec) -> dict:
    """The precision's effective settings (compute dtype, TF32 state, loss scales at the end) and the
    updates that loss scaling skipped for overflow, counted over every step (warm-up included)."""
    state = trainer.precision_state()
    skipped = {f"skipped_updates_{n}": int(sum(s.get(f"skipped_{n}", 0.0) for s in res.steps)) for n in ("d", "g")}
    return {"loss_scaler": scaler_name(spec.precision, spec.loss_scaler), **state, **skipped}


def final_losses(res: LoopResult) -> dict[str, float]:
    """Mean losses over the last 10% of steps (at least one)."""
    if not res.steps:
        return {"loss_d_final": np.nan, "loss_g_final": np.nan}
    tail = res.steps[-max(1, len(res.steps) // 10) :]
    return {f"{k}_final": float(np.mean([s[k] for s in tail])) for k in ("loss_d", "loss_g")}


def write_steps(res: LoopResult, workdir: Path) -> None:
    pd.DataFrame(res.steps).to_parquet(workdir / "steps.parquet", index=False)
    pd.DataFrame(res.intervals).to_parquet(workdir / "intervals.parquet", index=False)


def save_samples(trainer, arch, variant: Variant, spec: RunSpec, workdir: Path) -> None:
    """Images from the fixed noise of the run seed: a grid, and `fid_samples` images for FID."""
    n = max(GRID_SAMPLES, spec.fid_samples)
    z, labels = fixed_noise(spec.seed, arch, n, variant.g_conditional)
    images = to_uint8(trainer.generate(z, labels), arch.data_range)
    save_grid(images[:GRID_SAMPLES], workdir / "grid.png")
    if spec.fid_samples > 0:
        np.savez_compressed(
            workdir / "samples.npz", images=images[: spec.fid_samples], labels=labels[: spec.fid_samples]
        )


def test_accuracy(trainer, variant: Variant, arch, spec: RunSpec) -> float:
    """D's accuracy over the K real classes on the test split (ssgan)."""
    run = resolve(spec)
    ds = load_dataset(run.dataset, "test", run.data_dir, arch.image_shape[:2], fallback=run.data_dir is None)
    logits = trainer.d_logits(scale_images(ds.images, arch.data_range))
    return float(np.mean(np.argmax(logits[:, :10], axis=1) == ds.labels))
