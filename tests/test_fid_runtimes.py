"""The FID network in ONNX Runtime and OpenVINO: the same features as the shipped TorchScript network
(within 1e-5 of their scale), the same FID (1e-6 relative), and `auto` picks the fastest accurate one."""

import json

import numpy as np
import pytest

from bench.errors import BenchError
from bench.fid import runtimes
from bench.fid.evaluator import fid_between, parse_request
from bench.fid.extractor import FeatureExtractor
from bench.fid.frechet import fid_from_features

OTHERS = [r for r in runtimes.RUNTIMES[1:] if r in runtimes.installed()]


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(3)
    grey = rng.integers(0, 256, (6, 28, 28, 1), dtype=np.uint8)
    rgb = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    return grey, rgb


@pytest.fixture(scope="module")
def reference(images, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("BENCH_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))  # the ONNX export goes here
    scripted = FeatureExtractor(optimize=False, batch_size=4)
    yield [scripted(x) for x in images]
    mp.undo()


def test_onnx_runtimes_are_installed_where_the_extra_is():
    pytest.importorskip("onnx")
    assert "onnxruntime" in runtimes.installed() or "openvino" in runtimes.installed()


@pytest.fixture(scope="module")
def torch_fid(images):
    """The PyTorch path's FID of the grey set against the RGB set's statistics, and those statistics."""
    torch_path = FeatureExtractor(batch_size=4)
    real = torch_path(images[1]).astype(np.float64)
    mu, sigma = real.mean(0), np.cov(real, rowvar=False)
    return fid_from_features(mu, sigma, torch_path(images[0])), mu, sigma


@pytest.mark.parametrize("name", ["torch", *OTHERS])
def test_features_and_fid_match_the_torchscript_network(name, images, reference, torch_fid):
    ext = FeatureExtractor(batch_size=4, runtime=name)  # batch 4: a ragged last batch of 2
    for x, ref in zip(images, reference, strict=True):
        feats = ext(x)
        assert feats.shape == ref.shape and feats.dtype == np.float32
        assert np.abs(feats - ref).max() / np.abs(ref).max() <= runtimes.TOLERANCE
    fid_torch, mu, sigma = torch_fid
    fid_here = fid_from_features(mu, sigma, ext(images[0]))
    assert abs(fid_here - fid_torch) <= 1e-6 * abs(fid_torch)


def test_auto_takes_the_fastest_accurate_runtime_and_saves_the_choice(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(runtimes, "installed", lambda: ["torch", "onnxruntime", "openvino"])
    measured = {
        "torch": {"images_per_s": 8.0, "max_rel_diff": 1e-6},
        "onnxruntime": {"images_per_s": 9.0, "max_rel_diff": 1e-6},
        "openvino": {"images_per_s": 20.0, "max_rel_diff": 1e-3},  # fastest but wrong: never chosen
    }
    calls = []
    monkeypatch.setattr(runtimes, "measure", lambda *a: calls.append(a) or measured)
    cpu = runtimes.torch.device("cpu")
    name, saved = runtimes.choose(cpu, 32, print)
    assert name == "onnxruntime" and saved["measured"] == measured and len(calls) == 1
    assert json.loads(runtimes.choice_path().read_text())["runtime"] == "onnxruntime"
    assert runtimes.choose(cpu, 32, print)[0] == "onnxruntime" and len(calls) == 1  # read back, not measured
    assert runtimes.choose(runtimes.torch.device("meta"), 32, print) == ("torch", {})  # not a CPU: torch only


def test_a_failing_or_inaccurate_runtime_is_never_chosen(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path))
    cpu = runtimes.torch.device("cpu")

    def broken(name, device):
        if name == "openvino":
            raise RuntimeError("no CPU plugin")
        return lambda x: np.zeros((len(x), 2048), np.float32) + (0.0 if name == "torch" else 1.0)

    monkeypatch.setattr(runtimes, "make_runner", broken)
    monkeypatch.setattr(runtimes.inception, "load_scripted", lambda: lambda t: runtimes.torch.ones(len(t), 2048))
    got = runtimes.measure(["torch", "openvino"], cpu, 8, rounds=1)
    assert got["openvino"]["error"] == "RuntimeError: no CPU plugin" and got["openvino"]["images_per_s"] == 0.0
    assert got["torch"]["max_rel_diff"] == 1.0  # zeros against ones: inaccurate too
    monkeypatch.setattr(runtimes, "installed", lambda: ["torch", "openvino"])
    assert runtimes.choose(cpu, 8, print)[0] == "torch"  # none accurate: the PyTorch path, with a log line


@pytest.mark.slow
def test_auto_measures_once_and_records_the_runtime(tmp_path, monkeypatch):
    """A real measurement in the evaluator child: the choice is one of the installed runtimes, it is
    saved, and the FID equals the PyTorch path's to 1e-6 relative."""
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("BENCH_FID_RUNTIME", "auto")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "a.npz", images=rng.integers(0, 256, (12, 28, 28, 1), dtype=np.uint8))
    np.savez(tmp_path / "b.npz", images=rng.integers(0, 200, (12, 28, 28, 1), dtype=np.uint8))
    auto = fid_between(tmp_path / "a.npz", tmp_path / "b.npz", batch_size=8, kid_subset_size=12)
    saved = json.loads(next((tmp_path / "cache" / "fid-runtime").glob("choice-*.json")).read_text())
    assert auto["runtime"] == saved["runtime"] in runtimes.installed()
    assert set(saved["measured"]) == set(runtimes.installed())
    ref = fid_between(tmp_path / "a.npz", tmp_path / "b.npz", batch_size=8, kid_subset_size=12, runtime="torch")
    assert ref["runtime"] == "torch" and abs(auto["fid"] - ref["fid"]) <= 1e-6 * ref["fid"]


def test_bad_runtime_names(tmp_path, monkeypatch):
    (tmp_path / "r.npz").write_bytes(b"")
    with pytest.raises(BenchError, match="unknown runtime 'tensorrt'"):
        parse_request({"real": str(tmp_path / "r.npz"), "fake": [], "out": "o", "runtime": "tensorrt"})
    with pytest.raises(BenchError, match="unknown FID runtime"):
        runtimes.make_runner("tensorrt", runtimes.torch.device("cpu"))
    with pytest.raises(BenchError, match="runs only the optimised"):
        FeatureExtractor(optimize=False, runtime="onnxruntime")
    monkeypatch.setenv("BENCH_FID_RUNTIME", "tensorrt")
    np.savez(tmp_path / "a.npz", images=np.zeros((2, 8, 8, 3), np.uint8))
    with pytest.raises(BenchError, match="BENCH_FID_RUNTIME='tensorrt' is not a runtime"):
        fid_between(tmp_path / "a.npz", tmp_path / "a.npz", timeout=120)
