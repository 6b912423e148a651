"""Coverage columns for a run's samples, computed in an evaluator subprocess.

`evaluate_samples` reads a samples .npz (`images` uint8 (N, H, W, C) 0..255, `labels` int64: the
class given to G for conditional variants, zeros otherwise), classifies the images with the
project's classifier for the run's dataset (bench.metrics.classifier: trained once, cached) and
returns COVERAGE_COLUMNS:
  classes_covered, classes_covered_any, class_kl  (bench.metrics.coverage definitions)
  cond_accuracy        share of G(z, y) classified as y; NaN for unconditional runs
  classifier_fd        Fréchet distance between the classifier's 128-d penultimate features of
                       the samples and of the real test split (bench.fid.frechet, method eigh)
  classifier_accuracy  the classifier's accuracy on the real test split (how far to trust the above)
  classifier_n         number of samples evaluated
  metrics_reason       "" when computed, else why the values are NaN (e.g. cifar10 has no classifier)

`python -m bench.metrics.evaluate REQUEST.json [--out RESULT.json]` runs a JSON list of jobs
{"run_id", "samples", "dataset", "data_dir" (or null), "conditional", optional "classifier"
(TrainConfig fields)} and writes a JSON list of {"run_id", COVERAGE_COLUMNS...} (NaN as null; a
failing job gets NaN values and its error in metrics_reason). Importing this module does not
import torch: the classifier is imported inside the functions that need it, so the orchestrator
can use `run_evaluator` and `load_results`.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bench import launch
from bench.columns import COVERAGE
from bench.errors import BenchError
from bench.fid.frechet import frechet_distance, stats
from bench.files import temp_name
from bench.metrics import coverage

if TYPE_CHECKING:
    from bench.metrics.classifier import TrainConfig

MNIST_LIKE = ("mnist", "mnist-5k", "fashion-mnist")
COVERAGE_COLUMNS = tuple(COVERAGE)  # names and meanings: bench/columns.py


def not_computed(reason: str) -> dict:
    """All coverage columns NaN, with the reason."""
    return {**{c: math.nan for c in COVERAGE_COLUMNS[:-1]}, "metrics_reason": reason}


def evaluate_samples(
    samples_npz: str | Path,
    dataset: str,
    data_dir: str | None = None,
    conditional: bool = False,
    config: TrainConfig | None = None,
) -> dict:
    """Coverage columns of one samples file (see the module docstring); `config`: the classifier's."""
    if dataset not in MNIST_LIKE:
        return not_computed(f"no classifier for {dataset}: coverage metrics need one of {', '.join(MNIST_LIKE)}")
    images, labels = read_samples(samples_npz)
    if images.shape[1:] != (28, 28, 1):
        return not_computed(f"samples are {'x'.join(map(str, images.shape[1:]))}, the classifier needs 28x28x1")
    if len(images) < 2:
        return not_computed(f"{len(images)} sample(s): the Fréchet distance needs at least 2")
    model, info, mu_real, sigma_real = _prepared(dataset, data_dir, config)
    from bench.metrics.classifier import embed

    predicted, features = embed(model, images)
    return {
        **coverage.coverage(predicted),
        "cond_accuracy": coverage.cond_accuracy(predicted, labels) if conditional else math.nan,
        "classifier_fd": frechet_distance(*stats(features), mu_real, sigma_real),
        "classifier_accuracy": float(info["test_accuracy"]),
        "classifier_n": len(images),
        "metrics_reason": "",
    }


def read_samples(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images (N, H, W, C), int64 labels (N,)) from a samples .npz; labels default to zeros."""
    path = Path(path)
    if not path.exists():
        raise BenchError(f"samples file not found: {path}")
    with np.load(path) as f:
        if "images" not in f:
            raise BenchError(f"{path}: no 'images' array")
        images = f["images"]
        labels = f["labels"] if "labels" in f else np.zeros(len(images), np.int64)
    if images.dtype != np.uint8 or images.ndim != 4 or len(labels) != len(images):
        raise BenchError(f"{path}: expected uint8 (N, H, W, C) images and N labels, got {images.dtype} {images.shape}")
    return images, labels.astype(np.int64)


@functools.lru_cache(maxsize=4)
def _prepared(dataset: str, data_dir: str | None, config: TrainConfig | None) -> tuple:
    """(classifier, sidecar, mu, sigma of the real test features), once per evaluator process."""
    from bench.data import load_dataset
    from bench.metrics.classifier import TrainConfig, embed, get_classifier

    model, info = get_classifier(dataset, data_dir, config or TrainConfig())
    _, features = embed(model, load_dataset(info["dataset"], "test", data_dir).images)
    return (model, info, *stats(features))


def run_jobs(jobs: list[dict]) -> list[dict]:
    """Evaluate each job; an error in one job becomes its metrics_reason."""
    results = []
    for job in jobs:
        try:
            values = evaluate_samples(
                job["samples"],
                job["dataset"],
                job.get("data_dir") or None,
                bool(job.get("conditional", False)),
                _config(job.get("classifier")),
            )
        except (BenchError, OSError, ValueError, KeyError, RuntimeError) as e:
            values = not_computed(f"{type(e).__name__}: {e}"[:500])
        results.append({"run_id": job.get("run_id", ""), **values})
    return results


def _config(fields: dict | None) -> TrainConfig | None:
    if not fields:
        return None
    from bench.metrics.classifier import TrainConfig

    return TrainConfig(**fields)


def write_results(results: list[dict], path: Path) -> None:
    """JSON list with NaN written as null, atomically."""
    clean = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()} for r in results]
    tmp = temp_name(path)
    tmp.write_text(json.dumps(clean, indent=1))
    os.replace(tmp, path)


def load_results(path: str | Path) -> pd.DataFrame:
    """The result file as a DataFrame with run_id and COVERAGE_COLUMNS (null back to NaN)."""
    df = pd.DataFrame(json.loads(Path(path).read_text()), columns=["run_id", *COVERAGE_COLUMNS])
    numeric = [c for c in COVERAGE_COLUMNS if c != "metrics_reason"]
    df[numeric] = df[numeric].apply(pd.to_numeric, errors="coerce").astype(np.float64)
    df["metrics_reason"] = df["metrics_reason"].fillna("")
    return df


def run_evaluator(jobs: list[dict], workdir: str | Path, timeout: float = 1800.0) -> pd.DataFrame:
    """Orchestrator side: run the jobs in `python -m bench.metrics.evaluate` and load its results."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    request, result = workdir / "evaluate_request.json", workdir / "evaluate_result.json"
    request.write_text(json.dumps(jobs, indent=1))
    result.unlink(missing_ok=True)
    proc = launch.run(["-m", launch.CHILDREN["coverage"], str(request), "--out", str(result)], timeout)
    if proc.returncode != 0 or not result.exists():
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"evaluator exited with code {proc.returncode}: {last}")
    return load_results(result)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("request", type=Path, help="JSON list of jobs")
    parser.add_argument("--out", type=Path, help="result file (default: REQUEST with suffix .result.json)")
    args = parser.parse_args(argv)
    jobs = json.loads(args.request.read_text())
    if not isinstance(jobs, list):
        raise SystemExit(f"{args.request}: expected a JSON list of jobs")
    write_results(run_jobs(jobs), args.out or args.request.with_suffix(".result.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
