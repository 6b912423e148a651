"""CIFAR-10 batches: the real (Python 2 pickle) format, layouts, the archive, and hostile pickles."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import shutil
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

from bench.data import cifar, download, load_dataset, lookup
from bench.errors import DataError


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache, no environment overrides, and no network."""
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    for var in ("BENCH_DATA_DIR", "BENCH_OFFLINE", *download.MIRROR_ENV.values()):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(lookup, "SYSTEM_DIRS", {})
    monkeypatch.setitem(download.MIRRORS, "cifar10", [(tmp_path / "no-mirror").as_uri()])
    return tmp_path / "cache"


class Py2Pickler(pickle._Pickler):
    """Writes str and bytes as Python 2 `str` opcodes, as cPickle did for the official batches."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj: str | bytes) -> None:
        data = obj if isinstance(obj, bytes) else obj.encode("latin-1")
        op = (
            pickle.SHORT_BINSTRING + bytes([len(data)])
            if len(data) < 256
            else pickle.BINSTRING + struct.pack("<i", len(data))
        )
        self.write(op + data)
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str


def py2_pickle(obj: object) -> bytes:
    f = io.BytesIO()
    Py2Pickler(f, protocol=2).dump(obj)
    # the official files name numpy's rebuild function by its numpy 1.x module
    return f.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def make_batch(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "batch_label": f"batch {seed}",
        "labels": rng.integers(0, 10, n).tolist(),
        "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        "filenames": [f"img_{seed}_{i}.png" for i in range(n)],
    }


def write_batches(directory: Path, n: int = 3) -> dict[str, dict]:
    directory.mkdir(parents=True, exist_ok=True)
    batches = {f: make_batch(n, seed) for seed, f in enumerate(cifar.ARCHIVE_MEMBERS[:-1])}
    for f, batch in batches.items():
        (directory / f).write_bytes(py2_pickle(batch))
    (directory / "batches.meta").write_bytes(py2_pickle({"label_names": ["airplane"] * 10}))
    return batches


def md5_table(directory: Path) -> dict[str, str]:
    return {f: hashlib.md5((directory / f).read_bytes()).hexdigest() for f in cifar.CHECKSUMS}


def make_archive(batch_dir: Path, archive: Path) -> None:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(batch_dir, arcname=cifar.BATCHES_DIR)


def test_fake_batches_decode_chw_rows_to_channels_last(tmp_path: Path) -> None:
    batches = write_batches(tmp_path / "cifar-10-batches-py")
    train = load_dataset("cifar10", data_dir=tmp_path, verify=False)
    test = load_dataset("cifar10", "test", data_dir=tmp_path, verify=False)
    assert train.images.shape == (15, 32, 32, 3) and test.images.shape == (3, 32, 32, 3)
    assert train.images.dtype == np.uint8 and train.labels.dtype == np.int64
    assert train.source == str(tmp_path / "cifar-10-batches-py")
    data = batches["data_batch_1"]["data"]
    i, y, x, c = 2, 5, 17, 1
    assert train.images[i, y, x, c] == data[i, c * 1024 + y * 32 + x]  # row = R plane, G plane, B plane
    assert train.labels.tolist() == sum((batches[f]["labels"] for f in cifar.FILES["train"]), [])


def test_layouts_files_directly_and_name_subdirectory(tmp_path: Path) -> None:
    write_batches(tmp_path / "flat")
    write_batches(tmp_path / "data" / "cifar10" / "cifar-10-batches-py")
    assert load_dataset("cifar10", data_dir=tmp_path / "flat", verify=False).source == str(tmp_path / "flat")
    expected = str(tmp_path / "data" / "cifar10" / "cifar-10-batches-py")
    assert load_dataset("cifar10", data_dir=tmp_path / "data", verify=False).source == expected


def test_checksums_checked_by_default(tmp_path: Path, monkeypatch) -> None:
    write_batches(tmp_path)
    with pytest.raises(DataError, match=r"data_batch_1: checksum mismatch .*verify=False"):
        load_dataset("cifar10", data_dir=tmp_path)
    monkeypatch.setattr(cifar, "CHECKSUMS", md5_table(tmp_path))
    assert len(load_dataset("cifar10", "test", data_dir=tmp_path).images) == 3


def test_archive_in_data_dir_is_extracted_into_the_cache(tmp_path: Path, isolated: Path) -> None:
    write_batches(tmp_path / "src")
    make_archive(tmp_path / "src", (tmp_path / "data").mkdir() or tmp_path / "data" / cifar.ARCHIVE)
    logs: list[str] = []
    ds = load_dataset("cifar10", data_dir=tmp_path / "data", verify=False, log=logs.append)
    extracted = isolated / "datasets" / "cifar10" / cifar.BATCHES_DIR
    assert ds.source == str(extracted) and len(ds.images) == 15
    assert sorted(p.name for p in extracted.iterdir()) == sorted(cifar.ARCHIVE_MEMBERS)
    assert [m for m in logs if "extracting" in m]
    assert load_dataset("cifar10", verify=False, log=logs.append).source == str(extracted)  # from the cache


def test_a_tampered_archive_leaves_nothing_in_the_cache(tmp_path: Path, isolated: Path, monkeypatch) -> None:
    write_batches(tmp_path / "src")
    monkeypatch.setattr(cifar, "CHECKSUMS", md5_table(tmp_path / "src"))  # the "official" batches
    make_archive(tmp_path / "src", (tmp_path / "data").mkdir() or tmp_path / "data" / cifar.ARCHIVE)
    extracted = isolated / "datasets" / "cifar10" / cifar.BATCHES_DIR
    assert len(load_dataset("cifar10", data_dir=tmp_path / "data").images) == 15  # intact: verified, cached
    shutil.rmtree(extracted)
    batch = tmp_path / "src" / "data_batch_2"
    raw = bytearray(batch.read_bytes())
    raw[len(raw) // 2] ^= 1  # one pixel changed: still a valid batch, but not the official one
    batch.write_bytes(bytes(raw))
    make_archive(tmp_path / "src", tmp_path / "data" / cifar.ARCHIVE)
    with pytest.raises(DataError, match=r"data_batch_2 fails its checksum .*nothing was extracted"):
        load_dataset("cifar10", data_dir=tmp_path / "data")
    assert not extracted.exists() and not list(extracted.parent.iterdir())
    # a bad extraction made without checks (verify=False) is removed by the next checked load
    assert len(load_dataset("cifar10", data_dir=tmp_path / "data", verify=False).images) == 15
    with pytest.raises(DataError, match="data_batch_2: checksum mismatch"):
        load_dataset("cifar10", data_dir=tmp_path / "data")
    assert not extracted.exists()


def test_download_from_local_mirror_with_archive_checksum(tmp_path: Path, isolated: Path, monkeypatch) -> None:
    write_batches(tmp_path / "src")
    (tmp_path / "mirror").mkdir()
    make_archive(tmp_path / "src", tmp_path / "mirror" / cifar.ARCHIVE)
    monkeypatch.setitem(download.MIRRORS, "cifar10", [(tmp_path / "mirror").as_uri()])
    with pytest.raises(DataError, match=r"cifar-10-python.tar.gz .*checksum mismatch"):
        load_dataset("cifar10", "test", log=lambda m: None)  # the fake archive is not the official one
    assert list((isolated / "datasets" / "cifar10").iterdir()) == []
    monkeypatch.setattr(
        cifar, "ARCHIVE_MD5", hashlib.md5((tmp_path / "mirror" / cifar.ARCHIVE).read_bytes()).hexdigest()
    )
    monkeypatch.setattr(cifar, "CHECKSUMS", md5_table(tmp_path / "src"))
    ds = load_dataset("cifar10", "test", log=lambda m: None)
    assert ds.source == str(isolated / "datasets" / "cifar10" / cifar.BATCHES_DIR) and len(ds.images) == 3


def test_corrupt_and_malformed_batches(tmp_path: Path) -> None:
    path = tmp_path / "data_batch_1"
    good = py2_pickle(make_batch(2, 0))
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match=r"data_batch_1: not a readable CIFAR-10 batch"):
        cifar.read_batch(path)
    batch = make_batch(2, 0)
    batch["data"] = batch["data"][:, :100]
    path.write_bytes(py2_pickle(batch))
    with pytest.raises(DataError, match=r"b'data' must be a uint8 array of shape \(N, 3072\), got \(2, 100\)"):
        cifar.read_batch(path)
    batch = make_batch(2, 0)
    batch["labels"] = [1]
    path.write_bytes(py2_pickle(batch))
    with pytest.raises(DataError, match=r"2 images but b'labels' has shape \(1,\)"):
        cifar.read_batch(path)
    path.write_bytes(py2_pickle([1, 2, 3]))
    with pytest.raises(DataError, match="not a CIFAR-10 batch"):
        cifar.read_batch(path)


def test_numpy2_pickle_protocol4_is_accepted(tmp_path: Path) -> None:
    batch = make_batch(2, 1)
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({k.encode(): v for k, v in batch.items()}, protocol=4))
    images, labels = cifar.read_batch(path)
    assert images.shape == (2, 32, 32, 3) and labels.tolist() == batch["labels"]


class Evil:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@pytest.mark.parametrize("protocol", [2, 4])
def test_malicious_pickle_is_refused_without_running(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": Evil(f"touch {marker}"), "labels": []}, protocol=protocol))
    with pytest.raises(DataError, match=rf"data_batch_1: refusing to unpickle {os.system.__module__}.system"):
        cifar.read_batch(path)
    path.write_bytes(pickle.dumps(eval, protocol=protocol))
    with pytest.raises(DataError, match=r"refusing to unpickle (__builtin__|builtins)\.eval"):
        cifar.read_batch(path)
    assert not marker.exists()
