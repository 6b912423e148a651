#!/usr/bin/env bash
# The prepared GPU check (issue #26 item 6), one script under 10 minutes on one GPU:
#   1. CUDA parity with TF32 off at batch 16 on three variants (gan, dcgan, wgan-gp), every installed framework;
#   2. a throughput slice: dcgan and wgan-gp at batch 64 in fp32, tf32, bf16 and fp16 per framework.
# Usage: bash benchmarks/gpu_check.sh OUTDIR [MNIST_DIR] [FRAMEWORKS]   (FRAMEWORKS: e.g. torch,jax)
# It prints both tables; OUTDIR gets the parity table and the run tables.
set -uo pipefail
out=${1:?usage: gpu_check.sh OUTDIR [MNIST_DIR] [FRAMEWORKS]}
data=${2:-}
fws=${3:-torch,tf,jax}
py=${PYTHON:-python3}
device=${DEVICE:-0}  # DEVICE=cpu PRECISIONS=fp32,bf16 STEPS=2: a dry run of the script on a CPU
precisions=${PRECISIONS:-fp32,tf32,bf16,fp16}
steps=${STEPS:-60}
export PYTHONUNBUFFERED=1 BENCH_OFFLINE=1 TF_CPP_MIN_LOG_LEVEL=2 XLA_PYTHON_CLIENT_PREALLOCATE=false
mkdir -p "$out"
nvidia-smi -L || true
"$py" - <<'PY'
import importlib
for m in ("torch", "tensorflow", "jax"):
    try:
        mod = importlib.import_module(m)
        print(m, mod.__version__)
    except Exception as e:  # a framework missing on this machine is reported, not fatal
        print(m, "not importable:", type(e).__name__, e)
PY
others=$(echo "$fws" | tr ',' '\n' | grep -v '^torch$' | paste -sd, -)
echo "== 1. CUDA parity, TF32 off, batch 16 (torch against ${others}) =="
timeout 230 "$py" -m bench parity --device "$device" --frameworks "$fws" --variants gan,dcgan,wgan-gp --batch-size 16 \
    --steps 20 --results-dir "$out/parity" --timeout 220
echo "parity exit: $?"
echo "== 2. throughput slice: dcgan, wgan-gp at batch 64, fp32/tf32/bf16/fp16 =="
timeout 300 "$py" -m bench run --device "$device" --variants dcgan,wgan-gp --frameworks "$fws" \
    --precision "$precisions" --batch-size 64 --steps "$steps" --warmup 5 --fid-samples 0 --no-report \
    ${data:+--data-dir "$data"} --results-dir "$out/results" --timeout 150
echo "run exit: $?"
"$py" - "$out/results" <<'PY'
import sys
import pandas as pd
from bench.results import load
runs, _ = load(sys.argv[1])
cols = ["variant", "framework", "precision", "status", "images_per_s", "step_time_s", "peak_device_mem_mb",
        "compute_dtype", "tf32", "loss_scale_d", "skipped_updates_d", "gpu_name", "reason"]
pd.set_option("display.width", 250)
pd.set_option("display.max_colwidth", 60)
print(runs[[c for c in cols if c in runs]].sort_values(["variant", "framework", "precision"]).to_string(index=False))
PY
