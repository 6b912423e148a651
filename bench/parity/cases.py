"""The inputs of a variant's parity checks, built in numpy from the job's seed (both workers agree).

Data are synthetic by default (blocky uint8 images from a fixed numpy seed, so no dataset is needed
and every variant runs anywhere), or the variant's real dataset with `data="real"`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.data import check_image_shape, load_dataset
from bench.inputs import InputStream, StepInputs, rngs
from bench.objectives import N_CLASSES
from bench.parity.levels import Job
from bench.spec import Arch, Variant
from bench.weights import init_weights

BLOCK = 4  # synthetic images are random at 1/BLOCK resolution: smooth enough to look like images


@dataclass
class Case:
    variant: Variant
    arch: Arch
    batch: int
    weights: dict[str, np.ndarray]  # initial canonical weights
    eval_weights: dict[str, np.ndarray]  # the same with non-trivial BN running statistics
    images: np.ndarray
    labels: np.ndarray

    def stream(self, seed: int) -> InputStream:
        """A fresh stream: both workers draw the same batches and noise in the same order."""
        return InputStream(self.images, self.labels, self.arch, self.variant, self.batch, seed, 1.0)

    def first(self, seed: int) -> StepInputs:
        return self.stream(seed).next()


def make_case(variant: Variant, arch: Arch, job: Job, weights: dict[str, np.ndarray] | None = None) -> Case:
    batch = job.batch_for(variant.name)
    w = weights if weights is not None else init_weights(arch, rngs(job.seed)["init"])
    if job.data == "real":
        ds = load_dataset(variant.dataset, "train", job.data_dir or None, arch.image_shape[:2])
        check_image_shape(ds, arch.image_shape, arch.name)
        images, labels = ds.images, ds.labels
    else:
        images, labels = synthetic_data(arch.image_shape, max(512, 2 * batch * variant.n_critic), job.seed)
    return Case(variant, arch, batch, w, with_running_stats(w, job.seed), images, labels)


def head(inp: StepInputs, n: int) -> StepInputs:
    """The first n examples of every batch of `inp` (critic arrays keep their leading n_critic axis)."""
    per_step = {"z_g", "g_g"}  # (B, ...); every other field is (n_critic, B, ...)
    return StepInputs(**{f: getattr(inp, f)[:n] if f in per_step else getattr(inp, f)[:, :n] for f in FIELDS})


FIELDS = ("x", "y", "mask", "z_d", "g_d", "eps", "z_g", "g_g")


def synthetic_data(shape: tuple[int, int, int], n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n uint8 images (H, W, C), piecewise constant on BLOCK x BLOCK cells, and labels 0..9."""
    h, w, c = shape
    rng = np.random.default_rng([seed, 1234])
    low = rng.integers(0, 256, (n, -(-h // BLOCK), -(-w // BLOCK), c), dtype=np.uint8)
    images = low.repeat(BLOCK, 1).repeat(BLOCK, 2)[:, :h, :w]
    return np.ascontiguousarray(images), rng.integers(0, N_CLASSES, n).astype(np.int64)


def with_running_stats(weights: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """A copy whose BN running means and variances are random, so eval mode really uses them."""
    rng = np.random.default_rng([seed, 5678])
    out = dict(weights)
    for k, a in sorted(weights.items()):
        if k.endswith(".running_mean"):
            out[k] = rng.normal(0.0, 0.1, a.shape).astype(np.float32)
        elif k.endswith(".running_var"):
            out[k] = rng.uniform(0.5, 2.0, a.shape).astype(np.float32)
    return out
