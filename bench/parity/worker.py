"""One framework's side of the parity checks: `python -m bench.parity.worker FRAMEWORK JOB.json OUTDIR`.

Imports exactly one framework and writes OUTDIR/{variant}.npz per variant (atomically). A variant
that raises writes OUTDIR/{variant}.error (its reason) and the worker goes on with the next one.
Keys: `L1/shape/{framework name}`, `L1/count`, `L2/g|d`, `L2e/g|d`, `L3/loss/{D|G}.{term}`,
`L3/grad/{canonical}`, `L4/w/{canonical}`, `L4/opt/{canonical}.{m|v}`, `L5/{metric}`, `L5/samples`;
`L3_64/...`, `L4_64/...`: the same as L3, L4 in float64, on the first F64_BATCH examples of the batch;
`L5_64/{loss_d|loss_g}`: the first steps of the L5 trajectory again in float64, on the full batch.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from bench import compile_cache, frameworks
from bench.convert import converter, slots_to_canonical
from bench.inputs import fixed_noise, framework_seed
from bench.parity.cases import Case, head, make_case
from bench.parity.levels import F64_BATCH, L5_AGREE_STEPS, STEP_MODES, Job
from bench.variants import get_variant, variant_arch

N_SAMPLES = 16  # eval-mode samples generated after the trajectory


def set_environment(threads: int, workdir: Path, device: str = "cpu") -> None:
    """The job's device only (CPU, or one GPU), quiet TF, thread counts, the persistent compile caches (as
    runs have them): read by the frameworks at import time."""
    os.environ["CUDA_VISIBLE_DEVICES"] = "" if device == "cpu" else device
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.update(frameworks.import_environment())
    if threads > 0:
        os.environ.update(frameworks.thread_environment(threads))
    compile_cache.set_environment(True, workdir)


def run_variant(fw: str, name: str, job: Job, modules: dict) -> dict[str, np.ndarray]:
    """Every level the job asks for, for one variant, as named arrays."""
    variant = get_variant(name)
    arch = variant_arch(variant)
    weights = dict(np.load(job.weights[name])) if name in job.weights else None
    case = make_case(variant, arch, job, weights)
    models, fseed = modules["models"], framework_seed(job.seed)

    def trainer(mode: str = "eager", dtype: str = "float32", precision: str = "fp32"):
        return modules["train"].Trainer(variant, arch, case.weights, job.device, mode, dropout=False, seed=fseed,
                                        dtype=dtype, precision=precision)  # fmt: skip

    tr, first = trainer(), case.first(job.seed)
    out: dict[str, np.ndarray] = {}
    if "L1" in job.levels:
        tensors = models.framework_tensors(tr.G, tr.D)
        out.update({f"L1/shape/{k}": np.array(t.shape, np.int64) for k, t in tensors.items()})
        out["L1/count"] = np.array(models.count_trainable(tr.G, tr.D))
    if "L2" in job.levels:
        out["L2/g"], out["L2/d"] = tr.forward(first.z_g, first.g_g, first.x[0])
        tr.load(case.weights)  # the forward moved the BN running statistics
    if "L2e" in job.levels:
        tr.load(case.eval_weights)
        out["L2e/g"], out["L2e/d"] = tr.generate(first.z_g, first.g_g), tr.d_logits(first.x[0])
        tr.load(case.weights)
    small = head(first, F64_BATCH)  # float64 is slow on CPU: its checks use the first F64_BATCH examples
    if "L3" in job.levels:  # float32, and float64 where rounding cannot flip a kink or an Adam sign
        out.update(gradients(tr, case, first, "L3"))
        out.update(gradients(trainer(dtype="float64"), case, small, "L3_64"))
    if "L4" in job.levels or "L5" in job.levels:
        out.update(trajectory(trainer(STEP_MODES[fw]), fw, case, job))
    if "L4" in job.levels:  # the benchmarked step, as L4 in float32 (JAX's op-by-op step: 5x its compile)
        tr64 = trainer(STEP_MODES[fw], "float64")
        tr64.train_step(small)
        out.update(step_state(tr64, fw, case, "L4_64"))
    if "L5" in job.levels:
        out.update(trajectory64(trainer(STEP_MODES[fw], "float64"), case, job))
    if job.precision != "fp32":  # the levels again in the low precision, under `P/` (bench/parity/precision.py)
        out.update(low_precision(fw, case, job, lambda mode="eager": trainer(mode, precision=job.precision)))
    return out


def low_precision(fw: str, case: Case, job: Job, trainer) -> dict[str, np.ndarray]:
    """L2, L3, L4 and L5 in the job's precision (mixed: float32 weights, low-precision compute), keyed `P/...`:
    compared with the same framework's float32 levels and with the reference framework's at that precision."""
    tr, first = trainer(), case.first(job.seed)
    out: dict[str, np.ndarray] = {}
    if "L2" in job.levels:
        out["P/L2/g"], out["P/L2/d"] = tr.forward(first.z_g, first.g_g, first.x[0])
        tr.load(case.weights)
    if "L3" in job.levels:
        out.update(gradients(tr, case, first, "P/L3"))
    if "L4" in job.levels or "L5" in job.levels:
        out.update(trajectory(trainer(STEP_MODES[fw]), fw, case, job, "P/"))
    return out


def gradients(tr, case: Case, first, prefix: str) -> dict[str, np.ndarray]:
    """L3: loss terms and gradients of the first D update and of the G update, from the initial weights."""
    terms_d, grads_d = tr.d_grads(first, 0)
    tr.load(case.weights)
    terms_g, grads_g = tr.g_grads(first)
    tr.load(case.weights)
    out = {f"{prefix}/loss/D.{k}": np.float64(v) for k, v in terms_d.items()}
    out.update({f"{prefix}/loss/G.{k}": np.float64(v) for k, v in terms_g.items()})
    out.update({f"{prefix}/grad/{k}": a for k, a in {**grads_d, **grads_g}.items()})
    return out


def step_state(tr, fw: str, case: Case, prefix: str) -> dict[str, np.ndarray]:
    """Parameters, BN statistics and optimiser slots, canonical names and layouts."""
    out = {f"{prefix}/w/{k}": a for k, a in tr.export_weights().items()}
    slots = slots_to_canonical(case.arch, tr.optimizer_state(), converter(fw, "from"))
    out.update({f"{prefix}/opt/{k}": a for k, a in slots.items()})
    return out


def trajectory(tr, fw: str, case: Case, job: Job, prefix: str = "") -> dict[str, np.ndarray]:
    """L4 (state after step 1) and L5 (metrics of every step), in the benchmarked step mode."""
    stream = case.stream(job.seed)
    outs = [tr.train_step(stream.next())]
    out = step_state(tr, fw, case, f"{prefix}L4")
    if "L5" in job.levels:
        outs += [tr.train_step(stream.next()) for _ in range(job.steps - 1)]
        rows = tr.fetch(outs)
        out.update({f"{prefix}L5/{k}": np.array([r[k] for r in rows]) for k in rows[0]})
        z, labels = fixed_noise(job.seed, case.arch, N_SAMPLES, case.variant.g_conditional)
        out[f"{prefix}L5/samples"] = tr.generate(z, labels)
    return out


def trajectory64(tr, case: Case, job: Job) -> dict[str, np.ndarray]:
    """L5's agreement window again in float64, same batch, data and noise.

    The frameworks' float64 curves agreeing shows the N-step math is the same; each framework's float32
    curve against its own float64 one measures how far float32 rounding alone moves the trajectory.
    """
    stream = case.stream(job.seed)
    n = min(job.steps, L5_AGREE_STEPS)
    rows = tr.fetch([tr.train_step(stream.next()) for _ in range(n)])
    return {f"L5_64/{k}": np.array([r[k] for r in rows]) for k in ("loss_d", "loss_g")}


def save_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    fw, job_path, outdir = argv[0], Path(argv[1]), Path(argv[2])
    job = Job.read(job_path)
    set_environment(job.threads, outdir, job.device)
    modules = {m: importlib.import_module(f"{frameworks.get(fw).package}.{m}") for m in ("runtime", "train", "models")}
    modules["runtime"].configure(job.threads, False, framework_seed(job.seed))  # TF32 off, threads, seed
    outdir.mkdir(parents=True, exist_ok=True)
    failed = 0
    for name in job.variants:
        t0 = time.perf_counter()
        try:
            save_atomic(outdir / f"{name}.npz", run_variant(fw, name, job, modules))
            (outdir / f"{name}.error").unlink(missing_ok=True)  # a kept --workdir may hold an earlier failure
        except Exception as e:  # one variant's failure becomes its rows' reason; the others still run
            traceback.print_exc()
            (outdir / f"{name}.npz").unlink(missing_ok=True)
            (outdir / f"{name}.error").write_text(f"{type(e).__name__}: {str(e).strip()[:300]}")
            failed += 1
        print(f"PARITY {fw} {name} done in {time.perf_counter() - t0:.1f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
