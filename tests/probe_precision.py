"""Run inside ONE framework's process: fp16 loss scaling and the fp16 gradient penalty, dumped for
tests/test_precision.py: `python probe_precision.py FW OUT.npz`.

Keys: `skip/w0/{name}`, `skip/w1/{name}` weights before and after one fp16 step whose gradients overflow
(the loss scale starts at 2**60, `BENCH_TEST_LOSS_SCALE`), `skip/skipped_d|g` the step's skip counts,
`skip/scale_d|g` the scales after it, `shared/scale_d|g` the same with one scale shared by G and D;
`gp/fp32`, `gp/fp16` the WGAN-GP penalty term as the training
step computes it, in float32 and in fp16 from the same weights and inputs, `gp/scale` fp16's loss scale.
"""

from __future__ import annotations

import importlib
import os
import sys

import numpy as np

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import precision  # noqa: E402
from bench.inputs import (
    InputStream,  # noqa: E402
    rngs,  # noqa: E402
)
from bench.parity.cases import synthetic_data  # noqa: E402
from bench.variants import get_variant, variant_arch  # noqa: E402
from bench.weights import init_weights  # noqa: E402


def trainer(train, name: str, prec: str, batch: int = 8, scaler: str = ""):
    variant = get_variant(name)
    arch = variant_arch(variant)
    weights = init_weights(arch, rngs(0)["init"])
    images, labels = synthetic_data(arch.image_shape, 64, 0)
    stream = InputStream(images, labels, arch, variant, batch, 0, 1.0)
    return train.Trainer(
        variant, arch, weights, "cpu", dropout=False, seed=0, precision=prec, loss_scaler=scaler
    ), stream


def main(fw: str, out: str) -> None:
    precision.set_initial_scale(2.0**60)  # every fp16 gradient overflows at this scale
    runtime = importlib.import_module(f"impls_{fw}.runtime")
    train = importlib.import_module(f"impls_{fw}.train")
    runtime.configure(0, False, 0)
    res: dict[str, np.ndarray] = {}
    tr, stream = trainer(train, "gan", "fp16")
    res.update({f"skip/w0/{k}": a for k, a in tr.export_weights().items()})
    (row,) = tr.fetch([tr.train_step(stream.next())])
    res.update({f"skip/w1/{k}": a for k, a in tr.export_weights().items()})
    state = tr.precision_state()
    res.update({"skip/skipped_d": row["skipped_d"], "skip/skipped_g": row["skipped_g"],
                "skip/scale_d": state["loss_scale_d"], "skip/scale_g": state["loss_scale_g"]})  # fmt: skip
    tr, stream = trainer(train, "gan", "fp16", scaler="shared")  # one scale: halved by D's skip, then by G's
    tr.fetch([tr.train_step(stream.next())])
    state = tr.precision_state()
    res.update({"shared/scale_d": state["loss_scale_d"], "shared/scale_g": state["loss_scale_g"]})
    precision.set_initial_scale(2.0**15)
    first = None
    for prec in ("fp32", "fp16"):
        tr, stream = trainer(train, "wgan-gp", prec)
        first = first or stream.next()
        terms, _ = tr.d_grads(first, 0)
        res[f"gp/{prec}"] = np.float64(terms["gp"])
    res["gp/scale"] = np.float64(tr.precision_state()["loss_scale_d"])
    np.savez(out, **res)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
