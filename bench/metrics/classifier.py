"""The project's MNIST-like classifier: a small CNN trained from a fixed seed, cached on disk (torch).

It gives mode coverage (which classes G produces) and a fast Fréchet distance in its penultimate
feature space (`classifier_fd`, as TF-GAN's MNIST Fréchet distance uses a pretrained MNIST
classifier), for mnist, mnist-5k and fashion-mnist.

Input scaling: uint8 0..255 images (real data and generated samples alike) become float32
x / 255 in [0, 1], channels-first (N, 1, 28, 28); no mean/std normalisation.
Architecture (28x28x1 -> 10 logits), see `Classifier`:
  conv 5x5/2 16 + BN + ReLU -> conv 5x5/2 32 + BN + ReLU -> flatten 1568 -> dense 128 + ReLU
  (the features) -> dense 10; 215k parameters. Strided convolutions instead of pooling keep it
  ~4x cheaper than the usual 32/64-filter MNIST net; batch norm makes 2 epochs reach ~99%.
Training: Adam (betas 0.9/0.999), batch 128, TrainConfig.steps updates (938 = 2 epochs of the 60k
MNIST images; more epochs on smaller sets), learning rate 2e-3 with cosine decay to 0, cross
entropy; initial weights from torch.manual_seed(seed), data order from numpy default_rng(seed),
reshuffled every epoch, the incomplete last batch dropped.

Cache: `$BENCH_CACHE_DIR/classifiers/` (default ~/.cache/gan-bench/classifiers/) holds
  <key>.pt    the state_dict (torch.save), loaded with torch.load(weights_only=True)
  <key>.json  sidecar: dataset name and checksum, seed, training config, test accuracy, torch
              version and the sha256 of <key>.pt, verified on load (a mismatch retrains).
The key is <dataset name>-<dataset checksum[:16]>-<hash of the training config and ARCH_VERSION>,
so mnist, mnist-5k and fashion-mnist (and a tiny test configuration) never share a classifier.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bench.data import Dataset, load_dataset
from bench.data.dataset import log_stderr
from bench.files import cache_root, sha256_file, temp_name

ARCH_VERSION = 1  # bump when Classifier or the training recipe changes: old cache entries stop matching
IMAGE_SHAPE = (28, 28, 1)
N_CLASSES = 10
FEATURE_DIM = 128
EVAL_BATCH = 1000


@dataclass(frozen=True)
class TrainConfig:
    """How a classifier is trained; every field is part of the cache key."""

    seed: int = 0
    steps: int = 938  # 2 epochs of 60,000 images at batch 128
    batch_size: int = 128
    lr: float = 2e-3  # peak; cosine decay to 0 over `steps`
    max_train: int = 0  # > 0: train on the first max_train images only (fast tests)
    # torch intra-op threads while training (0: leave as is); not in the key. One thread makes the
    # result independent of the core count, and these small convolutions gain little from more threads
    # (on a busy 2-core machine, 2 threads were 5x slower than 1).
    threads: int = 1

    def key_fields(self) -> dict:
        d = asdict(self)
        d.pop("threads")
        return {**d, "arch_version": ARCH_VERSION}


class Classifier(nn.Module):
    """Two strided convolutions with batch norm, two dense layers; `features` is the 128-d penultimate layer."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5, stride=2, padding=2, bias=False)  # 28 -> 14
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 5, stride=2, padding=2, bias=False)  # 14 -> 7
        self.bn2 = nn.BatchNorm2d(32)
        self.fc1 = nn.Linear(32 * 7 * 7, FEATURE_DIM)
        self.fc2 = nn.Linear(FEATURE_DIM, N_CLASSES)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return torch.relu(self.fc1(x.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.features(x))


def to_input(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28, 1) -> float32 (N, 1, 28, 28) in [0, 1] (the scaling used for training)."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.shape[1:] != IMAGE_SHAPE:
        raise ValueError(f"expected uint8 images of shape (N, 28, 28, 1), got {images.dtype} {images.shape}")
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0)


