"""The evaluation phase on a cluster: the same evaluator processes as locally, run as jobs.

FID/KID: the real reference's Inception statistics are computed once, by a first job (which also
scores the real-vs-real floor), and shipped with the reference images to the jobs that score the
runs' samples, split into one chunk per node; each of those finds the statistics in its own
cache directory, so no node extracts the reference again. Coverage: one job per dataset (the
classifier is trained or read from the node's cache once per job). Paths inside the jobs are
relative to their scratch directories; no shared filesystem is needed.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from bench import launch
from bench.errors import BenchError
from bench.jobs import Job, ok

FID_TIMEOUT_S = 24 * 3600.0


def fid_job(name: str, request: dict, files: dict[str, bytes], gpu: bool) -> Job:
    request = {**request, "out": "result.json", "cache_dir": "cache"}
    inputs = {**files, "request.json": json.dumps(request).encode()}
    return Job(name, launch.CHILDREN["fid"], ("request.json",), inputs, FID_TIMEOUT_S, cpus=0, gpus=int(gpu),
               in_scratch=True)  # fmt: skip


def fid_on_cluster(request: dict, session, log: Callable[[str], None]) -> dict:
    """The evaluator's result for `request` (real + fakes, the floor last), computed as jobs."""
    gpu = request.get("device", "cpu") != "cpu"
    request = {**request, "device": "cuda" if gpu else "cpu"}  # the task sees only the GPU Ray gave it
    real = {"real.npz": Path(request["real"]).read_bytes()}
    *runs, floor = request["fake"]
    first = fid_job("fid reference + floor", {**request, "real": "real.npz", "fake": ["floor.npz"]},
                    {**real, "floor.npz": Path(floor).read_bytes()}, gpu)  # fmt: skip
    reference = ok(session.run_jobs([first], log)[0], "the FID reference job")
    stats = {k: v for k, v in reference.files.items() if k.startswith("cache/")}
    chunks = [runs[i :: session.nodes] for i in range(min(session.nodes, len(runs)))]
    jobs = []
    for i, chunk in enumerate(chunks):
        fakes = {f"fake-{j}.npz": Path(p).read_bytes() for j, p in enumerate(chunk)}
        jobs.append(fid_job(f"fid {i + 1}/{len(chunks)}", {**request, "real": "real.npz", "fake": list(fakes)},
                            {**real, **stats, **fakes}, gpu))  # fmt: skip
    results = [_result(ok(r, "an FID job")) for r in session.run_jobs(jobs, log)]
    entries: list[dict | None] = [None] * len(runs)
    for i, res in enumerate(results):
        for j, entry in enumerate(res["results"]):
            entries[i + j * len(chunks)] = entry
    if any(res.get("real_cache") != "hit" for res in results):
        raise BenchError("an FID job did not find the shipped reference statistics (cache miss)")
    return {**results[0], "results": [*entries, _result(reference)["results"][0]]}


def _result(result) -> dict:
    try:
        return json.loads(result.files["result.json"])
    except (KeyError, ValueError) as e:
        raise BenchError(f"FID job {result.name} wrote no readable result ({type(e).__name__})") from None


def coverage_on_cluster(jobs: list[dict], session, log: Callable[[str], None]) -> pd.DataFrame:
    """Classifier coverage of each run's samples (bench.metrics.evaluate), as one job."""
    from bench.metrics.evaluate import load_results

    files = {f"samples-{i}.npz": Path(j["samples"]).read_bytes() for i, j in enumerate(jobs)}
    request = [{**j, "samples": f"samples-{i}.npz"} for i, j in enumerate(jobs)]
    job = Job("coverage", launch.CHILDREN["coverage"], ("request.json", "--out", "result.json"),
              {**files, "request.json": json.dumps(request).encode()}, FID_TIMEOUT_S, cpus=0,
              in_scratch=True)  # fmt: skip
    result = ok(session.run_jobs([job], log)[0], "the coverage job")
    if "result.json" not in result.files:
        raise BenchError("the coverage job wrote no result")
    with tempfile.TemporaryDirectory() as d:  # load_results reads a file: the evaluator's own format
        path = Path(d) / "result.json"
        path.write_bytes(result.files["result.json"])
        return load_results(path)
