"""Cold against warm compilation with the persistent compile caches, side by side in one run.

    python benchmarks/compile_cache.py [--variant dcgan] [--batch-size 64] [--steps 3]

For PyTorch `compile` and TensorFlow `xla`: one run in a fresh cache directory (cold), then the
same run again (warm: same variant, framework, mode and batch, same cache), each in its own worker
as the harness runs it. Printed: compile_s (first step minus a steady step) and first_step_s of
each, the row's `compile_cache` state, and warm/cold (target <= 1/3); then TensorFlow's `function`
mode, whose compile_s is tf.function tracing alone: the part of an `xla` compile that no persistent
cache removes. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def run_once(variant: str, framework: str, mode: str, batch: int, steps: int, results: Path) -> dict:
    from bench.executor import run_specs
    from bench.spec import RunSpec

    spec = RunSpec(variant, framework, mode=mode, batch_size=batch, steps=steps, warmup=1, intervals=1)
    (row,) = run_specs([spec], results, force=True, log=lambda m: None)
    if row["status"] != "ok":
        raise SystemExit(f"{framework} {mode}: {row['status']}: {row['reason']}")
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--variant", default="dcgan")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=3)
    args = p.parse_args()
    print(f"{args.variant}, batch {args.batch_size}, {os.cpu_count()} cores; a fresh cache for each pair")
    print(f"{'framework':10s} {'mode':8s} {'run':5s} {'cache':8s} {'compile_s':>9s} {'first_step_s':>12s}")
    for framework, mode in (("torch", "compile"), ("tf", "xla")):
        with tempfile.TemporaryDirectory(prefix="bench-compile-cache-") as cache:
            os.environ["BENCH_CACHE_DIR"] = cache  # the workers inherit it: a cold cache, then the same one warm
            rows = {}
            for label in ("cold", "warm"):
                rows[label] = run_once(args.variant, framework, mode, args.batch_size, args.steps, Path(cache) / "r")
                r = rows[label]
                print(f"{framework:10s} {mode:8s} {label:5s} {r['compile_cache']:8s} {r['compile_s']:9.2f} "
                      f"{r['first_step_s']:12.2f}")  # fmt: skip
            ratio = rows["warm"]["compile_s"] / rows["cold"]["compile_s"]
            print(f"{framework:10s} {mode:8s} warm/cold compile_s = {ratio:.2f} (target <= 0.33)")
    with tempfile.TemporaryDirectory(prefix="bench-compile-cache-") as cache:
        floor = run_once(args.variant, "tf", "function", args.batch_size, args.steps, Path(cache))["compile_s"]
    print(f"tf function (tf.function without XLA) compile_s = {floor:.2f}: tracing, which no persistent cache "
          "of TensorFlow's covers, so the floor of a warm xla run")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
