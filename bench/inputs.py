"""Harness-owned randomness: every random number a run uses is drawn here, in numpy.

From the run seed, `numpy.random.SeedSequence` spawns one independent stream per purpose, so that
adding a draw to one purpose never shifts another. Every framework receives the same arrays: same
initial weights, same batches in the same order, same noise.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from bench.objectives import N_CLASSES, get_objective
from bench.spec import Arch, Variant

STREAMS = ("init", "data", "noise", "fixed", "labeled", "framework")


def rngs(seed: int) -> dict[str, np.random.Generator]:
    """One generator per purpose, derived from the run seed."""
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {name: np.random.default_rng(c) for name, c in zip(STREAMS, children, strict=True)}


def framework_seed(seed: int) -> int:
    """Seed for what the frameworks still draw themselves (dropout masks)."""
    return int(rngs(seed)["framework"].integers(0, 2**31 - 1))


def scale_images(images: np.ndarray, data_range: tuple[float, float]) -> np.ndarray:
    """uint8 0..255 -> float32 in the architecture's data range."""
    lo, hi = data_range
    return (images.astype(np.float32) * np.float32((hi - lo) / 255.0) + np.float32(lo)).astype(np.float32)


def to_uint8(images: np.ndarray, data_range: tuple[float, float]) -> np.ndarray:
    """Generator output in the data range -> uint8 0..255 (rounded, clipped)."""
    lo, hi = data_range
    x = (np.asarray(images, np.float64) - lo) * (255.0 / (hi - lo))
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def draw_noise(rng: np.random.Generator, arch: Arch, n: int) -> np.ndarray:
    if arch.noise == "uniform":
        return rng.uniform(-1.0, 1.0, (n, arch.z_dim)).astype(np.float32)
    return rng.standard_normal((n, arch.z_dim)).astype(np.float32)


@dataclass
class StepInputs:
    """Everything one training step consumes; critic arrays have a leading n_critic axis."""

    x: np.ndarray  # (n_critic, B, H, W, C) float32, real images in the data range
    y: np.ndarray  # (n_critic, B) int64 real labels (-1 if unknown)
    mask: np.ndarray  # (n_critic, B) float32, 1 where the label may be used (ssgan)
    z_d: np.ndarray  # (n_critic, B, z_dim) noise for the D updates
    g_d: np.ndarray  # (n_critic, B) int64 class given to G in D updates (cgan), else zeros
    eps: np.ndarray  # (n_critic, B) float32 interpolation weights (wgan-gp), else zeros
    z_g: np.ndarray  # (B, z_dim) noise for the G update
    g_g: np.ndarray  # (B,) int64 class given to G in the G update


