"""The IDX reader: real MNIST (shared copy beside the repo) and every way a file can be broken."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from bench.data import idx, load_dataset
from bench.data.dataset import content_checksum
from bench.errors import DataError

REAL_MNIST = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist"
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def real_mnist() -> dict:
    """Both splits of the real MNIST, loaded once (with checksums) for the whole module."""
    if not (REAL_MNIST / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST not found at {REAL_MNIST} (the shared dataset copy beside the repo)")
    quiet = lambda msg: None  # noqa: E731
    return {
        s: load_dataset("mnist", s, data_dir=REAL_MNIST, allow_download=False, log=quiet) for s in ("train", "test")
    }


def write_split(directory: Path, split: str = "train", n: int = 6, gz: bool = True, seed: int = 0) -> list[Path]:
    """Small valid IDX files of one split; returns [images path, labels path]."""
    rng = np.random.default_rng(seed)
    arrays = (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8))
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for stem, array in zip(idx.FILES[split], arrays, strict=True):
        data = idx.encode_idx(array)
        path = directory / (f"{stem}.gz" if gz else stem)
        path.write_bytes(gzip.compress(data) if gz else data)
        paths.append(path)
    return paths


def test_real_mnist_shapes_dtypes_and_class_counts(real_mnist: dict) -> None:
    train, test = real_mnist["train"], real_mnist["test"]
    assert train.images.shape == (60000, 28, 28, 1) and test.images.shape == (10000, 28, 28, 1)
    assert train.images.dtype == np.uint8 and train.labels.dtype == np.int64
    assert np.bincount(train.labels).tolist() == TRAIN_COUNTS
    assert np.bincount(test.labels).tolist() == TEST_COUNTS
    assert train.labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]  # file order preserved
    assert test.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert train.images.min() == 0 and train.images.max() == 255
    assert (train.name, train.split, train.source, train.offline_default) == ("mnist", "train", str(REAL_MNIST), False)
    assert train.checksum == content_checksum(train.images, train.labels) != test.checksum


def test_truncated_file_is_reported(tmp_path: Path) -> None:
    images, _ = write_split(tmp_path, gz=False)
    images.write_bytes(images.read_bytes()[:-100])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: truncated IDX file: header says 6x28x28"):
        idx.load_split(tmp_path, "train", verify=False)


def test_extra_bytes_are_reported(tmp_path: Path) -> None:
    _, labels = write_split(tmp_path, gz=False)
    labels.write_bytes(labels.read_bytes() + b"\0\0")
    with pytest.raises(DataError, match="2 unexpected bytes after the IDX data"):
        idx.load_split(tmp_path, "train", verify=False)


def test_wrong_magic_names_the_file(tmp_path: Path) -> None:
    images, labels = write_split(tmp_path)
    shutil.copy(labels, images)  # a labels file where the images should be
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: wrong magic number 2049 \(expected 2051"):
        idx.load_split(tmp_path, "train", verify=False)


def test_corrupt_gzip_is_reported(tmp_path: Path) -> None:
    images, _ = write_split(tmp_path)
    data = bytearray(images.read_bytes())
    data[len(data) // 2 :] = bytes(len(data) - len(data) // 2)  # zero the second half of the stream
    images.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: corrupt gzip file"):
        idx.load_split(tmp_path, "train", verify=False)


def test_count_mismatch_and_wrong_image_size(tmp_path: Path) -> None:
    images, labels = write_split(tmp_path, gz=False)
    labels.write_bytes(idx.encode_idx(np.zeros(5, np.uint8)))
    with pytest.raises(DataError, match="6 images but train-labels-idx1-ubyte has 5 labels"):
        idx.load_split(tmp_path, "train", verify=False)
    images.write_bytes(idx.encode_idx(np.zeros((5, 32, 32), np.uint8)))
    with pytest.raises(DataError, match="images are 32x32, mnist images are 28x28"):
        idx.load_split(tmp_path, "train", verify=False)


def test_checksum_mismatch_by_default_and_verify_false(tmp_path: Path) -> None:
    write_split(tmp_path)
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: checksum mismatch .*verify=False"):
        load_dataset("mnist", data_dir=tmp_path, allow_download=False)
    ds = load_dataset("mnist", data_dir=tmp_path, allow_download=False, verify=False)
    assert ds.images.shape == (6, 28, 28, 1) and ds.source == str(tmp_path)


def test_one_changed_label_in_the_real_file_fails_its_checksum(tmp_path: Path) -> None:
    if not (REAL_MNIST / "t10k-labels-idx1-ubyte.gz").is_file():
        pytest.skip(f"real MNIST not found at {REAL_MNIST}")
    shutil.copy(REAL_MNIST / "t10k-images-idx3-ubyte.gz", tmp_path)
    data = bytearray(gzip.decompress((REAL_MNIST / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    data[100] = (data[100] + 1) % 10  # still a structurally valid file
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(bytes(data))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte: checksum mismatch"):
        idx.load_split(tmp_path, "test", "mnist")


def test_raw_files_preferred_over_gz_and_missing_files_named(tmp_path: Path) -> None:
    write_split(tmp_path, gz=True, seed=1)
    raw_images, raw_labels = write_split(tmp_path, gz=False, seed=2)
    images, labels = idx.load_split(tmp_path, "train", verify=False)
    assert images.shape == (6, 28, 28, 1) and images.flags.writeable
    assert np.array_equal(labels, idx.parse_idx(raw_labels.read_bytes(), idx.LABEL_MAGIC, raw_labels))
    with pytest.raises(DataError, match="missing mnist file.*t10k-images-idx3-ubyte"):
        idx.load_split(tmp_path, "test")
