"""`python -m bench`: run suites, list what exists, and the other commands.

Every user error prints one line `error: ...` to stderr and exits 2; no traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import sys
from dataclasses import replace
from pathlib import Path

from bench.errors import BenchError, Parser, disk_full
from bench.executors import EXTRA, executor_module
from bench.frameworks import FRAMEWORKS, INSTALL_HINT, MODES, REGISTRY, drop_missing_optional, installed
from bench.precision import LOSS_SCALERS, PRECISIONS
from bench.spec import RunSpec
from bench.suites import BUILTIN, GPU_FID_SAMPLES, GPU_PRECISIONS, Suite, expand, get_suite, load_suite_file, override
from bench.validate import (
    check_cache_dir,
    check_data,
    check_dataset_shape,
    check_device,
    check_results_dir,
    integer,
    probe_writable,
    resolve,
)
from bench.variants import VARIANTS

DELEGATED = {  # commands whose arguments their own module parses: (module, function, help)
    "parity": ("bench.parity.cli", "main_parity", "cross-framework parity levels L1-L5 and the parity table"),
    "report": ("bench.report.cli", "main_report", "turn result tables into a Markdown + HTML report"),
    "fid": ("bench.fid.cli", "main_fid", "FID and KID between two image sets (folders, .npz or .npy)"),
    "compare": ("bench.compare.cli", "main_compare", "two results directories side by side: B against A"),
}


LABELS = ", ".join(f.label for f in REGISTRY.values())
MODES_HELP = "; ".join(f"{name} {','.join(modes)}" for name, modes in MODES.items())


def _csv(kind: type):
    def parse(text: str) -> tuple:
        try:
            return tuple(kind(x) for x in text.split(",") if x.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__} values, got {text!r}") from None

    return parse


def _device(text: str) -> str:
    if text == "cpu" or text.isdigit():
        return text
    raise argparse.ArgumentTypeError(f"device must be 'cpu' or a GPU index such as 0, got {text!r}")


def build_parser() -> Parser:
    p = Parser(prog="python -m bench", description=f"Fair GAN benchmarks across deep learning frameworks ({LABELS}).")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    r = sub.add_parser("run", help="run a suite of benchmark runs")
    src = r.add_mutually_exclusive_group()
    src.add_argument("--suite", help=f"built-in suite: {', '.join(BUILTIN)} (default: quick's runs, one at a time)")
    src.add_argument("--suite-file", help="a suite in TOML (keys: the Suite fields, see README)")
    r.add_argument("--variants", type=_csv(str), help="comma-separated variant names")
    r.add_argument("--frameworks", type=_csv(str), help=f"{','.join(FRAMEWORKS)} (default: those installed)")
    r.add_argument("--steps", type=int, help="timed training steps per run")
    r.add_argument("--warmup", type=int, help="untimed warm-up steps (>= 1: the first traces/compiles)")
    r.add_argument("--batch-size", type=_csv(int), help="batch size(s); several make a sweep")
    r.add_argument("--modes", type=_csv(str), help=f"execution modes: {MODES_HELP}")
    r.add_argument(
        "--precision", type=_csv(str), help=f"precision(s): {', '.join(PRECISIONS)} (default fp32; tf32 on a GPU only)"
    )
    r.add_argument(
        "--loss-scaler",
        choices=LOSS_SCALERS,
        default="",
        help="fp16's dynamic loss scaling: one scale per network (default) or one shared by G and D",
    )
    r.add_argument("--seeds", type=_csv(int), help="comma-separated seeds")
    r.add_argument("--repeats", type=int, help="repeats of each run")
    r.add_argument("--device", type=_device, default="cpu", help="cpu, or a GPU index")
    r.add_argument("--threads", type=int, default=0, help="intra-op threads (0: framework default)")
    r.add_argument("--deterministic", action="store_true", help="turn on the frameworks' determinism flags")
    r.add_argument("--dataset", default="", help="dataset instead of each variant's own")
    r.add_argument("--data-dir", default="", help="directory holding the dataset files")
    r.add_argument("--results-dir", default="results", help="where result tables go")
    r.add_argument("--timeout", type=float, help="seconds before a run is killed and recorded as timeout")
    r.add_argument("--executor", help="where runs execute: local (default) or ray (a Ray cluster)")
    r.add_argument("--ray-address", help="Ray cluster to use (default: $RAY_ADDRESS, else a local instance)")
    r.add_argument("--jobs", type=int, help="runs at once, sharing the cores (speed figures then not comparable)")
    r.add_argument("--fid-samples", type=int, help="generated (and real) images for FID; 0 turns FID off")
    r.add_argument(
        "--checkpoint-every", type=int, help="timed steps between checkpoints; an interrupted run resumes (0: none)"
    )
    r.add_argument("--eval-every", type=int, help="timed steps between FID/KID evaluations along training (0: none)")
    r.add_argument("--labeled-fraction", type=float, help="share of labelled training examples (ssgan)")
    r.add_argument("--no-compile-cache", action="store_true", help="compile cold: no persistent compile caches")
    r.add_argument("--force", action="store_true", help="rerun runs that are already finished")
    r.add_argument("--no-report", action="store_true", help="do not generate the report at the end")
    sub.add_parser("list", help="variants, suites, datasets and which frameworks import here")
    d = sub.add_parser("download", help="fetch datasets into the cache, checksums verified (needs network)")
    d.add_argument("datasets", nargs="+", help="mnist, fashion-mnist, cifar10")
    for name, (_, _, text) in DELEGATED.items():
        sub.add_parser(name, help=text, add_help=False)  # parsed by its own module
    return p


def cmd_run(args: argparse.Namespace) -> int:
    """Validate everything, then take the results directory's lock and run; nothing starts before."""
    suite, specs = plan(args)
    results_dir = Path(args.results_dir)
    check_results_dir(results_dir)
    check_cache_dir()
    if any(s.fid_samples for s in specs):
        from bench.fid.evaluator import forced_runtime

        forced_runtime()  # a bad BENCH_FID_RUNTIME would otherwise leave every FID NaN after training
    check_data(specs)
    from bench.lock import results_lock

    with results_lock(results_dir):
        probe_writable(results_dir)
        return execute(suite, specs, results_dir, args)


