"""Loading image sets for FID: folders, npz/npy, float ranges, greyscale, and the error messages."""

import numpy as np
import pytest
from PIL import Image

from bench.errors import BenchError
from bench.fid.images import load_image_set


def rgb(n, h=8, w=8, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)


def test_folder_recursive_sorted(tmp_path):
    imgs = rgb(3)
    (tmp_path / "sub").mkdir()
    Image.fromarray(imgs[0]).save(tmp_path / "b.png")
    Image.fromarray(imgs[1]).save(tmp_path / "a.png")
    Image.fromarray(imgs[2]).save(tmp_path / "sub" / "c.png")
    (tmp_path / "notes.txt").write_text("ignored")
    out = load_image_set(tmp_path)
    assert out.dtype == np.uint8 and out.shape == (3, 8, 8, 3)
    np.testing.assert_array_equal(out, imgs[[1, 0, 2]])  # a.png, b.png, sub/c.png
    assert len(load_image_set(tmp_path, max_images=2)) == 2


def test_folder_greyscale_and_mixed(tmp_path):
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8)
    Image.fromarray(grey).save(tmp_path / "g.png")
    assert load_image_set(tmp_path).shape == (1, 8, 8, 1)
    Image.fromarray(rgb(1)[0]).save(tmp_path / "h.jpg")
    out = load_image_set(tmp_path)
    assert out.shape == (2, 8, 8, 3)
    np.testing.assert_array_equal(out[0, :, :, 2], grey)


def test_npz_and_npy(tmp_path):
    imgs = rgb(4)
    np.savez(tmp_path / "a.npz", labels=np.arange(4), images=imgs)
    np.savez(tmp_path / "b.npz", imgs)
    np.save(tmp_path / "c.npy", imgs)
    for name in ("a.npz", "b.npz", "c.npy"):
        np.testing.assert_array_equal(load_image_set(tmp_path / name), imgs)
    np.save(tmp_path / "g.npy", imgs[..., 0])
    assert load_image_set(tmp_path / "g.npy").shape == (4, 8, 8, 1)


def test_float_ranges(tmp_path):
    imgs = rgb(2)
    unit = imgs / 255.0
    np.save(tmp_path / "unit.npy", unit.astype(np.float32))
    np.save(tmp_path / "sym.npy", (unit * 2 - 1).astype(np.float32))
    np.testing.assert_array_equal(load_image_set(tmp_path / "unit.npy"), imgs)
    np.testing.assert_array_equal(load_image_set(tmp_path / "sym.npy"), imgs)


@pytest.mark.parametrize(
    "array, message",
    [
        (np.full((2, 4, 4, 3), 1.5, np.float32), "must lie in"),
        (np.full((2, 4, 4, 3), -1.5, np.float32), "must lie in"),
        (np.full((2, 4, 4, 3), np.nan, np.float32), "NaN"),
        (np.zeros((2, 3, 4, 4), np.uint8), "channels-first"),
        (np.zeros((4, 4), np.uint8), r"expected \(N, H, W, C\) images"),
        (np.full((2, 4, 4, 3), 300, np.int32), "0..255"),
        (np.zeros((2, 4, 4, 3), bool), "unsupported image dtype"),
        (np.zeros((0, 4, 4, 3), np.uint8), "no images"),
    ],
)
def test_bad_arrays(tmp_path, array, message):
    np.save(tmp_path / "x.npy", array)
    with pytest.raises(BenchError, match=message):
        load_image_set(tmp_path / "x.npy")


def test_path_errors(tmp_path):
    with pytest.raises(BenchError, match="not found"):
        load_image_set(tmp_path / "missing")
    with pytest.raises(BenchError, match="no PNG/JPEG"):
        load_image_set(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(BenchError, match="cannot read image"):
        load_image_set(tmp_path)
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    with pytest.raises(BenchError, match="cannot read"):
        load_image_set(tmp_path / "bad.npz")
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(BenchError, match="expected a folder"):
        load_image_set(tmp_path / "x.txt")


def test_folder_of_different_sizes(tmp_path):
    Image.fromarray(rgb(1)[0]).save(tmp_path / "a.png")
    Image.fromarray(rgb(1, 9, 9)[0]).save(tmp_path / "b.png")
    with pytest.raises(BenchError, match="different sizes"):
        load_image_set(tmp_path)
