"""Suite throughput of the Ray executor against the local one, side by side in one run.

    python benchmarks/ray_scaling.py [--steps 10] [--seeds 4]

The same eight short runs (gan and dcgan, PyTorch, `--seeds` seeds each, one thread per run) go
through: Ray with one 1-CPU node, Ray with two 1-CPU nodes (a simulated cluster on this machine,
`ray.cluster_utils.Cluster`, head node with no CPUs), the local executor with --jobs 2, and the local
executor one at a time. Printed: runs/hour of each, the two-node/one-node ratio (target >= 1.8),
two-node Ray against local --jobs 2 (target >= 0.95), and Ray's added seconds per run over the local
executor (one-node Ray against local one at a time; target <= 1 s). Cluster start-up is outside
the timings: a cluster is started once and serves many suites. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def specs(steps: int, seeds: int, jobs: int):
    from bench.spec import RunSpec
    from bench.suites import Suite, expand

    suite = Suite("ray-scaling", variants=("gan", "dcgan"), frameworks=("torch",), seeds=tuple(range(seeds)),
                  steps=steps, warmup=1, intervals=2, jobs=jobs)  # fmt: skip
    return [replace(s, jobs=jobs, threads=1) for s in expand(suite, RunSpec("", "", threads=1))]


def timed_ray(nodes: int, steps: int, seeds: int) -> float:
    from ray.cluster_utils import Cluster

    from bench.executor_ray import run_specs

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    try:
        for _ in range(nodes):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        with tempfile.TemporaryDirectory() as results:
            t0 = time.perf_counter()
            rows = run_specs(specs(steps, seeds, 1), Path(results), address=cluster.address, log=lambda m: None)
            seconds = time.perf_counter() - t0
    finally:
        cluster.shutdown()
    check(rows, f"ray, {nodes} node(s)")
    return seconds


def timed_local(jobs: int, steps: int, seeds: int) -> float:
    from bench.executor import run_specs

    with tempfile.TemporaryDirectory() as results:
        t0 = time.perf_counter()
        rows = run_specs(specs(steps, seeds, 1), Path(results), jobs=jobs, log=lambda m: None)
        seconds = time.perf_counter() - t0
    check(rows, f"local, jobs {jobs}")
    return seconds


def check(rows: list[dict], what: str) -> None:
    bad = [r for r in rows if r["status"] != "ok"]
    if bad:
        raise SystemExit(f"{what}: {len(bad)} runs not ok: {bad[0]['reason']}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--seeds", type=int, default=4)
    args = p.parse_args()
    n = 2 * args.seeds
    t = {
        "ray, one 1-CPU node": timed_ray(1, args.steps, args.seeds),
        "ray, two 1-CPU nodes": timed_ray(2, args.steps, args.seeds),
        "local, --jobs 2": timed_local(2, args.steps, args.seeds),
        "local, one at a time": timed_local(1, args.steps, args.seeds),
    }
    print(f"{n} runs (gan, dcgan; PyTorch; {args.steps} steps; 1 thread each) on {os.cpu_count()} cores")
    for what, secs in t.items():
        print(f"  {what:<22} {secs:7.1f} s  {3600 * n / secs:8.0f} runs/hour")
    two_vs_one = t["ray, one 1-CPU node"] / t["ray, two 1-CPU nodes"]
    vs_local = t["local, --jobs 2"] / t["ray, two 1-CPU nodes"]
    added = (t["ray, one 1-CPU node"] - t["local, one at a time"]) / n
    print(f"  ray two nodes / one node: {two_vs_one:.2f}x (target >= 1.8)")
    print(f"  ray two nodes / local --jobs 2: {vs_local:.2f}x (target >= 0.95)")
    print(f"  ray's added time per run over local: {added:+.2f} s (target <= 1 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