class InputStream:
    """Draws step inputs in a fixed order: data from the `data` stream, noise from `noise`."""

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        arch: Arch,
        variant: Variant,
        batch_size: int,
        seed: int,
        labeled_fraction: float = 1.0,
    ) -> None:
        if batch_size > len(images):
            raise ValueError(f"batch size {batch_size} exceeds the dataset's {len(images)} images")
        self.x_all = scale_images(images, arch.data_range)
        self.y_all = labels.astype(np.int64)
        self.arch, self.variant, self.batch = arch, variant, batch_size
        streams = rngs(seed)
        self.data_rng, self.noise_rng = streams["data"], streams["noise"]
        self.labeled = labeled_mask(len(images), labeled_fraction, streams["labeled"])
        self.order = np.empty(0, np.int64)
        self.pos = 0
        self.epoch = 0
        self._source = (images, labels)  # for `digest`, computed only when a checkpoint asks
        self._digest = ""

    def digest(self) -> str:
        """sha256 of the images, labels and labelled mask this stream draws from: a checkpoint records it,
        and a resume refuses a checkpoint trained on other data under the same run id."""
        if not self._digest:
            h = hashlib.sha256()
            for a in (*self._source, self.labeled):
                h.update(str((a.dtype.str, a.shape)).encode())
                h.update(np.ascontiguousarray(a).data)
            self._digest = h.hexdigest()
        return self._digest

    def _indices(self) -> np.ndarray:
        if self.pos + self.batch > len(self.order):  # new epoch; the incomplete tail is dropped
            self.order = self.data_rng.permutation(len(self.x_all))
            self.pos = 0
            self.epoch += 1
        idx = self.order[self.pos : self.pos + self.batch]
        self.pos += self.batch
        return idx

    def state(self) -> tuple[dict, np.ndarray]:
        """(JSON-able position and generator states, the epoch's data order): what a checkpoint keeps."""
        gens = {"data": self.data_rng.bit_generator.state, "noise": self.noise_rng.bit_generator.state}
        return {**gens, "pos": self.pos, "epoch": self.epoch}, self.order.copy()

    def check_state(self, state: object, order: np.ndarray | None) -> None:
        """ValueError unless `state` and `order` (from a checkpoint) can be this stream's: the same generators
        seeded from the same seed (a PCG64's increment is fixed by its seed and never changes while drawing),
        a position inside an order over exactly these images."""
        if not isinstance(state, dict) or order is None:
            raise ValueError("it holds no data order")
        for name, rng in (("data", self.data_rng), ("noise", self.noise_rng)):
            mine, theirs = rng.bit_generator.state, state.get(name)
            same = isinstance(theirs, dict) and theirs.get("bit_generator") == mine["bit_generator"]
            if (
                not same
                or not isinstance(theirs.get("state"), dict)
                or theirs["state"].get("inc") != mine["state"]["inc"]
            ):
                raise ValueError(f"its {name} generator was not seeded as this run's")
        n = len(self.x_all)
        if order.ndim != 1 or order.dtype.kind not in "iu" or len(order) not in (0, n):
            raise ValueError("its data order is not one over this dataset")
        if len(order) and not np.array_equal(np.sort(order), np.arange(n)):
            raise ValueError("its data order is not a permutation of this dataset")
        if not isinstance(state.get("pos"), int) or not 0 <= state["pos"] <= len(order):
            raise ValueError("its data position is outside its order")

    def restore(self, state: dict, order: np.ndarray) -> None:
        self.data_rng.bit_generator.state = state["data"]
        self.noise_rng.bit_generator.state = state["noise"]
        self.pos, self.epoch, self.order = int(state["pos"]), int(state["epoch"]), order.astype(np.int64)

    def next(self) -> StepInputs:
        b, k, arch = self.batch, self.variant.n_critic, self.arch
        idx = np.stack([self._indices() for _ in range(k)])
        n_classes = N_CLASSES
        z_d = np.stack([draw_noise(self.noise_rng, arch, b) for _ in range(k)])
        zeros = np.zeros((k, b), np.int64)
        g_d = self.noise_rng.integers(0, n_classes, (k, b)) if self.variant.g_conditional else zeros
        eps = self.noise_rng.uniform(0, 1, (k, b)).astype(np.float32) if _uses_gp(self.variant) else None
        z_g = draw_noise(self.noise_rng, arch, b)
        g_g = self.noise_rng.integers(0, n_classes, b) if self.variant.g_conditional else np.zeros(b, np.int64)
        return StepInputs(
            x=self.x_all[idx],
            y=self.y_all[idx],
            mask=self.labeled[idx],
            z_d=z_d,
            g_d=g_d.astype(np.int64),
            eps=eps if eps is not None else np.zeros((k, b), np.float32),
            z_g=z_g,
            g_g=g_g.astype(np.int64),
        )


def _uses_gp(variant: Variant) -> bool:
    return get_objective(variant.objective).gp


def labeled_mask(n: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """1.0 for the examples whose labels the semi-supervised loss may use, chosen from the seed."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"labeled_fraction must be in [0, 1], got {fraction}")
    mask = np.zeros(n, np.float32)
    mask[rng.permutation(n)[: int(round(fraction * n))]] = 1.0
    return mask


def fixed_noise(seed: int, arch: Arch, n: int, conditional: bool) -> tuple[np.ndarray, np.ndarray]:
    """Noise (and cycled class labels) for sample grids and FID samples, identical across frameworks."""
    z = draw_noise(rngs(seed)["fixed"], arch, n)
    labels = np.arange(n, dtype=np.int64) % N_CLASSES if conditional else np.zeros(n, np.int64)
    return z, labels
