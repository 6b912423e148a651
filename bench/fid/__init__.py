"""FID and KID with the TensorFlow-compatible Inception-v3, computed in a separate evaluator process.

Importing this package never imports torch: the orchestrator calls `run_evaluator` / `fid_between`,
which launch `python -m bench.fid.child`; only that child (and bench.fid.inception) uses torch.
"""

from bench.fid.evaluator import fid_between, run_evaluator
from bench.fid.frechet import frechet_distance, kid, stats
from bench.fid.images import load_image_set

__all__ = ["fid_between", "frechet_distance", "kid", "load_image_set", "run_evaluator", "stats"]