def plan(args: argparse.Namespace) -> tuple[Suite, list[RunSpec]]:
    """The suite with its overrides and its RunSpecs, all validated; reads no data, writes nothing."""
    if args.suite_file:
        suite = load_suite_file(args.suite_file)
    elif args.suite:
        suite = get_suite(args.suite)
    else:  # no suite named: quick's runs, but one at a time (quick's jobs = 2 would halve each run's threads)
        suite = replace(get_suite("quick"), jobs=1)
    integer("threads", args.threads)
    suite = override(
        suite, variants=args.variants, frameworks=args.frameworks, steps=args.steps, warmup=args.warmup,
        batch_sizes=args.batch_size, seeds=args.seeds, repeats=args.repeats, timeout=args.timeout,
        fid_samples=args.fid_samples, modes=args.modes, jobs=args.jobs, executor=args.executor,
        precisions=args.precision, checkpoint_every=args.checkpoint_every,
        eval_every=args.eval_every,
    )  # fmt: skip
    check_executor(suite.executor, args.ray_address)
    if args.fid_samples is None and args.device != "cpu" and suite.name == "all":
        suite = override(suite, fid_samples=GPU_FID_SAMPLES)  # the study's 10k/10k where a GPU affords it
    if args.precision is None and args.device != "cpu" and suite.name == "precision":
        suite = override(suite, precisions=GPU_PRECISIONS)  # TF32 exists on a GPU only
    if args.frameworks is None and suite.frameworks == FRAMEWORKS:  # every registered one: those installed
        kept, notes = drop_missing_optional(suite.frameworks)
        suite = replace(suite, frameworks=kept)
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
    for fw in suite.frameworks:
        if not installed(fw):
            raise BenchError(
                f"framework {fw!r} is not installed ({INSTALL_HINT[fw]}), or leave it out with --frameworks"
            )
    if args.dataset:
        check_dataset_shape(args.dataset, suite.variants or tuple(VARIANTS))
    if args.labeled_fraction is not None and not 0.0 <= args.labeled_fraction <= 1.0:
        raise BenchError(f"labeled fraction must be in [0, 1], got {args.labeled_fraction}")
    if suite.executor == "local":  # a Ray cluster's GPUs are checked once connected, before any task
        check_device(args.device)
    base = RunSpec(variant="", framework="", device=args.device, threads=args.threads,
                   deterministic=args.deterministic, dataset=args.dataset, data_dir=args.data_dir,
                   compile_cache=not args.no_compile_cache, loss_scaler=args.loss_scaler,
                   labeled_fraction=-1.0 if args.labeled_fraction is None else args.labeled_fraction)  # fmt: skip
    specs = expand(suite, base)
    if not specs:
        raise BenchError("the suite has no runs (an empty list of modes or of a framework's modes)")
    for spec in specs:
        resolve(spec)  # checks it
    return suite, specs


