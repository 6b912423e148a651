"""The precision section: each precision against fp32 within a framework (speed, memory), stability per
objective and precision, and FID/KID per precision against fp32 at equal steps over seeds.

The cross-framework ratios at each precision are the framework comparison's own rows: precision is part
of a case there (bench/report/tables.py CASE).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.report import plots
from bench.report.data import framework_name
from bench.report.doc import Figure, Section, Table, Text
from bench.report.fmt import MISSING, fmt, format_columns, pm
from bench.report.sections import Context, named, ratio_text
from bench.report.stats import ratio_ci
from bench.report.tables import ci_columns, memory_column, run_samples, sort_cases

BASE = "fp32"
CASE = ["variant", "dataset", "device", "batch_size"]  # what a precision ratio holds fixed, with framework and mode


def precision_ratios(ctx: Context) -> pd.DataFrame:
    """Per case, framework and mode: each precision's speed and memory over fp32's, with 95% intervals."""
    runs = ctx.data.measured()
    rows = []
    for key, g in runs.assign(mode=runs.get("mode", "")).groupby([*CASE, "framework", "mode"], sort=False):
        base = g[g["precision"] == BASE]
        if base.empty:
            continue
        mem_col = memory_column(g)
        for precision, p in g[g["precision"] != BASE].groupby("precision", sort=True):
            speed = ratio_ci(run_samples(ctx.data, p), run_samples(ctx.data, base))
            mem = ratio_ci(*[[np.array([v]) for v in r[mem_col].dropna()] for r in (p, base)])
            rows.append({
                **dict(zip([*CASE, "framework", "mode"], key, strict=True)), "precision": precision,
                "pair": f"{framework_name(key[-2])} {precision} / {BASE}", "modes": key[-1] or "default",
                "runs": f"{len(p)} / {len(base)}", **ci_columns("speed", speed, "faster", precision, BASE),
                "memory": mem_col, "memory_ratio": mem.ratio, "memory_low": mem.low, "memory_high": mem.high,
            })  # fmt: skip
    return sort_cases(pd.DataFrame(rows))


def ratio_display(r: pd.DataFrame) -> pd.DataFrame:
    out = named(r).assign(
        speed=[ratio_text(*v) for v in zip(r["speed_ratio"], r["speed_low"], r["speed_high"], strict=True)],
        memory_text=[ratio_text(*v) for v in zip(r["memory_ratio"], r["memory_low"], r["memory_high"], strict=True)],
    )
    cols = {"variant": "variant", "batch_size": "batch", "device": "device", "framework": "framework",
            "modes": "mode", "precision": "precision", "runs": "runs", "speed": "speed vs fp32 [95% CI]",
            "speed_verdict": "speed", "memory_text": "memory vs fp32 [95% CI]"}  # fmt: skip
    return out[list(cols)].rename(columns=cols)


def stability_table(ctx: Context) -> pd.DataFrame:
    """Per objective, precision and framework: runs, steps with a non-finite loss, updates skipped by loss
    scaling, diverged runs and the earliest divergence step, and the median final loss scale of D."""
    runs, steps = ctx.data.runs, ctx.data.steps
    runs = runs[runs["status"].isin(("ok", "diverged"))]
    if runs.empty:
        return pd.DataFrame()
    bad = pd.Series(dtype=float)
    if not steps.empty and {"run_id", "loss_d", "loss_g"} <= set(steps):
        finite = np.isfinite(steps[["loss_d", "loss_g"]].to_numpy(dtype=float)).all(axis=1)
        bad = pd.Series(~finite, index=steps.index).groupby(steps["run_id"]).sum()
    rows = []
    for (objective, precision, fw), g in runs.groupby(["objective", "precision", "framework"], sort=True):
        step = pd.to_numeric(g.get("divergence_step", pd.Series(dtype=float)), errors="coerce")
        skipped = sum(pd.to_numeric(g.get(c, pd.Series(0, index=g.index)), errors="coerce").fillna(0).sum()
                      for c in ("skipped_updates_d", "skipped_updates_g"))  # fmt: skip
        scale = pd.to_numeric(g.get("loss_scale_d", pd.Series(dtype=float)), errors="coerce").dropna()
        rows.append({
            "objective": objective, "precision": precision, "framework": framework_name(fw), "runs": len(g),
            "non-finite steps": int(bad.reindex(g["run_id"]).fillna(0).sum()) if len(bad) else MISSING,
            "skipped updates": int(skipped), "diverged runs": int((g["status"] == "diverged").sum()),
            "first divergence step": fmt(step[step >= 0].min(), "int") if (step >= 0).any() else MISSING,
            "final loss scale (D, median)": fmt(scale.median(), "g3") if len(scale) else MISSING,
        })  # fmt: skip
    return pd.DataFrame(rows)


def quality_table(ctx: Context) -> pd.DataFrame:
    """Per variant, framework and precision: FID and KID mean ± std over seeds, and FID's ratio to fp32's
    mean from runs of the same length (steps)."""
    runs = ctx.data.runs[ctx.data.runs["status"].isin(("ok", "diverged"))]
    if "fid" not in runs or runs["fid"].notna().sum() == 0:
        return pd.DataFrame()
    rows = []
    for (variant, fw, steps), g in runs.groupby(["variant", "framework", "steps"], sort=False):
        if pd.to_numeric(g["fid"], errors="coerce").isna().all():
            continue
        base = pd.to_numeric(g.loc[g["precision"] == BASE, "fid"], errors="coerce").dropna()
        for precision, p in g.groupby("precision", sort=True):
            fid = pd.to_numeric(p["fid"], errors="coerce").dropna()
            kid = pd.to_numeric(p.get("kid_mean", pd.Series(dtype=float)), errors="coerce").dropna()
            ratio = fid.mean() / base.mean() if len(fid) and len(base) and precision != BASE else np.nan
            rows.append({
                "variant": variant, "framework": fw, "precision": precision, "steps": steps,
                "seeds": p["seed"].nunique(),
                "FID": pm(fid.mean(), fid.std(ddof=1), len(fid), "fid") if len(fid) else MISSING,
                "KID": pm(kid.mean(), kid.std(ddof=1), len(kid), "kid") if len(kid) else MISSING,
                "FID / fp32 FID": fmt(ratio, "ratio"),
            })  # fmt: skip
    return named(sort_cases(pd.DataFrame(rows)))


def precision_section(ctx: Context) -> Section | None:
    """None when every run is fp32 (nothing to compare)."""
    runs = ctx.data.runs
    if set(runs["precision"]) <= {BASE}:
        return None
    blocks: list = [Text(HOW)]
    hosts = host_lines(runs)
    if hosts:
        blocks.append(Text(hosts))
    ratios = precision_ratios(ctx)
    if not ratios.empty:
        blocks.append(Table(ratio_display(ratios), "Each precision against fp32 in the same framework and mode"))
        fig = plots.ratio_forest(ratios, "speed", "images/s against fp32 (95% CI)", "Speed of each precision "
                                 "against fp32", ctx.figure("precision_speed.png"))  # fmt: skip
        blocks.append(Figure(ctx.rel(fig), "speed ratio of each precision to fp32; right of 1: faster"))
    stab = stability_table(ctx)
    if not stab.empty:
        blocks.append(Table(stab, "Stability per objective and precision"))
    quality = quality_table(ctx)
    if not quality.empty:
        blocks.append(Table(format_columns(quality, {}), "FID and KID per precision (mean ± std over seeds)"))
    return Section("Precision", blocks)


HOW = (
    "fp32 is float32 with TF32 off (the parity baseline); tf32 keeps float32 storage with TF32 matmuls "
    "(GPUs only); bf16 and fp16 are each framework's own mixed precision: float32 weights and optimiser "
    "state, forward and backward passes in the low dtype, batch-norm statistics and losses in float32; fp16 "
    "with dynamic loss scaling, whose skipped updates are counted. The cross-framework ratios at each "
    "precision are in the framework comparison above (one case per precision)."
)


def host_lines(runs: pd.DataFrame) -> str:
    """Whether bf16 was native where it ran: the CPU's bf16 instructions, or the GPU's tensor cores."""
    parts = []
    for (host, cpu), g in runs.groupby(["hostname", "cpu_model"], sort=True) if "hostname" in runs else []:
        flags = g["cpu_bf16"].dropna().astype(str) if "cpu_bf16" in g else pd.Series(dtype=str)
        native = flags[flags != ""]
        text = f"native bf16 ({native.iloc[0]})" if len(native) else "no bf16 instructions (bf16 emulated)"
        gpus = g["gpu_name"].dropna().astype(str) if "gpu_name" in g else pd.Series(dtype=str)
        gpus = gpus[gpus != ""]
        if len(gpus):
            tf32 = bool(g.get("gpu_tf32", pd.Series([False])).fillna(False).any())
            text += f"; GPU {gpus.iloc[0]}: TF32 and bf16 tensor cores {'yes' if tf32 else 'no'}"
        parts.append(f"{host} ({cpu}): {text}")
    return "Hosts: " + "; ".join(parts) + "." if parts else ""
