"""Downloads into the user cache: short timeouts, progress lines, checksum before the final name.

Every file is written to a temporary name and renamed only after its checksum passes, so the
cache never holds a partial or wrong file. Offline, each mirror fails within TIMEOUT_S and the
caller gets one DataError (never a traceback) listing what was tried.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from bench.data import cifar, idx
from bench.data.dataset import log_stderr
from bench.data.paths import dataset_cache_dir
from bench.errors import DataError
from bench.files import temp_name

TIMEOUT_S = 10.0
PROGRESS_MIN_BYTES = 5 * 2**20  # report progress only for files at least this big
CHUNK = 2**20

# Base URLs tried in order; tests monkeypatch this dict, users set the environment variables below.
MIRRORS: dict[str, list[str]] = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ],
    "fashion-mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
    "cifar10": ["https://www.cs.toronto.edu/~kriz/"],
}
# Comma-separated base URLs (http(s):// or file://) that replace MIRRORS[name].
MIRROR_ENV: dict[str, str] = {
    "mnist": "BENCH_MNIST_MIRROR",
    "fashion-mnist": "BENCH_FASHION_MNIST_MIRROR",
    "cifar10": "BENCH_CIFAR10_MIRROR",
}


def mirrors(name: str) -> list[str]:
    """Base URLs for `name`, each ending in '/'; the environment variable wins over MIRRORS."""
    env = os.environ.get(MIRROR_ENV[name], "")
    bases = [u.strip() for u in env.split(",") if u.strip()] or MIRRORS[name]
    return [b if b.endswith("/") else b + "/" for b in bases]


def offline() -> bool:
    """`BENCH_OFFLINE=1` disables every download attempt (CI, air-gapped clusters)."""
    return os.environ.get("BENCH_OFFLINE", "").lower() in {"1", "true", "yes"}


def download_dataset(name: str, log: Callable[[str], None] = log_stderr) -> Path:
    """Fetch dataset `name` into its cache directory and return the directory to read it from."""
    if name not in MIRRORS:
        raise DataError(f"dataset {name} cannot be downloaded")
    dest = dataset_cache_dir(name)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create the cache directory {dest} ({e.strerror or e})") from None
    if name == "cifar10":
        return _download_cifar(dest, log)
    for split in ("train", "test"):
        for stem, magic in zip(idx.FILES[split], (idx.IMAGE_MAGIC, idx.LABEL_MAGIC), strict=True):
            if idx.file_path(dest, stem) is None:
                md5 = idx.CHECKSUMS[name][stem]
                urls = [f"{base}{stem}.gz" for base in mirrors(name)]
                fetch(urls, dest / f"{stem}.gz", lambda p, m=magic, s=md5: idx.read_idx(p, m, s), log)
    return dest


def _download_cifar(dest: Path, log: Callable[[str], None]) -> Path:
    archive = dest / cifar.ARCHIVE
    if not archive.is_file():
        urls = [f"{base}{cifar.ARCHIVE}" for base in mirrors("cifar10")]
        fetch(urls, archive, lambda p: check_md5(p, cifar.ARCHIVE_MD5), log)
    return cifar.extract_archive(archive, dest, log)


def check_md5(path: Path, expected: str) -> None:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    if h.hexdigest() != expected:
        raise DataError(f"checksum mismatch (md5 {h.hexdigest()}, expected {expected})")


def fetch(urls: list[str], dest: Path, check: Callable[[Path], object], log: Callable[[str], None]) -> None:
    """Try each URL in turn; `check(tmp)` raises DataError on a bad file. Leaves nothing on failure."""
    errors = []
    for url in urls:
        tmp = temp_name(dest)
        try:
            _copy_url(url, tmp, log)
            check(tmp)
            os.replace(tmp, dest)
            return
        except DataError as e:
            errors.append(f"{url}: {str(e).replace(str(tmp), 'download')}")
        except (OSError, ValueError, http.client.HTTPException) as e:  # URLError, timeouts are OSErrors
            errors.append(f"{url}: {_reason(e)}")
        finally:
            tmp.unlink(missing_ok=True)
        if url != urls[-1]:
            log(f"download failed, trying the next mirror: {errors[-1]}")
    raise DataError(f"cannot download {dest.name} ({'; '.join(errors)})")


def _copy_url(url: str, out_path: Path, log: Callable[[str], None]) -> None:
    log(f"downloading {url}")
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp, open(out_path, "wb") as out:
        total = int(resp.headers.get("Content-Length") or 0)
        done, next_report = 0, 0.1
        while chunk := resp.read(CHUNK):
            out.write(chunk)
            done += len(chunk)
            if total >= PROGRESS_MIN_BYTES and done >= next_report * total:
                log(f"  {url.rsplit('/', 1)[-1]}: {done / total:4.0%} ({done / 2**20:.1f} of {total / 2**20:.1f} MiB)")
                next_report += 0.1
    if total and done != total:
        raise DataError(f"incomplete download ({done} of {total} bytes)")


def _reason(e: Exception) -> str:
    """A one-line reason: urllib wraps the useful part in URLError.reason."""
    reason = e.reason if isinstance(e, urllib.error.URLError) else e
    return " ".join(f"{type(e).__name__}: {reason}".split())