def execute(suite: Suite, specs: list[RunSpec], results_dir: Path, args: argparse.Namespace) -> int:
    """Train, evaluate and report (under the results directory's lock)."""
    print(f"suite {suite.name}: {len(specs)} runs -> {results_dir} ({suite.executor} executor)", file=sys.stderr)
    with contextlib.ExitStack() as stack:
        executor = executor_module(suite.executor)
        session = executor.Session and stack.enter_context(executor.Session(args.ray_address))  # training + evaluation
        rows = executor.run_specs(specs, results_dir, force=args.force, jobs=specs[0].jobs, session=session)
        if suite.fid_samples or any(r["status"] in ("ok", "diverged") for r in rows):
            from bench.quality import evaluate_runs

            ids = [s.run_id for s in specs]
            evaluate_runs(results_dir, ids, args.device, force=args.force, log=_err, session=session)
    if not args.no_report:
        from bench.report.build import build_report

        print(f"report: {build_report(results_dir) / 'index.html'}")
    failed = [r for r in rows if r["status"] in ("failed", "timeout")]
    skipped = [r for r in rows if r["status"] == "skipped"]
    print(f"done: {len(rows)} runs executed, {len(failed)} failed, {len(skipped)} skipped; tables in {results_dir}")
    for r in skipped:
        print(f"  skipped {r['variant']} {r['framework']}: {r['reason']}")
    for r in failed:
        print(f"  {r['status']} {r['variant']} {r['framework']}: {r['reason']}")
    return 1 if failed else 0


def check_executor(executor: str, ray_address: str | None) -> None:
    """An executor's extra (Ray) not installed is one line, exit 2."""
    extra = EXTRA.get(executor)
    if extra and importlib.util.find_spec(extra) is None:
        raise BenchError(
            f"--executor {executor} needs {extra.capitalize()}, which is not installed: "
            f'pip install -c constraints.txt -e ".[{extra}]"'
        )
    if ray_address and executor != "ray":
        raise BenchError("--ray-address is for --executor ray")
    if executor == "ray":
        from bench.executor_ray import check_address

        check_address(ray_address)


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cmd_list(args: argparse.Namespace) -> int:
    from bench.data import DATASETS, dataset_available
    from bench.environment import framework_importable

    print("variants:")
    for v in VARIANTS.values():
        setup = f"{v.arch:<11} {v.objective:<8} {v.dataset:<13} batch {v.batch_size:<4} n_critic {v.n_critic}"
        print(f"  {v.name:<12} {setup}")
    print("suites:")
    for s in BUILTIN.values():
        print(f"  {s.name:<12} {s.description}")
    print("datasets:")
    for name, desc in DATASETS.items():
        present, where = dataset_available(name)
        print(f"  {name:<14} {desc} [{'found: ' + where if present else 'not found: ' + where}]")
    print("frameworks:")
    for fw in FRAMEWORKS:
        ok, what = framework_importable(fw)
        print(f"  {fw:<6} {'imports, version ' + what if ok else 'does not import: ' + what}")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from bench.data import download

    for name in args.datasets:
        if name not in download.MIRRORS:
            raise BenchError(f"{name!r} cannot be downloaded; downloadable: {', '.join(download.MIRRORS)}")
    if download.offline():
        raise BenchError("downloads are disabled here (BENCH_OFFLINE is set)")
    for name in args.datasets:
        print(f"{name}: {download.download_dataset(name, _err)}")
    return 0


COMMANDS = {"run": cmd_run, "list": cmd_list, "download": cmd_download}


def main(argv: list[str] | None = None) -> int:
    """Every command; a full disk anywhere in one is one `error:` line and exit 2, as bad input is."""
    try:
        return command(sys.argv[1:] if argv is None else argv)
    except OSError as e:
        if not disk_full(e):
            raise
        print(f"error: {disk_full(e)}", file=sys.stderr)
        return 2


def command(argv: list[str]) -> int:
    if argv and argv[0] in DELEGATED:
        module, function, _ = DELEGATED[argv[0]]
        try:
            entry = getattr(importlib.import_module(module), function)
        except ModuleNotFoundError as e:
            print(f"error: the '{argv[0]}' command is not available here ({e})", file=sys.stderr)
            return 2
        return entry(argv[1:])
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished runs are kept; run the same command again to resume", file=sys.stderr)
        return 130
