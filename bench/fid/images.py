"""Load an image set for FID as uint8 (N, H, W, C) without importing a framework.

Accepted inputs:
- a folder of .png/.jpg/.jpeg files, searched recursively, in sorted relative-path order; all
  images must share one size; greyscale files stay 1-channel unless the folder mixes greyscale
  and colour, then greyscale ones are tiled to 3 channels (alpha and palettes become RGB);
- an .npz file: the array under 'images', else 'arr_0', else the first array in it;
- an .npy file.
Arrays are (N, H, W, C) with C in {1, 3}, or (N, H, W) for greyscale. Their values:
- uint8: used as is; other integer dtypes must lie in 0..255;
- float: if min < 0 the range is taken as [-1, 1], else [0, 1]; values outside the range (by
  more than 1e-5) or non-finite values are an error; mapped to uint8 with
  rint((x + 1) * 127.5) or rint(x * 255).
Every problem raises BenchError with a one-line message.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from bench.errors import BenchError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
RANGE_TOLERANCE = 1e-5


def load_image_set(path: str | Path, max_images: int | None = None) -> np.ndarray:
    """uint8 (N, H, W, C) images from a folder, .npz or .npy (see the module docstring)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise BenchError(f"image set not found: {p}")
    if p.is_dir():
        images = load_folder(p, max_images)
    elif p.suffix.lower() in (".npz", ".npy"):
        arr = load_array(p)
        images = to_uint8(arr[:max_images] if arr.ndim else arr, str(p))
    else:
        raise BenchError(f"{p}: expected a folder of PNG/JPEG images, an .npz or an .npy file")
    if len(images) == 0:
        raise BenchError(f"{p}: contains no images")
    return np.ascontiguousarray(images)


def image_files(folder: Path) -> list[Path]:
    """PNG/JPEG files under `folder`, recursively, sorted by relative path for a stable order."""
    files = [f for f in folder.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=lambda f: f.relative_to(folder).as_posix())


def load_folder(folder: Path, max_images: int | None = None) -> np.ndarray:
    """Decode the folder's images (only the first `max_images`) into one uint8 array."""
    files = image_files(folder)
    if not files:
        raise BenchError(f"{folder}: no PNG/JPEG images found (searched recursively)")
    images = [read_image(f) for f in files[:max_images]]
    if len({im.shape[:2] for im in images}) > 1:
        sizes = sorted({f"{im.shape[1]}x{im.shape[0]}" for im in images})
        raise BenchError(f"{folder}: images have different sizes ({', '.join(sizes[:4])}); resize them first")
    if len({im.shape[2] for im in images}) > 1:
        images = [np.repeat(im, 3, axis=2) if im.shape[2] == 1 else im for im in images]
    return np.stack(images)


def read_image(path: Path) -> np.ndarray:
    """(H, W, 1) for greyscale files, (H, W, 3) for everything else."""
    try:
        with Image.open(path) as im:
            mode = "L" if im.mode in ("1", "L", "I", "I;16", "F") else "RGB"
            arr = np.asarray(im.convert(mode), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise BenchError(f"cannot read image {path}: {e}") from None
    return arr[:, :, None] if arr.ndim == 2 else arr


def load_array(path: Path) -> np.ndarray:
    """The image array stored in an .npy or .npz file (key 'images', else 'arr_0', else the first)."""
    try:
        if path.suffix.lower() == ".npy":
            return np.load(path, allow_pickle=False)
        with np.load(path, allow_pickle=False) as npz:
            keys = list(npz.keys())
            if not keys:
                raise BenchError(f"{path}: the .npz file holds no arrays")
            key = "images" if "images" in keys else "arr_0" if "arr_0" in keys else keys[0]
            return npz[key]
    except BenchError:
        raise
    except (OSError, ValueError, EOFError) as e:
        why = f"not a valid {path.suffix} file of numeric arrays" if "pickle" in str(e) else str(e)
        raise BenchError(f"cannot read {path}: {why}") from None


def to_uint8(arr: np.ndarray, name: str) -> np.ndarray:
    """Validate shape and value range, then map to uint8 (N, H, W, C) (rules in the module docstring)."""
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3):
        channels_first = arr.ndim == 4 and arr.shape[1] in (1, 3)
        hint = " (channels-first? transpose to N, H, W, C)" if channels_first else ""
        raise BenchError(f"{name}: expected (N, H, W, C) images with C in {{1, 3}}, got {arr.shape}{hint}")
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind in "iu":
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise BenchError(f"{name}: integer images must lie in 0..255, got {arr.min()}..{arr.max()}")
        return arr.astype(np.uint8)
    if arr.dtype.kind != "f":
        raise BenchError(f"{name}: unsupported image dtype {arr.dtype}; use uint8 or float")
    return float_to_uint8(arr, name)


def float_to_uint8(arr: np.ndarray, name: str) -> np.ndarray:
    """Float images in [-1, 1] (when min < 0) or [0, 1] to uint8; out-of-range values are an error."""
    x = arr.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise BenchError(f"{name}: images contain NaN or infinite values")
    lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    low = -1.0 if lo < 0 else 0.0
    if lo < low - RANGE_TOLERANCE or hi > 1.0 + RANGE_TOLERANCE:
        raise BenchError(f"{name}: float images must lie in [0, 1] or [-1, 1], got [{lo:.4g}, {hi:.4g}]")
    scaled = (x + 1.0) * 127.5 if low < 0 else x * 255.0
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
