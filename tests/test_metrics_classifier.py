"""The coverage classifier (torch): cache behaviour, accuracy on real MNIST, classifier_fd, evaluator.

Fast tests use a tiny configuration on mnist-5k (TINY, a private cache directory); the slow test
trains the real one on the 60k MNIST training images in the user cache (reused by later runs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bench.data import load_dataset  # noqa: E402
from bench.fid.frechet import frechet_distance, stats  # noqa: E402
from bench.metrics import classifier  # noqa: E402
from bench.metrics.classifier import TrainConfig  # noqa: E402
from bench.metrics.evaluate import COVERAGE_COLUMNS, evaluate_samples, load_results  # noqa: E402
from tests.conftest import REPO  # noqa: E402

TINY = TrainConfig(steps=150)  # ~5 epochs of mnist-5k's 4,000 training digits: ~95% test accuracy


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory) -> Path:
    """A private cache directory holding the tiny mnist-5k classifier (trained once per module)."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENCH_CACHE_DIR", str(cache))
        classifier.get_classifier("mnist-5k", config=TINY, log=lambda _: None)
    return cache


@pytest.fixture
def tiny(tiny_cache, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tiny_cache))
    return classifier.get_classifier("mnist-5k", config=TINY, log=lambda _: None)


def save_npz(path: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    np.savez_compressed(path, images=images, labels=labels)
    return path


def test_second_load_comes_from_the_cache(tiny, monkeypatch):
    model, info = tiny
    monkeypatch.setattr(classifier, "train", lambda *a, **k: pytest.fail("retrained although cached"))
    again, info2 = classifier.get_classifier("mnist-5k", config=TINY, log=lambda _: None)
    assert info2 == info
    for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_sidecar_records_dataset_seed_accuracy_and_checksum(tiny, tiny_cache):
    _, info = tiny
    train = load_dataset("mnist-5k", "train")
    sidecar = json.loads((tiny_cache / "classifiers" / f"{info['key']}.json").read_text())
    assert sidecar["dataset"] == "mnist-5k" and sidecar["dataset_checksum"] == train.checksum
    assert sidecar["seed"] == 0 and sidecar["torch_version"] == torch.__version__
    assert sidecar["test_n"] == 1000 and sidecar["test_accuracy"] > 0.9
    assert sidecar["weights_sha256"] == classifier.sha256_file(tiny_cache / "classifiers" / f"{info['key']}.pt")


def test_cache_key_separates_datasets_and_configs(mnist_dir):
    small, full = load_dataset("mnist-5k", "train"), load_dataset("mnist", "train", mnist_dir)
    keys = {
        classifier.cache_key(small, TINY),
        classifier.cache_key(full, TINY),
        classifier.cache_key(small, TrainConfig()),
    }
    assert len(keys) == 3
    assert classifier.cache_key(small, TINY) == classifier.cache_key(small, TrainConfig(steps=150, threads=2))


def test_corrupted_weights_are_detected_and_retrained(tiny, tiny_cache, tmp_path, monkeypatch):
    _, info = tiny
    folder = tmp_path / "cache" / "classifiers"
    folder.mkdir(parents=True)
    for suffix in (".pt", ".json"):  # a copy, so the shared tiny cache stays intact
        name = f"{info['key']}{suffix}"
        (folder / name).write_bytes((tiny_cache / "classifiers" / name).read_bytes())
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    weights = folder / f"{info['key']}.pt"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    messages: list[str] = []
    assert classifier.load_cached(info["key"], messages.append) is None
    assert "sha256" in messages[0]
    trained = []
    monkeypatch.setattr(classifier, "train", lambda ds, config: trained.append(1) or classifier.Classifier())
    _, new_info = classifier.get_classifier("mnist-5k", config=TINY, log=messages.append)
    assert trained and new_info["weights_sha256"] == classifier.sha256_file(weights)
    assert classifier.load_cached(info["key"], messages.append) is not None


def test_classifier_fd_small_for_real_data_large_for_noise(tiny):
    model, _ = tiny
    train, test = load_dataset("mnist-5k", "train"), load_dataset("mnist-5k", "test")
    noise = np.random.default_rng(0).integers(0, 256, test.images.shape, dtype=np.uint8)
    real_stats = stats(classifier.embed(model, test.images)[1])
    fd_real = frechet_distance(*stats(classifier.embed(model, train.images)[1]), *real_stats)
    fd_noise = frechet_distance(*stats(classifier.embed(model, noise)[1]), *real_stats)
    assert fd_real < 0.05 * fd_noise


def test_evaluate_samples_on_real_digits(tiny, tmp_path):
    test = load_dataset("mnist-5k", "test")
    npz = save_npz(tmp_path / "s.npz", test.images, test.labels)
    r = evaluate_samples(npz, "mnist-5k", conditional=True, config=TINY)
    assert set(r) == set(COVERAGE_COLUMNS)
    assert r["classes_covered"] == 10 and r["classes_covered_any"] == 10
    assert r["class_kl"] < 0.02 and r["cond_accuracy"] > 0.9
    assert r["classifier_n"] == 1000 and r["classifier_accuracy"] > 0.9 and r["metrics_reason"] == ""
    one = save_npz(tmp_path / "one.npz", test.images[test.labels == 3], np.zeros((test.labels == 3).sum(), np.int64))
    r1 = evaluate_samples(one, "mnist-5k", conditional=False, config=TINY)
    # 100 threes: a single misclassified image is 1% and counts as covered, so only KL is sharp here
    assert r1["class_kl"] > 1.5 and r1["classes_covered"] < 10 and np.isnan(r1["cond_accuracy"])
    assert r1["classifier_fd"] > r["classifier_fd"]


def test_evaluate_samples_without_a_classifier_gives_nan_and_a_reason(tmp_path):
    npz = save_npz(tmp_path / "c.npz", np.zeros((4, 32, 32, 3), np.uint8), np.zeros(4, np.int64))
    r = evaluate_samples(npz, "cifar10")
    assert "cifar10" in r["metrics_reason"]
    assert all(np.isnan(r[c]) for c in COVERAGE_COLUMNS if c != "metrics_reason")


def test_evaluator_subprocess_runs_a_request(tiny, tiny_cache, tmp_path):
    test = load_dataset("mnist-5k", "test")
    good = save_npz(tmp_path / "good.npz", test.images[::2], np.zeros(500, np.int64))  # mnist-5k is sorted by class
    cifar = save_npz(tmp_path / "cifar.npz", np.zeros((4, 32, 32, 3), np.uint8), np.zeros(4, np.int64))
    jobs = [
        {"run_id": "a", "samples": str(good), "dataset": "mnist-5k", "data_dir": None, "classifier": {"steps": 150}},
        {"run_id": "b", "samples": str(cifar), "dataset": "cifar10", "data_dir": None},
        {"run_id": "c", "samples": str(tmp_path / "missing.npz"), "dataset": "mnist", "data_dir": None},
    ]
    request = tmp_path / "request.json"
    request.write_text(json.dumps(jobs))
    env = {**os.environ, "BENCH_CACHE_DIR": str(tiny_cache)}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.metrics.evaluate", str(request)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "training" not in proc.stderr  # the cached tiny classifier was used
    df = load_results(tmp_path / "request.result.json").set_index("run_id")
    assert df.loc["a", "classes_covered"] == 10 and df.loc["a", "metrics_reason"] == ""
    assert np.isnan(df.loc["b", "class_kl"]) and "cifar10" in df.loc["b", "metrics_reason"]
    assert "not found" in df.loc["c", "metrics_reason"]


@pytest.mark.slow
def test_full_mnist_classifier_accuracy_and_real_samples(mnist_dir, tmp_path):
    """Trains the real classifier (60k images, ~1-2 min on 2 cores) unless the user cache has it."""
    model, info = classifier.get_classifier("mnist", str(mnist_dir))
    test = load_dataset("mnist", "test", mnist_dir)
    assert len(test.images) == 10_000 and info["dataset"] == "mnist"
    acc = classifier.accuracy(model, test)
    assert acc >= 0.985 and acc == pytest.approx(info["test_accuracy"], abs=1e-4)
    npz = save_npz(tmp_path / "real.npz", test.images, test.labels)
    r = evaluate_samples(npz, "mnist", str(mnist_dir), conditional=True)
    assert r["classes_covered"] == 10 and r["class_kl"] < 0.01 and r["cond_accuracy"] >= 0.985
    assert abs(r["classifier_fd"]) < 1e-6 and r["classifier_n"] == 10_000
