"""fp32 against bf16, side by side, in one run on this machine: images/s of `dcgan` and `wgan-gp` at batch 64
per installed framework, with the bf16/fp32 ratio's 95% interval and whether the CPU has native bf16.

    python benchmarks/precision_speed.py [--results-dir DIR] [--repeats 2] [--device cpu]

Each run is an ordinary `python -m bench run` (one worker process per run, warm-up untimed); the repeats
interleave the precisions (fp32 then bf16 for every framework, then again), so a machine that slows down
during the benchmark slows both. The ratio's interval is the report's two-level bootstrap over runs and
their timed intervals (bench/report/stats.py).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from bench.environment import cpu_bf16_flags, cpu_model  # noqa: E402
from bench.frameworks import FRAMEWORKS, installed, label  # noqa: E402
from bench.report.stats import ratio_ci  # noqa: E402
from bench.results import load, load_table  # noqa: E402

STEPS = {"dcgan": 12, "wgan-gp": 4}  # timed steps: a wgan-gp step is five critic updates and one G update


def run(results: Path, repeats: int, device: str, frameworks: list[str]) -> None:
    for variant, steps in STEPS.items():
        cmd = [sys.executable, "-m", "bench", "run", "--variants", variant, "--frameworks", ",".join(frameworks),
               "--precision", "fp32,bf16", "--batch-size", "64", "--steps", str(steps), "--warmup", "3",
               "--repeats", str(repeats), "--fid-samples", "0", "--no-report",
               "--device", device, "--results-dir", str(results)]  # fmt: skip
        subprocess.run(cmd, cwd=REPO, check=True)


def table(results: Path) -> list[str]:
    runs, _ = load(results)
    intervals = load_table(results, "intervals")
    samples = {rid: g["images_per_s"].to_numpy(float) for rid, g in intervals.groupby("run_id")}
    lines = [f"{'variant':8s} {'framework':11s} {'fp32 img/s':>11s} {'bf16 img/s':>11s} {'bf16/fp32 [95% CI]':>24s}"]
    for (variant, fw), g in runs[runs["status"] == "ok"].groupby(["variant", "framework"], sort=False):
        by = {p: [samples[r] for r in g.loc[g["precision"] == p, "run_id"] if r in samples] for p in ("fp32", "bf16")}
        med = {p: np.median(np.concatenate(s)) if s else np.nan for p, s in by.items()}
        ci = ratio_ci(by["bf16"], by["fp32"])
        lines.append(f"{variant:8s} {label(fw):11s} {med['fp32']:11.1f} {med['bf16']:11.1f} "
                     f"{ci.ratio:9.2f} [{ci.low:.2f}, {ci.high:.2f}]")  # fmt: skip
    failed = runs[runs["status"] != "ok"]
    lines += [f"not ok: {r.variant} {r.framework} {r.precision}: {r.status} {r.reason}" for r in failed.itertuples()]
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results-dir", default="", help="keep the runs here (default: a temporary directory)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    frameworks = [fw for fw in FRAMEWORKS if installed(fw)]
    with tempfile.TemporaryDirectory(prefix="precision-speed-") as tmp:
        results = Path(args.results_dir or tmp)
        run(results, args.repeats, args.device, frameworks)
        flags = cpu_bf16_flags()
        print(f"\nCPU: {cpu_model()}; native bf16: {'yes (' + flags + ')' if flags else 'no (bf16 is emulated)'}")
        print("\n".join(table(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
