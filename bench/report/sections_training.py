"""Sections on training itself: the loss comparison, curves, sample grids, parity, and the method notes."""

from __future__ import annotations

import shutil

import pandas as pd

from bench.frameworks import REGISTRY
from bench.report import curves, plots, quality
from bench.report.data import framework_name, frameworks_phrase
from bench.report.doc import Bullets, Figure, Gallery, Section, Table, Text
from bench.report.fmt import format_columns, pm
from bench.report.sections import Context, named
from bench.report.tables import variant_order

NOT_COMPUTED = "not computed"


def summary_display(summary: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """`mean ± std (over seeds)` per metric column that exists; "not computed" where it does not."""
    keys = ["variant", "dataset", *(["precision"] if summary["precision"].nunique() > 1 else []), "framework", "seeds"]
    out = named(summary[keys]).copy()
    for col, kind in columns.items():
        if f"{col}_mean" in summary:
            out[col] = [
                pm(m, s, n, kind) if n else NOT_COMPUTED
                for m, s, n in zip(summary[f"{col}_mean"], summary[f"{col}_std"], summary[f"{col}_n"], strict=True)
            ]
    return out


def losses_section(ctx: Context) -> Section:
    runs = quality.loss_runs(ctx.data)
    title = "Loss comparison (dcgan28)"
    if runs.empty:
        return Section(title, [Text("No runs of the dcgan28 architecture (run the `losses` suite for this section).")])
    names = ", ".join(variant_order(runs["variant"]))
    blocks = [Text(f"Variants on the dcgan28 architecture: {names}. Figures are mean ± std over seeds (n = seeds).")]
    blocks += metric_blocks(ctx, quality.QUALITY, "Sample quality: FID, KID and classifier Fréchet distance", "FID/KID")
    blocks += fid_blocks(ctx, runs)
    blocks += metric_blocks(
        ctx, quality.COVERAGE, "Coverage: classes covered, class KL, conditional accuracy", "coverage"
    )
    blocks += metric_blocks(
        ctx, quality.STABILITY, "Stability: loss dispersion and change, gradient norms", "stability"
    )
    div = quality.divergence_table(ctx.data)
    if not div.empty:
        div = div if div["precision"].nunique() > 1 else div.drop(columns="precision")
        div = format_columns(named(div), {"first_divergence_step": "int"})
        div = div.rename(columns={"first_divergence_step": "first divergence step"})
        blocks.append(Table(div, "Divergence: runs with a non-finite loss"))
    notes = quality.metric_notes(ctx.data)
    if notes:
        blocks += [Text("Metrics that could not be computed, and why:"), Bullets(notes)]
    return Section(title, blocks)


def fid_blocks(ctx: Context, runs: pd.DataFrame) -> list:
    """How FID was computed, and the FID bars with seed spread."""
    blocks = []
    setup = quality.fid_setup(ctx.data)
    if setup:
        blocks.append(Text(f"FID setup: {setup}."))
    floor = ctx.data.fid_floor
    if not floor.empty:
        floor = format_columns(floor, {"fid": "fid", "kid_mean": "kid", "kid_std": "kid", "n": "int"})
        blocks.append(Table(floor, "FID floor: real training images against real test images, same sample count"))
    summary = quality.seed_summary(ctx.data, {"fid": "fid"})
    if not summary.empty:
        fig = plots.fid_bars(summary, runs, ctx.figure("fid.png"))
        blocks.append(
            Figure(ctx.rel(fig), "FID per loss and framework: bars mean, error bars std over seeds, dots seeds")
        )
    return blocks


def metric_blocks(ctx: Context, columns: dict[str, str], caption: str, what: str) -> list:
    summary = quality.seed_summary(ctx.data, columns)
    if summary.empty:
        return [Text(f"{caption}: {NOT_COMPUTED} (no {what} metrics in the results).")]
    missing = [quality.LABELS.get(c, c) for c in columns if f"{c}_mean" not in summary]
    note = [Text(f"Not computed: {', '.join(missing)}.")] if missing else []
    table = summary_display(summary, columns).rename(columns=quality.LABELS)
    return [Table(table, caption), *note]


def curves_section(ctx: Context) -> Section:
    pairs = curves.curve_pairs(ctx.data)
    if not pairs:
        return Section("Training curves", [Text("No per-step records in the results.")])
    names = frameworks_phrase(pd.concat(pairs.values())["framework"])
    blocks = [Text(CURVES_TEXT.format(names=names))]
    for variant, pair in pairs.items():
        fig = curves.curves_figure(variant, pair, ctx.data.steps, ctx.figure(f"curves_{variant}.png"))
        shown = frameworks_phrase(pair["framework"])
        blocks.append(Figure(ctx.rel(fig), f"{variant}: losses and gradient norms, {shown}, same seed"))
    return Section("Training curves", blocks)


CURVES_TEXT = (
    "G and D losses and gradient norms per step for one seed, {names} overlaid; all start from "
    "the same weights and see the same batches and noise. Light lines are raw values, bold lines a centred "
    "moving average over about 5% of the steps; the grey band marks the untimed warm-up steps."
)


def grids_section(ctx: Context) -> Section:
    """Sample grids side by side, copied next to the report so the page stays self-contained."""
    blocks, shown = [], set()
    for variant, pair in curves.curve_pairs(ctx.data, with_steps=False).items():
        shown.update(pair["framework"])
        items = []
        for run in pair.itertuples():
            src = ctx.data.grid_path(run.run_id)
            dest = ctx.out_dir / "grids" / src.name
            if src.exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest)
            items.append((framework_name(run.framework), ctx.rel(dest) if src.exists() else None))
        first = pair.iloc[0]
        blocks.append(
            Gallery(f"{variant} on {first['dataset']} (seed {first['seed']}, batch {first['batch_size']})", items)
        )
    if not blocks:
        return Section("Sample grids", [Text("No finished runs with samples.")])
    text = f"Samples from the same fixed noise of the run seed, {frameworks_phrase(shown, ' | ', ' | ')}."
    return Section("Sample grids", [Text(text), *blocks])