def embed(model: Classifier, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(predicted classes int64 (N,), penultimate features float64 (N, 128)) in one pass."""
    model.eval()
    classes, feats = [], []
    with torch.no_grad():
        for i in range(0, len(images), EVAL_BATCH):
            f = model.features(to_input(images[i : i + EVAL_BATCH]))
            classes.append(model.fc2(f).argmax(1))
            feats.append(f)
    return torch.cat(classes).numpy().astype(np.int64), torch.cat(feats).double().numpy()


def accuracy(model: Classifier, ds: Dataset) -> float:
    predicted, _ = embed(model, ds.images)
    return float(np.mean(predicted == ds.labels))


def train(ds: Dataset, config: TrainConfig = TrainConfig()) -> Classifier:
    """Train a Classifier on `ds` (see the module docstring for the recipe)."""
    images = ds.images[: config.max_train] if config.max_train > 0 else ds.images
    x, y = to_input(images), torch.from_numpy(ds.labels[: len(images)])
    if len(x) < config.batch_size:
        raise ValueError(f"{ds.name}: {len(x)} training images, fewer than one batch of {config.batch_size}")
    rng = np.random.default_rng(config.seed)
    old_threads = torch.get_num_threads()
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    try:
        with torch.random.fork_rng():
            torch.manual_seed(config.seed)
            model = Classifier()
        opt = torch.optim.Adam(model.parameters(), lr=config.lr)
        model.train()
        order, pos = np.empty(0, np.int64), 0
        for step in range(config.steps):
            if pos + config.batch_size > len(order):
                order, pos = rng.permutation(len(x)), 0
            idx = torch.from_numpy(order[pos : pos + config.batch_size])
            pos += config.batch_size
            for group in opt.param_groups:
                group["lr"] = config.lr * 0.5 * (1.0 + math.cos(math.pi * step / config.steps))
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(old_threads)
    return model.eval()


def cache_dir() -> Path:
    return cache_root() / "classifiers"


def cache_key(ds: Dataset, config: TrainConfig) -> str:
    blob = json.dumps(config.key_fields(), sort_keys=True).encode()
    return f"{ds.name}-{ds.checksum[:16]}-{hashlib.sha1(blob).hexdigest()[:8]}"


def load_cached(key: str, log: Callable[[str], None] = log_stderr) -> tuple[Classifier, dict] | None:
    """The cached classifier and its sidecar, or None (with a message) when absent, corrupt or stale."""
    weights, sidecar = cache_dir() / f"{key}.pt", cache_dir() / f"{key}.json"
    if not (weights.exists() and sidecar.exists()):
        return None
    try:
        info = json.loads(sidecar.read_text())
        if sha256_file(weights) != info.get("weights_sha256"):
            log(f"classifier cache {weights}: sha256 does not match {sidecar.name} (corrupt or modified); retraining")
            return None
        model = Classifier()
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    except (OSError, ValueError, RuntimeError, KeyError, EOFError, pickle.UnpicklingError) as e:
        log(f"classifier cache {weights} unreadable ({type(e).__name__}: {e}); retraining")
        return None
    return model.eval(), info


def save(model: Classifier, info: dict, key: str) -> dict:
    """Write <key>.pt, then <key>.json with its sha256 (each atomically; the sidecar last)."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    weights, sidecar = folder / f"{key}.pt", folder / f"{key}.json"
    tmp = temp_name(weights)
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, weights)
    info = {**info, "weights_sha256": sha256_file(weights)}
    tmp = temp_name(sidecar)
    tmp.write_text(json.dumps(info, indent=2, sort_keys=True))
    os.replace(tmp, sidecar)
    return info


def get_classifier(
    dataset: str,
    data_dir: str | None = None,
    config: TrainConfig = TrainConfig(),
    log: Callable[[str], None] = log_stderr,
) -> tuple[Classifier, dict]:
    """The classifier for `dataset` from the cache, else trained, tested on the test split and cached."""
    train_ds = load_dataset(dataset, "train", data_dir)
    key = cache_key(train_ds, config)
    cached = load_cached(key, log)
    if cached is not None:
        return cached
    log(f"training the {train_ds.name} classifier ({config.steps} steps; cached as {cache_dir() / key}.pt)")
    start = time.perf_counter()
    model = train(train_ds, config)
    seconds = time.perf_counter() - start
    test_ds = load_dataset(train_ds.name, "test", data_dir)
    info = {
        "key": key,
        "dataset": train_ds.name,
        "dataset_checksum": train_ds.checksum,
        "test_checksum": test_ds.checksum,
        "seed": config.seed,
        "config": config.key_fields(),
        "train_n": min(len(train_ds.images), config.max_train or len(train_ds.images)),
        "test_n": len(test_ds.images),
        "test_accuracy": accuracy(model, test_ds),
        "train_seconds": round(seconds, 2),
        "torch_version": torch.__version__,
    }
    log(f"{train_ds.name} classifier: test accuracy {info['test_accuracy']:.4f} after {seconds:.0f} s")
    return model, save(model, info, key)
