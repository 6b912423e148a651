"""After training: quality and stability metrics for each run, written to the `metrics` table.

Runs in the orchestrator (no framework import): stability figures come from the steps table;
Inception FID/KID and the classifier's coverage figures come from evaluator subprocesses
(`bench.fid.child`, `bench.metrics.evaluate`), which judge the samples of every framework with
the same code. One evaluator call serves all runs of a dataset, so the network loads once and the
real statistics are computed (or read from the cache) once.

Real reference images: a fixed random subset (seed 0) of the dataset's test split, as many as the
runs' generated samples (fewer when the split is smaller). `fid_biased` flags counts below 2,048,
where FID is known to be biased upwards; compare FIDs only at equal sample counts. The real-vs-real
floor (train subset vs test subset of the same size) is stored in `fid_floor/`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from bench import evals
from bench.columns import FID
from bench.data import load_dataset
from bench.errors import BenchError
from bench.results import load_table, table_path, write_table_atomic
from bench.variants import VARIANTS, get_variant

BIASED_BELOW = 2048
FID_COLUMNS = tuple(c for c in FID if c != "fid_reason")  # the figures; names and meanings: bench/columns.py


def evaluate_runs(
    results_dir: Path,
    run_ids: list[str],
    device: str = "cpu",
    force: bool = False,
    log: Callable = print,
    session=None,
) -> pd.DataFrame:
    """Compute and store metrics for the given runs that lack them (all of them with `force`).
    With a Ray `session` the evaluators run as jobs on the cluster (bench/quality_cluster.py)."""
    from bench.metrics.stability import stability

    runs = load_table(results_dir, "runs")
    if runs.empty:
        return runs
    runs = runs[runs["run_id"].isin(run_ids) & runs["status"].isin(["ok", "diverged"])]
    if not force:
        runs = runs[[not table_path(results_dir, "metrics", r).exists() for r in runs["run_id"]]]
    if runs.empty:
        return runs
    runs = runs.assign(data_dir=runs.get("data_dir", pd.Series("", index=runs.index)).fillna(""))
    steps = load_table(results_dir, "steps")
    rows = {r.run_id: {"run_id": r.run_id, **stability(steps[steps["run_id"] == r.run_id])} for r in runs.itertuples()}
    for (dataset, data_dir), group in runs.groupby(["dataset", "data_dir"], sort=False):
        with_samples = [r for r in group.itertuples() if _samples(results_dir, r.run_id).exists()]
        for r in group.itertuples():
            if not _samples(results_dir, r.run_id).exists():
                rows[r.run_id].update(not_computed("no generated samples (fid_samples = 0)"))
        if with_samples:
            log(f"evaluating {len(with_samples)} runs on {dataset}: Inception FID/KID, classifier coverage")
            fid = fid_for(results_dir, dataset, data_dir or None, [r.run_id for r in with_samples], device, session)
            cov = coverage_for(results_dir, dataset, data_dir or None, with_samples, session)
            for r in with_samples:
                reasons = [fid[r.run_id].pop("fid_reason", ""), cov[r.run_id].pop("metrics_reason", "")]
                rows[r.run_id].update({**fid[r.run_id], **cov[r.run_id], "fid_reason": reasons[0]})
                rows[r.run_id]["metrics_reason"] = "; ".join(x for x in reasons if x)
        along = {r.run_id: evals.stored(results_dir, r.run_id) for r in group.itertuples()}
        if any(along.values()):
            log(f"evaluating {sum(map(len, along.values()))} sample sets along training on {dataset}")
            score_along_training(results_dir, dataset, data_dir or None, group, along, device, session)
    for run_id, row in rows.items():
        write_table_atomic(pd.DataFrame([row]), table_path(results_dir, "metrics", run_id))
    return pd.DataFrame(list(rows.values()))


def score_along_training(results_dir: Path, dataset: str, data_dir: str | None, runs: pd.DataFrame,
                         along: dict[str, list[tuple[int, Path]]], device: str, session) -> None:  # fmt: skip
    """FID/KID and coverage of every sample set taken along training, one `evals` row per run and step."""
    keys = [(run_id, step) for run_id, found in along.items() for step, _ in found]
    paths = {(run_id, step): path for run_id, found in along.items() for step, path in found}
    fid = fid_of_sets(results_dir, dataset, data_dir, [paths[k] for k in keys], device, session)
    variants = dict(zip(runs["run_id"], runs["variant"], strict=True))
    sets = [SimpleNamespace(run_id=f"{r}@{s}", variant=variants[r], samples=paths[(r, s)]) for r, s in keys]
    cov = coverage_for(results_dir, dataset, data_dir, sets, session)
    for run_id in along:
        mine = [(k, f) for k, f in zip(keys, fid, strict=True) if k[0] == run_id]
        rows = [{"run_id": run_id, "step": s, **f, **cov.get(f"{run_id}@{s}", {})} for (_, s), f in mine]
        if rows:
            write_table_atomic(pd.DataFrame(rows), table_path(results_dir, "evals", run_id))


def fid_of_sets(results_dir: Path, dataset: str, data_dir: str | None, fakes: list[Path], device: str, session) -> list:
    """FID columns of each sample set taken along training."""
    try:
        entries = fid_entries(results_dir, dataset, data_dir, fakes, device, session)
    except BenchError as e:
        return [not_computed(f"FID failed: {e}") for _ in fakes]
    return [_fid_columns(entry) for entry in entries[: len(fakes)]]


def not_computed(reason: str) -> dict:
    """FID columns NaN with the reason (coverage columns stay absent: the report says not computed)."""
    blank = {"fid_extractor": "", "fid_runtime": ""}
    return {**{c: math.nan for c in FID_COLUMNS}, **blank, "fid_reason": reason, "metrics_reason": reason}


def _samples(results_dir: Path, run_id: str) -> Path:
    return Path(results_dir) / "samples" / f"{run_id}.npz"


def sample_count(path: Path) -> int:
    with np.load(path) as f:
        return len(f["images"])


def real_subset(results_dir: Path, dataset: str, data_dir: str | None, split: str, n: int) -> Path:
    """A fixed random subset (seed 0) of a split, saved once as uint8 .npz for the evaluator."""
    path = Path(results_dir) / "reference" / f"{dataset}-{split}-{n}.npz"
    if not path.exists():
        ds = load_dataset(dataset, split, data_dir, allow_download=False, log=lambda m: None, fallback=not data_dir)
        idx = np.sort(np.random.default_rng(0).permutation(len(ds.images))[:n])
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, images=ds.images[idx])
        tmp.replace(path)
    return path


def fid_for(
    results_dir: Path, dataset: str, data_dir: str | None, run_ids: list[str], device: str, session=None
) -> dict:
    """FID/KID of each run's samples against the test reference; also stores the real-vs-real floor."""
    try:
        entries = fid_entries(
            results_dir, dataset, data_dir, [_samples(results_dir, r) for r in run_ids], device, session
        )
    except BenchError as e:
        return {r: not_computed(f"FID failed: {e}") for r in run_ids}
    out = {}
    for run_id, entry in zip(run_ids, entries, strict=False):
        out[run_id] = _fid_columns(entry)
    _store_floor(results_dir, dataset, entries[-1])
    return out


