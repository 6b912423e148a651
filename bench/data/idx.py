"""Reader for the IDX files of MNIST and Fashion-MNIST (raw or .gz), with strict validation.

Layout (LeCun's page): a big-endian int32 magic number (0x0000 08 NN: unsigned bytes, NN dims),
NN big-endian uint32 sizes, then the bytes. Everything that can be checked is checked, so a
truncated download or a swapped file fails here with its name, not later as a shape error.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import zlib
from pathlib import Path

import numpy as np

from bench.errors import DataError

IMAGE_MAGIC = 2051  # 0x00000803: ubyte, 3 dims (N, rows, cols)
LABEL_MAGIC = 2049  # 0x00000801: ubyte, 1 dim (N,)

FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# md5 of the DECOMPRESSED files (docs/variants.md "Datasets"; same values as torchvision's tables).
CHECKSUMS: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}

GZIP_MAGIC = b"\x1f\x8b"


def file_path(directory: Path, stem: str) -> Path | None:
    """`stem` or `stem.gz` in `directory` (the raw file wins if both exist)."""
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def find_in(directory: Path, split: str) -> Path | None:
    """`directory` if it holds both IDX files of `split`, else None."""
    if all(file_path(directory, stem) for stem in FILES[split]):
        return directory
    return None


def read_bytes(path: Path) -> bytes:
    """The file's decompressed content; gzip is recognised by its suffix or its magic bytes."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    if path.name.endswith(".gz") or data[:2] == GZIP_MAGIC:
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path}: corrupt gzip file ({e}); delete it and re-download") from None
    return data


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def parse_idx(data: bytes, magic: int, path: Path | str) -> np.ndarray:
    """Decode IDX bytes whose magic must be `magic`; checks the length against the header."""
    kind = "image" if magic == IMAGE_MAGIC else "label"
    if len(data) < 4:
        raise DataError(f"{path}: truncated IDX file ({len(data)} bytes, no header)")
    (found,) = struct.unpack(">i", data[:4])
    if found != magic:
        raise DataError(f"{path}: wrong magic number {found} (expected {magic} for an IDX {kind} file)")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX file ({len(data)} bytes, header needs {header})")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) < expected:
        raise DataError(
            f"{path}: truncated IDX file: header says {'x'.join(map(str, dims))} ({expected} bytes) "
            f"but it has {len(data)} bytes"
        )
    if len(data) > expected:
        raise DataError(f"{path}: {len(data) - expected} unexpected bytes after the IDX data (corrupt file)")
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims).copy()


def read_idx(path: Path, magic: int, expected_md5: str | None = None) -> np.ndarray:
    """Read one IDX file; with `expected_md5`, verify the decompressed bytes after parsing."""
    data = read_bytes(path)
    array = parse_idx(data, magic, path)
    if expected_md5 is not None:
        got = md5_hex(data)
        if got != expected_md5:
            raise DataError(
                f"{path}: checksum mismatch (md5 of the decompressed data is {got}, expected {expected_md5}); "
                "the file is corrupt or not the official release: delete it and fetch it again "
                "(`python -m bench download NAME`); from Python, verify=False reads your own re-encoded files"
            )
    return array


def load_split(directory: Path, split: str, name: str = "mnist", verify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28, 1) uint8 and labels (N,) int64 of one split of `name` in `directory`."""
    paths = [file_path(directory, stem) for stem in FILES[split]]
    if None in paths:
        missing = [s for s, p in zip(FILES[split], paths, strict=True) if p is None]
        raise DataError(f"{directory}: missing {name} file(s) {', '.join(missing)} (raw or .gz)")
    img_path, lbl_path = paths
    table = CHECKSUMS.get(name, {}) if verify else {}
    images = read_idx(img_path, IMAGE_MAGIC, table.get(FILES[split][0]))
    labels = read_idx(lbl_path, LABEL_MAGIC, table.get(FILES[split][1]))
    if images.shape[1:] != (28, 28):
        raise DataError(f"{img_path}: images are {images.shape[1]}x{images.shape[2]}, {name} images are 28x28")
    if len(images) != len(labels):
        raise DataError(f"{img_path}: {len(images)} images but {lbl_path.name} has {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise DataError(f"{lbl_path}: label {int(labels.max())} out of range 0..9")
    return images[..., None], labels.astype(np.int64)


def encode_idx(array: np.ndarray) -> bytes:
    """IDX bytes of a uint8 array (1 or 3 dims): for tests and for writing subsets of a dataset."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">i", 0x800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()
