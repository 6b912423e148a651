"""The feature extractor FID and KID use: the Inception network (`bench/fid/inception.py`) run by PyTorch
or, optimised, by another runtime (`bench/fid/runtimes.py`), batch by batch.

It sits above both, so that the network module does not import the runtimes that import it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from bench.errors import BenchError
from bench.fid.inception import (
    DEFAULT_BATCH_SIZE,
    EXTRACTORS,
    FEATURE_DIM,
    fold_network,
    load_scripted,
    load_torch_fidelity,
    optimise,
    resolve_device,
    set_deterministic,
    to_network_input,
)
from bench.fid.runtimes import make_runner


class FeatureExtractor:
    """uint8 (N, H, W, C) images in, float32 (N, 2048) pool3 features out, in batches.

    optimize=False runs the TorchScript network exactly as shipped (NCHW, no folding): the
    reference that tests and the benchmark compare the optimised path with. runtime "onnxruntime"
    or "openvino" runs the optimised network there instead (bench/fid/runtimes.py).
    """

    def __init__(
        self,
        name: str = EXTRACTORS[0],
        device: str = "cpu",
        batch_size: int = DEFAULT_BATCH_SIZE,
        optimize: bool = True,
        runtime: str = "torch",
    ):
        if name not in EXTRACTORS:
            raise BenchError(f"unknown extractor {name!r}; choose from {', '.join(EXTRACTORS)}")
        if batch_size < 1:
            raise BenchError(f"batch size must be >= 1, got {batch_size}")
        self.name, self.device, self.batch_size = name, resolve_device(device), batch_size
        set_deterministic(self.device)
        self.memory_format = torch.contiguous_format
        self.runtime, self.runner = runtime, None
        if runtime != "torch" and (name != EXTRACTORS[0] or not optimize):
            raise BenchError(f"FID runtime {runtime!r} runs only the optimised {EXTRACTORS[0]} network")
        if name == "torch-fidelity":
            self.net = load_torch_fidelity(self.device)
        elif runtime != "torch":
            self.runner = make_runner(runtime, self.device)
        elif optimize:
            self.net = optimise(fold_network(load_scripted()), self.device)
            self.memory_format = torch.channels_last
        else:
            self.net = load_scripted(self.device)

    def __call__(self, images: np.ndarray, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """(N, 2048) features; `progress(done, total)` is called after every batch."""
        out = np.empty((len(images), FEATURE_DIM), np.float32)
        with torch.inference_mode():
            for i in range(0, len(images), self.batch_size):
                x = self.prepare(images[i : i + self.batch_size])
                feats = self.runner(x.numpy()) if self.runner else self.net(x).float().cpu().numpy()
                out[i : i + len(x)] = feats.reshape(len(x), FEATURE_DIM)
                if progress is not None:
                    progress(i + len(x), len(images))
        return out

    def prepare(self, batch: np.ndarray) -> torch.Tensor:
        """The network's input for a uint8 NHWC batch (torch-fidelity takes uint8 NCHW and resizes itself)."""
        if self.name == "torch-fidelity":
            x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device).permute(0, 3, 1, 2)
            return (x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x).contiguous()
        if self.runner is not None:
            return to_network_input(batch, self.device).contiguous()
        return to_network_input(batch, self.device).contiguous(memory_format=self.memory_format)