def fid_entries(results_dir: Path, dataset: str, data_dir: str | None, fakes: list[Path], device: str, session) -> list:
    """The evaluator's entry for each set of `fakes` against the test reference, then the real-vs-real
    floor's (last); BenchError when the evaluator fails. Inception loads once for all of them."""
    from bench.fid.evaluator import run_evaluator

    real = real_subset(results_dir, dataset, data_dir, "test", max(map(sample_count, fakes)))
    floor = real_subset(results_dir, dataset, data_dir, "train", sample_count(real))
    request = {"real": str(real), "fake": [*map(str, fakes), str(floor)], "device": _torch_device(device),
               "real_key": f"{dataset}/test/seed0"}  # fmt: skip
    if session is not None:
        from bench.quality_cluster import fid_on_cluster

        return fid_on_cluster(request, session, lambda m: print(f"fid: {m}", file=sys.stderr, flush=True))["results"]
    return run_evaluator(request, timeout=None, echo=True)["results"]  # its per-set lines are the progress


def _fid_columns(entry: dict) -> dict:
    if "error" in entry:
        return not_computed(f"FID failed: {entry['error']}")
    small = min(entry["n_fake"], entry["n_real"]) < BIASED_BELOW
    return {
        "fid": entry["fid"], "kid_mean": entry["kid_mean"], "kid_std": entry["kid_std"],
        "fid_n_fake": entry["n_fake"], "fid_n_real": entry["n_real"], "fid_extractor": entry["extractor"],
        "fid_runtime": entry.get("runtime", ""), "fid_biased": small, "fid_reason": "",
    }  # fmt: skip


def _store_floor(results_dir: Path, dataset: str, entry: dict) -> None:
    if "error" in entry:
        return
    row = {
        "dataset": dataset,
        "n": entry["n_real"],
        **{k: entry[k] for k in ("fid", "kid_mean", "kid_std", "extractor")},
    }
    write_table_atomic(pd.DataFrame([row]), table_path(results_dir, "fid_floor", f"{dataset}-{entry['n_real']}"))


def coverage_for(results_dir: Path, dataset: str, data_dir: str | None, runs: list, session=None) -> dict:
    from bench.metrics.evaluate import MNIST_LIKE, run_evaluator
    from bench.metrics.evaluate import not_computed as no_coverage

    if dataset not in MNIST_LIKE:
        reason = no_coverage(f"no classifier for {dataset} (coverage needs MNIST-like data)")
        return {r.run_id: reason for r in runs}
    conditional = {r.run_id: r.variant in VARIANTS and get_variant(r.variant).g_conditional for r in runs}
    jobs = [{"run_id": r.run_id, "samples": str(getattr(r, "samples", None) or _samples(results_dir, r.run_id)),
             "dataset": dataset, "data_dir": data_dir, "conditional": conditional[r.run_id]} for r in runs]  # fmt: skip
    try:
        if session is not None:
            from bench.quality_cluster import coverage_on_cluster

            df = coverage_on_cluster(jobs, session, lambda m: print(f"coverage: {m}", file=sys.stderr, flush=True))
        else:
            df = run_evaluator(jobs, Path(results_dir) / ".work" / "coverage")
    except BenchError as e:
        return {r.run_id: no_coverage(f"coverage failed: {e}") for r in runs}
    return {row.pop("run_id"): row for row in df.to_dict("records")}


def _torch_device(device: str) -> str:
    return "cpu" if device == "cpu" else f"cuda:{device}"


def main_evaluate(results_dir: str, device: str = "cpu") -> int:  # pragma: no cover - manual entry
    runs = load_table(results_dir, "runs")
    evaluate_runs(Path(results_dir), list(runs.get("run_id", [])), device, force=True, log=print)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main_evaluate(*sys.argv[1:]))
