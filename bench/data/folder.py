"""`image-folder`: a directory tree of PNG/JPEG files (faces, CelebA ...) as one image array.

Each image is decoded with Pillow to RGB, centre-cropped to the target aspect ratio (square for
the default 64x64) and resized with Image.BICUBIC (Pillow's bicubic filter widens its support
when shrinking, so downscaling is antialiased). Decoding a big folder is slow, so the result is
cached as .npz under `<cache>/image-folder/`, keyed by the sorted relative paths, sizes and
mtimes of the files plus the target size: editing, adding or removing a file re-decodes.
There are no labels (all -1) and no test split: split "test" returns the same images.
Hidden files and directories (names starting with '.') are skipped.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from bench.data.dataset import Dataset, log_stderr, make_dataset
from bench.errors import DataError
from bench.files import cache_root, temp_name

EXTENSIONS = (".png", ".jpg", ".jpeg")
DEFAULT_SIZE = (64, 64)  # (height, width)
RESAMPLE = Image.Resampling.BICUBIC
CACHE_VERSION = "1"  # bump when decoding changes, so old caches are not reused


def list_images(root: Path) -> list[Path]:
    """Image files under `root`, recursively, sorted by relative path (a stable order everywhere)."""
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        files += [Path(dirpath, f) for f in filenames if not f.startswith(".") and f.lower().endswith(EXTENSIONS)]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def available(data_dir: str | os.PathLike[str] | None) -> tuple[bool, str]:
    """Is there at least one image? (stops at the first one: cheap even for huge folders)."""
    if data_dir is None:
        return False, "image-folder needs a data directory of PNG/JPEG files (data_dir)"
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        return False, f"image folder {root} does not exist"
    for _, _, filenames in os.walk(root):
        if any(not f.startswith(".") and f.lower().endswith(EXTENSIONS) for f in filenames):
            return True, str(root)
    return False, f"no .png/.jpg/.jpeg files in {root}"


def cache_key(root: Path, files: list[Path], image_size: tuple[int, int]) -> str:
    h = hashlib.sha1(f"v{CACHE_VERSION} {image_size[0]}x{image_size[1]} bicubic\n".encode())
    for path in files:
        st = path.stat()
        h.update(f"{path.relative_to(root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def decode(path: Path, image_size: tuple[int, int]) -> np.ndarray:
    """One image as uint8 (H, W, 3): RGB, hard centre crop to the target aspect ratio, then bicubic resize."""
    height, width = image_size
    try:
        with Image.open(path) as im:
            rgb = im.convert("RGB")
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
        raise DataError(f"{path}: cannot read image ({type(e).__name__}: {e})") from None
    w, h = rgb.size
    if w * height > h * width:  # too wide: crop the sides
        cw = round(h * width / height)
        box = ((w - cw) // 2, 0, (w - cw) // 2 + cw, h)
    else:  # too tall (or exact): crop top and bottom
        ch = round(w * height / width)
        box = (0, (h - ch) // 2, w, (h - ch) // 2 + ch)
    return np.asarray(rgb.crop(box).resize((width, height), RESAMPLE), dtype=np.uint8)


def load_image_folder(
    data_dir: str | os.PathLike[str] | None,
    split: str = "train",
    image_size: tuple[int, int] = DEFAULT_SIZE,
    log: Callable[[str], None] = log_stderr,
) -> Dataset:
    if data_dir is None:
        raise DataError("image-folder needs a data directory of PNG/JPEG files: pass data_dir (--data-dir)")
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: image folder does not exist or is not a directory")
    files = list_images(root)
    if not files:
        raise DataError(f"{root}: no .png/.jpg/.jpeg images in this folder or its subfolders")
    cache_file = cache_root() / "image-folder" / f"{cache_key(root, files, image_size)}.npz"
    images = _read_cache(cache_file, (len(files), *image_size, 3), log)
    if images is None:
        log(f"decoding {len(files)} images from {root} to {image_size[0]}x{image_size[1]} (cached afterwards)")
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:  # Pillow releases the GIL
            images = np.stack(list(pool.map(lambda p: decode(p, image_size), files)))
        _write_cache(cache_file, images, log)
    labels = np.full(len(images), -1, dtype=np.int64)
    return make_dataset("image-folder", split, images, labels, str(root))


def _read_cache(path: Path, shape: tuple[int, ...], log: Callable[[str], None]) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            images = npz["images"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        log(f"ignoring unreadable image cache {path} ({e})")
        return None
    if images.shape != shape or images.dtype != np.uint8:
        log(f"ignoring image cache {path}: holds {images.shape} {images.dtype}, expected {shape} uint8")
        return None
    log(f"loaded {shape[0]} images from the cache {path}")
    return images


def _write_cache(path: Path, images: np.ndarray, log: Callable[[str], None]) -> None:
    """Best effort: a read-only cache costs only speed, so failure is logged, not raised."""
    tmp = temp_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            np.savez(f, images=images)
        os.replace(tmp, path)
    except OSError as e:
        log(f"could not write the image cache {path} ({e.strerror or e}); the next load decodes again")
    finally:
        tmp.unlink(missing_ok=True)
