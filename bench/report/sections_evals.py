"""FID along training (runs with --eval-every): FID against step per objective and framework, and the
final and the best FID of each, as compare_gan reports them (a run's best step is chosen on the same
samples it is scored on, so the best FID is an optimistic figure; the final one is not)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.report import plots
from bench.report.data import framework_name, framework_rank
from bench.report.doc import Figure, Section, Table, Text
from bench.report.fmt import MISSING, fmt, pm
from bench.report.sections import Context
from bench.report.tables import variant_order

CASE = ["variant", "objective", "dataset", "precision"]


def along_training(ctx: Context) -> pd.DataFrame:
    """The `evals` rows with each run's case and seed; empty without FID along training."""
    ev = ctx.data.evals
    if ev.empty or "fid" not in ev:
        return pd.DataFrame()
    runs = ctx.data.runs
    cols = ["run_id", "framework", "seed", *[c for c in CASE if c in runs]]
    out = ev.merge(runs[cols], on="run_id", how="inner")
    for c in CASE:
        if c not in out:
            out[c] = ""
    return out[np.isfinite(out["fid"].astype(float))]


def final_and_best(df: pd.DataFrame) -> pd.DataFrame:
    """Per case and framework: final FID and best FID (mean ± std over runs) and the step of the best."""
    rows = []
    for keys, g in df.groupby([*CASE, "framework"], sort=False):
        per_run = g.sort_values("step").groupby("run_id")
        final = per_run["fid"].last().to_numpy(float)
        best = per_run["fid"].min().to_numpy(float)
        best_step = per_run.apply(lambda r: int(r.loc[r["fid"].idxmin(), "step"]), include_groups=False)
        row = dict(zip([*CASE, "framework"], keys, strict=True))
        rows.append({**row, "runs": len(final), "evaluated steps": g["step"].nunique(),
                     "final FID": pm(final.mean(), final.std(ddof=1) if len(final) > 1 else np.nan, len(final), "fid"),
                     "best FID": pm(best.mean(), best.std(ddof=1) if len(best) > 1 else np.nan, len(best), "fid"),
                     "best at step (median)": fmt(float(np.median(best_step)), "int")})  # fmt: skip
    out = pd.DataFrame(rows)
    order = {v: i for i, v in enumerate(variant_order(out["variant"]))}
    out = out.assign(_v=out["variant"].map(order), _f=out["framework"].map(framework_rank))
    out = out.sort_values(["_v", "dataset", "precision", "_f"]).drop(columns=["_v", "_f"])
    if out["precision"].isin(["", "fp32"]).all():
        out = out.drop(columns="precision")  # as elsewhere: the column appears once a low precision does
    return out.assign(framework=out["framework"].map(framework_name))


@plots.styled
def fid_curves(df: pd.DataFrame, path) -> object:
    """One panel per case: mean FID over seeds against step, one line per framework, band = ± std."""
    cases = list(df.groupby(CASE, sort=False))
    fig, axes = plots.panel_grid(len(cases))
    for ax, (keys, g) in zip(axes, cases, strict=True):
        for fw in sorted(set(g["framework"]), key=framework_rank):
            s = g[g["framework"] == fw].groupby("step")["fid"].agg(["mean", "std", "count"]).reset_index()
            ax.plot(s["step"], s["mean"], "o-", ms=3, color=plots.color(fw), label=framework_name(fw))
            spread = s["std"].fillna(0.0)
            ax.fill_between(s["step"], s["mean"] - spread, s["mean"] + spread, color=plots.color(fw), alpha=0.15)
        variant, objective, dataset, precision = keys
        extra = "" if precision in ("", "fp32") else f", {precision}"
        ax.set_title(f"{variant} ({objective}, {dataset}{extra})")
        ax.set_xlabel("step")
        ax.set_ylabel("FID")
        ax.legend(fontsize=8)
    fig.suptitle("FID along training: mean over seeds, band ± one std")
    return plots.save(fig, path)


def evals_section(ctx: Context) -> Section | None:
    df = along_training(ctx)
    if df.empty:
        return None
    fig = fid_curves(df, ctx.figure("fid_along_training.png"))
    n = df.groupby("run_id")["fid_n_fake"].first() if "fid_n_fake" in df else pd.Series(dtype=float)
    count = fmt(float(n.median()), "int") if len(n) else MISSING
    blocks = [
        Text(
            f"FID of each run's fixed noise batch ({count} images) at every `eval_every` steps and at the end, "
            "against the same test reference as the final FID. **Final** is the last evaluated step; **best** is the "
            "lowest FID along the run, chosen on the samples it is scored on (optimistic, as in compare_gan)."
        ),
        Figure(ctx.rel(fig), "FID against training step per objective and framework (mean over seeds, ± std)"),
        Table(final_and_best(df), "Final and best FID along training (mean ± std over runs)"),
    ]
    return Section("FID along training", blocks)
