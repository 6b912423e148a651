"""CIFAR-10, "python version": pickled batches read through a restricted unpickler.

The batches are Python 2 pickles of dicts {b'data': uint8 (N, 3072), b'labels': [int], ...}.
Unpickling runs code named in the file, so a tampered batch could execute anything; the
unpickler here resolves only the numpy globals a real batch uses and refuses everything else.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import shutil
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.data.dataset import log_stderr
from bench.data.paths import dataset_cache_dir
from bench.errors import DataError

BATCHES_DIR = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
FILES: dict[str, tuple[str, ...]] = {
    "train": ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"),
    "test": ("test_batch",),
}
# md5 of each batch (the official release; the same table as torchvision's CIFAR10 class).
CHECKSUMS: dict[str, str] = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
ARCHIVE_MEMBERS = (*FILES["train"], *FILES["test"], "batches.meta")

_RECONSTRUCT = np.zeros(1).__reduce__()[0]  # numpy's array-rebuild function, whatever module holds it
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,  # name in the real (numpy 1.x era) files
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,  # name numpy >= 2 writes
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only ALLOWED_GLOBALS; any other global (os.system, builtins.eval ...) is refused."""

    def __init__(self, file: io.BytesIO, path: Path) -> None:
        super().__init__(file, encoding="bytes")
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise DataError(f"{self.path}: refusing to unpickle {module}.{name} (not part of a CIFAR-10 batch)")
        return ALLOWED_GLOBALS[(module, name)]


def find_in(directory: Path, split: str) -> Path | None:
    """The batch directory (`directory` itself or its cifar-10-batches-py/), or the .tar.gz archive."""
    for candidate in (directory, directory / BATCHES_DIR):
        if all((candidate / f).is_file() for f in FILES[split]):
            return candidate
    archive = directory / ARCHIVE
    return archive if archive.is_file() else None


def read_batch(path: Path, expected_md5: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One batch as images (N, 32, 32, 3) uint8 and labels (N,) int64."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    if expected_md5 is not None and (got := hashlib.md5(raw, usedforsecurity=False).hexdigest()) != expected_md5:
        raise DataError(
            f"{path}: checksum mismatch (md5 {got}, expected {expected_md5}); "
            "delete it and fetch CIFAR-10 again (`python -m bench download cifar10`); "
            "from Python, verify=False reads your own re-encoded files"
        )
    try:
        entry = RestrictedUnpickler(io.BytesIO(raw), path).load()
    except DataError:
        raise
    except Exception as e:  # a corrupt pickle can fail in many ways; all mean "not a batch"
        raise DataError(f"{path}: not a readable CIFAR-10 batch ({type(e).__name__}: {e})") from None
    return _batch_arrays(entry, path)


def _batch_arrays(entry: object, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Validate the unpickled dict and convert the CHW-major rows to channels-last images."""
    if not isinstance(entry, dict):
        raise DataError(f"{path}: not a CIFAR-10 batch (a {type(entry).__name__}, expected a dict)")
    entry = {k.decode("latin-1") if isinstance(k, bytes) else k: v for k, v in entry.items()}
    for key in ("data", "labels"):
        if key not in entry:
            raise DataError(f"{path}: not a CIFAR-10 batch (no b'{key}' entry)")
    data = entry["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", type(data).__name__)
        raise DataError(f"{path}: b'data' must be a uint8 array of shape (N, 3072), got {shape}")
    try:
        labels = np.asarray(entry["labels"], dtype=np.int64)
    except (TypeError, ValueError):
        raise DataError(f"{path}: b'labels' is not a list of integers") from None
    if labels.shape != (len(data),):
        raise DataError(f"{path}: {len(data)} images but b'labels' has shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{path}: labels out of range 0..9")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def load_split(
    path: Path, split: str, verify: bool = True, log: Callable[[str], None] = log_stderr
) -> tuple[np.ndarray, np.ndarray, Path]:
    """Images, labels and the batch directory read; `path` is a batch directory or the archive."""
    extracted = path.name == ARCHIVE
    if extracted:
        path = extract_archive(path, dataset_cache_dir("cifar10"), log, verify)
    try:
        parts = [read_batch(path / f, CHECKSUMS[f] if verify else None) for f in FILES[split]]
    except DataError:
        if extracted:  # a bad extraction in the cache must not be found and reused next time
            shutil.rmtree(path, ignore_errors=True)
        raise
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return images, labels, path


def extract_archive(archive: Path, dest: Path, log: Callable[[str], None] = log_stderr, verify: bool = True) -> Path:
    """Extract the batches into dest/cifar-10-batches-py (atomically, by name: no path traversal).

    With `verify`, every batch's checksum is checked before the extraction enters the cache, so a
    tampered archive leaves nothing behind to be reused.
    """
    final = dest / BATCHES_DIR
    if all((final / f).is_file() for f in ARCHIVE_MEMBERS[:-1]):
        return final
    log(f"extracting {archive} into {final}")
    tmp = dest / f".{BATCHES_DIR}.{os.getpid()}.part"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _extract_members(archive, tmp)
        if verify:
            _check_members(archive, tmp)
        shutil.rmtree(final, ignore_errors=True)  # a partial directory left by an old interrupted run
        try:
            os.replace(tmp, final)
        except OSError:
            if not final.is_dir():  # else another process extracted it first: keep theirs
                raise
    except OSError as e:
        raise DataError(f"{archive}: cannot extract into {dest} ({e.strerror or e})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _check_members(archive: Path, out: Path) -> None:
    for name, expected in CHECKSUMS.items():
        got = hashlib.md5((out / name).read_bytes(), usedforsecurity=False).hexdigest()
        if got != expected:
            raise DataError(
                f"{archive}: {name} fails its checksum (md5 {got}, expected {expected}): "
                "not the official CIFAR-10 release; nothing was extracted"
            )


def _extract_members(archive: Path, out: Path) -> None:
    """Copy the known batch files out of the archive; everything else in it is ignored."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for name in ARCHIVE_MEMBERS:
                try:
                    member = tar.getmember(f"{BATCHES_DIR}/{name}")
                except KeyError:
                    raise DataError(
                        f"{archive}: no {BATCHES_DIR}/{name} inside (not the CIFAR-10 python archive)"
                    ) from None
                src = tar.extractfile(member) if member.isfile() else None
                if src is None:
                    raise DataError(f"{archive}: {BATCHES_DIR}/{name} is not a regular file")
                with src, open(out / name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    except (tarfile.TarError, gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise DataError(f"{archive}: corrupt archive ({e})") from None
