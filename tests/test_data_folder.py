"""image-folder: nested PNG/JPEG files, centre crop + bicubic resize, clear errors, the .npz cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.data import dataset_available, folder, load_dataset
from bench.errors import DataError


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def stripes(width: int, height: int) -> Image.Image:
    """Red | green | blue thirds along the longer side: a centre crop keeps only green."""
    a = np.zeros((height, width, 3), np.uint8)
    if width >= height:
        a[:, : width // 3, 0], a[:, width // 3 : 2 * width // 3, 1], a[:, 2 * width // 3 :, 2] = 255, 255, 255
    else:
        a[: height // 3, :, 0], a[height // 3 : 2 * height // 3, :, 1], a[2 * height // 3 :, :, 2] = 255, 255, 255
    return Image.fromarray(a)


@pytest.fixture
def faces(tmp_path: Path) -> Path:
    root = tmp_path / "faces"
    (root / "a" / "deep").mkdir(parents=True)
    (root / "b").mkdir()
    stripes(90, 30).save(root / "a" / "wide.png")
    stripes(30, 90).save(root / "a" / "deep" / "tall.JPG", quality=95)
    stripes(40, 40).convert("RGBA").save(root / "b" / "square_rgba.png")
    Image.new("L", (50, 70), 128).save(root / "b" / "grey.jpeg")
    Image.new("P", (20, 20)).save(root / "b" / "palette.png")
    (root / "b" / "notes.txt").write_text("not an image")
    (root / ".hidden.png").write_bytes(b"garbage, but hidden")
    return root


def test_nested_files_decode_to_uint8_rgb(faces: Path) -> None:
    ds = load_dataset("image-folder", data_dir=faces, log=lambda m: None)
    assert ds.images.shape == (5, 64, 64, 3) and ds.images.dtype == np.uint8
    assert ds.labels.dtype == np.int64 and (ds.labels == -1).all()
    assert (ds.name, ds.source, ds.offline_default) == ("image-folder", str(faces), False)
    names = [p.relative_to(faces).as_posix() for p in folder.list_images(faces)]
    assert names == ["a/deep/tall.JPG", "a/wide.png", "b/grey.jpeg", "b/palette.png", "b/square_rgba.png"]
    wide, tall, grey = ds.images[1].astype(int), ds.images[0].astype(int), ds.images[2]
    assert wide[..., 1].min() == 255 and wide[..., [0, 2]].max() == 0  # only the green centre survives
    assert tall[..., 1].mean() > 230 and tall[..., [0, 2]].mean() < 25  # JPEG: approximately
    assert (grey == 128).all()
    test = load_dataset("image-folder", "test", data_dir=faces, log=lambda m: None)
    assert test.split == "test" and np.array_equal(test.images, ds.images)  # no test split: the same images


def test_image_size_and_crop_of_non_square_target(faces: Path) -> None:
    assert load_dataset("image-folder", data_dir=faces, image_size=(32, 32), log=print).images.shape == (5, 32, 32, 3)
    assert folder.decode(faces / "a" / "wide.png", (20, 40)).shape == (20, 40, 3)


def test_missing_empty_and_unreadable(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="image-folder needs a data directory"):
        load_dataset("image-folder")
    with pytest.raises(DataError, match="image folder does not exist"):
        load_dataset("image-folder", data_dir=tmp_path / "nope")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "readme.txt").write_text("x")
    with pytest.raises(DataError, match=r"empty: no \.png/\.jpg/\.jpeg images"):
        load_dataset("image-folder", data_dir=tmp_path / "empty")
    assert not dataset_available("image-folder", tmp_path / "empty")[0]
    (tmp_path / "empty" / "sub" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match=r"sub/broken.png: cannot read image"):
        load_dataset("image-folder", data_dir=tmp_path / "empty", log=lambda m: None)
    assert dataset_available("image-folder", tmp_path / "empty") == (True, str(tmp_path / "empty"))


def test_second_load_hits_the_cache_and_changes_invalidate_it(faces: Path, isolated: Path, monkeypatch) -> None:
    logs: list[str] = []
    first = load_dataset("image-folder", data_dir=faces, log=logs.append)
    assert len(list((isolated / "image-folder").glob("*.npz"))) == 1
    assert not list((isolated / "image-folder").glob(".*"))  # no temporary file left

    def no_decoding(*args):
        raise AssertionError("decoded although cached")

    monkeypatch.setattr(folder, "decode", no_decoding)
    second = load_dataset("image-folder", data_dir=faces, log=logs.append)
    assert np.array_equal(first.images, second.images) and first.checksum == second.checksum
    assert "from the cache" in logs[-1]
    monkeypatch.undo()
    os.utime(faces / "a" / "wide.png", ns=(0, 0))  # a changed mtime means a changed folder
    load_dataset("image-folder", data_dir=faces, log=logs.append)
    assert logs[-1].startswith("decoding 5 images")