def parity_section(ctx: Context) -> Section:
    parity = ctx.data.parity
    if parity.empty:
        return Section("Parity", [Text("No parity results (`parity/parity.parquet` is absent).")])
    df = parity.copy()
    if "passed" in df:
        df["passed"] = df["passed"].map(lambda p: "pass" if bool(p) else "FAIL")
    if "drift_step" in df:
        df["drift_step"] = [("—" if pd.isna(v) or v < 0 else str(int(v))) for v in df["drift_step"]]
    df = format_columns(df, {k: "sci" for k in ("max_abs_diff", "max_rel_diff", "tolerance", "f64_rel_diff")})
    failed = int((df["passed"] == "FAIL").sum()) if "passed" in df else 0
    levels = ", ".join(dict.fromkeys(df["level"].astype(str))) if "level" in df else "—"
    text = (
        f"{len(df)} checks ({levels}), {failed} failed; drift step: first step at which the trajectories part; "
        "float64 rel diff: the same check in float64, which decides when float32 rounding exceeds the tolerance."
    )
    df = df.rename(columns=PARITY_LABELS)
    return Section("Parity", [Text(text), Table(df, "Cross-framework parity from identical weights and inputs")])


PARITY_LABELS = {
    "max_abs_diff": "max abs diff",
    "max_rel_diff": "max rel diff",
    "drift_step": "drift step",
    "f64_rel_diff": "float64 rel diff",
}


def method_section(ctx: Context) -> Section:
    return Section("Method", [Bullets([*METHOD, colours_text(ctx.data.runs["framework"])])])


def colours_text(frameworks: pd.Series) -> str:
    """Each framework's colour (and hatch) as the plots draw it, from the registry."""
    known = [f for f in REGISTRY if f in set(frameworks)]
    marks = [f"{REGISTRY[f].label} {REGISTRY[f].colour}" + (" hatched" if REGISTRY[f].hatch else "") for f in known]
    return f"Colours (Okabe-Ito, readable with colour-vision deficiencies): {', '.join(marks)}."


METHOD = [
    "Each run is one worker process importing one framework; the harness draws the initial weights, "
    "data order and noise from the run seed, so every framework start and train on identical inputs.",
    "Throughput = batch size × timed steps ÷ timed seconds per interval; median and p10/p90 over intervals, "
    "pooled over runs of the same variant, device, batch size and framework.",
    "Ratio intervals: 2,000 draws of a two-level bootstrap (runs with replacement, then intervals within each run), "
    "2.5th-97.5th percentile; memory ratios resample runs only (one figure per run).",
    "Memory: peak resident set of the worker (CPU), or the framework's peak GPU allocation after warm-up.",
    "Spread over seeds is the sample standard deviation (ddof = 1); n=1 marks a single seed.",
]
