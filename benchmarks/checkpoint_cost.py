"""Checkpoint cost as a share of run time at the default interval, for `dcgan` and `wgan-gp` in each
installed framework, measured side by side in one run on this machine.

    python benchmarks/checkpoint_cost.py [--results-dir DIR] [--every N]

Each run is an ordinary `python -m bench run` with the `all` suite's steps for the variant and
`--checkpoint-every` (default: bench.suites.CHECKPOINT_EVERY), so it writes the checkpoints a user's run
writes, its final one included. The share is checkpoint_s (seconds spent writing them, outside the timed
intervals) over wall_s (the worker's whole life: imports, build, warm-up, training, samples) and over
training alone (warm-up + timed steps + checkpoints).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.frameworks import FRAMEWORKS, installed, label  # noqa: E402
from bench.results import load  # noqa: E402
from bench.suites import BUILTIN, CHECKPOINT_EVERY  # noqa: E402

VARIANTS = ("dcgan", "wgan-gp")


def run(results: Path, every: int, frameworks: list[str]) -> None:
    suite = BUILTIN["all"]
    for variant in VARIANTS:
        steps = suite.steps_per_variant.get(variant, suite.steps)
        cmd = [sys.executable, "-m", "bench", "run", "--variants", variant, "--frameworks", ",".join(frameworks),
               "--steps", str(steps), "--warmup", str(suite.warmup), "--checkpoint-every", str(every),
               "--fid-samples", "0", "--no-report", "--results-dir", str(results)]  # fmt: skip
        subprocess.run(cmd, cwd=REPO, check=True)


def table(results: Path) -> list[str]:
    runs, _ = load(results)
    lines = [f"{'variant':8s} {'framework':11s} {'steps':>5s} {'ckpts':>5s} {'MB each':>8s} {'ckpt s':>7s} "
             f"{'wall s':>7s} {'of wall':>8s} {'of training':>11s}"]  # fmt: skip
    for r in runs.sort_values(["variant", "framework"]).itertuples():
        folder = results / "checkpoints" / r.run_id
        size = sum(p.stat().st_size for p in folder.glob("ckpt-*.npz")) / 1e6
        training = r.warmup_s + r.timed_s + r.checkpoint_s
        lines.append(f"{r.variant:8s} {label(r.framework):11s} {r.steps:5d} {r.checkpoints:5d} {size:8.1f} "
                     f"{r.checkpoint_s:7.2f} {r.wall_s:7.1f} {r.checkpoint_s / r.wall_s:8.2%} "
                     f"{r.checkpoint_s / training:11.2%}")  # fmt: skip
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results-dir", default="", help="keep the runs here (default: a temporary directory)")
    p.add_argument("--every", type=int, default=CHECKPOINT_EVERY)
    args = p.parse_args()
    frameworks = [fw for fw in FRAMEWORKS if installed(fw)]
    with tempfile.TemporaryDirectory(prefix="checkpoint-cost-") as tmp:
        results = Path(args.results_dir or tmp)
        run(results, args.every, frameworks)
        print(f"\ncheckpoint every {args.every} timed steps (the final state always saved)")
        print("\n".join(table(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
