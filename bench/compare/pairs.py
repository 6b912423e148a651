"""Pairing the runs of A and B by what they ran, and the reasons a pair cannot be compared.

A case is one spec identity: KEY (what was trained, where and in which precision) plus SETTINGS (how
it was measured). Runs of one case (seeds, repeats) are pooled. A and B pair on the whole identity;
cases that share KEY but differ in a setting become one pair marked not comparable (with the
settings that differ) rather than two unmatched lines. `--across FIELD` takes a field out of the
identity because it is the question asked (eager against compile, fp32 against bf16, host against
host): each side of a pair must then hold one value of it, and the pair's label shows both.

Speed and compile time are also not comparable when the hosts differ (CPU model, core count, GPU),
unless `--across host` says that is what is compared, and when runs shared the machine (jobs > 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from bench.report.data import framework_name, framework_rank
from bench.report.env import distinct
from bench.report.fmt import plain
from bench.variants import VARIANTS

KEY = ("variant", "dataset", "framework", "mode", "precision", "loss_scaler", "batch_size", "device_kind")
SETTINGS = ("steps", "warmup", "n_critic", "threads", "jobs", "deterministic")
HOST = {"cpu_model": "CPU", "cpu_count": "CPU cores", "gpu_name": "GPU"}
VARIANT_RANK = {v: i for i, v in enumerate(VARIANTS)}
ACROSS = {
    "host": (),  # the hardware is what is compared: HOST differences do not make speed incomparable
    "mode": ("mode",),
    "precision": ("precision", "loss_scaler"),
    "threads": ("threads",),
}


@dataclass
class Pair:
    """One case of A against the same case of B; `a` and `b` hold their runs."""

    case: dict[str, str]  # the identity's fields that name the case
    a: pd.DataFrame
    b: pd.DataFrame
    across: dict[str, str]  # field -> "value in A → value in B" for each --across field
    not_comparable: str = ""  # why nothing of the pair compares (empty: it does)
    speed_caveat: str = ""  # why speed and compile time do not compare (host, shared machine)

    def label(self) -> str:
        c = self.case
        parts = [c.get("mode", ""), f"batch {c['batch_size']}"]
        parts += [c[k] for k in ("precision", "loss_scaler") if c.get(k) not in (None, "", "fp32")]
        parts += [] if c.get("device_kind", "cpu") == "cpu" else ["GPU"]
        parts += [f"{k} {v}" for k, v in self.across.items()]
        return f"{c['variant']} {framework_name(c['framework'])} ({', '.join(p for p in parts if p)}, {c['dataset']})"


def prepared(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs with every identity field present as text (old rows lack some), and the device's kind."""
    runs = runs.copy()
    devices = runs["device"] if "device" in runs else pd.Series("cpu", index=runs.index)
    runs["device_kind"] = ["cpu" if str(d) == "cpu" else "gpu" for d in devices]
    for col in (*KEY, *SETTINGS):
        values = runs[col] if col in runs else pd.Series("", index=runs.index)
        runs[col] = [plain(v) if pd.notna(v) else "" for v in values]
    return runs


Cases = list[str]


def pair_runs(a: pd.DataFrame, b: pd.DataFrame, across: tuple[str, ...] = ()) -> tuple[list[Pair], Cases, Cases]:
    """(pairs, cases only in A, cases only in B), the pairs in report order."""
    a, b = prepared(a), prepared(b)
    dropped = {f for name in across for f in ACROSS[name]}
    key = [k for k in KEY if k not in dropped]
    ident = key + [s for s in SETTINGS if s not in dropped]
    ga, gb = groups(a, ident), groups(b, ident)
    pairs = [make_pair(ga[i], gb[i], key, dropped, across) for i in ga if i in gb]
    left_a = pd.concat([g for i, g in ga.items() if i not in gb] or [a.iloc[0:0]])
    left_b = pd.concat([g for i, g in gb.items() if i not in ga] or [b.iloc[0:0]])
    ka, kb = groups(left_a, key), groups(left_b, key)
    pairs += [make_pair(ka[k], kb[k], key, dropped, across, settings_differ(ka[k], kb[k])) for k in ka if k in kb]
    only_a = [case_text(g, key) for k, g in ka.items() if k not in kb]
    only_b = [case_text(g, key) for k, g in kb.items() if k not in ka]
    return sorted(pairs, key=order), only_a, only_b


def groups(runs: pd.DataFrame, cols: list[str]) -> dict[tuple, pd.DataFrame]:
    return {k if isinstance(k, tuple) else (k,): g for k, g in runs.groupby(cols, sort=False)} if len(runs) else {}


def make_pair(a: pd.DataFrame, b: pd.DataFrame, key: list[str], dropped: set[str], across, why: str = "") -> Pair:
    case = {k: str(a[k].iloc[0]) for k in key}
    values = {f: (distinct(a[f]), distinct(b[f])) for f in sorted(dropped, key=list(KEY + SETTINGS).index)}
    several = [f"{s} holds {f} {v}" for f, vs in values.items() for s, v in zip("AB", vs, strict=True) if "," in v]
    why = why or "; ".join(several)
    shown = {f: f"{va} → {vb}" for f, (va, vb) in values.items() if va != vb or f in ("mode", "precision")}
    return Pair(case, a, b, shown, why, "" if why else speed_caveat(a, b, "host" in across))


def settings_differ(a: pd.DataFrame, b: pd.DataFrame) -> str:
    diffs = [f"{s} {distinct(a[s])} vs {distinct(b[s])}" for s in SETTINGS if distinct(a[s]) != distinct(b[s])]
    return "the runs were measured differently: " + ", ".join(diffs)


def speed_caveat(a: pd.DataFrame, b: pd.DataFrame, across_host: bool) -> str:
    """Why speed figures of A and B must not be set against each other, or "" when they may."""
    reasons = []
    if not across_host:
        gpu = a["device_kind"].iloc[0] == "gpu"
        for col, name in HOST.items():
            if col in a and col in b and (gpu or col != "gpu_name") and distinct(a[col]) != distinct(b[col]):
                reasons.append(f"{name} {distinct(a[col])} vs {distinct(b[col])} (--across host to compare hosts)")
    shared = [side for side, runs in (("A", a), ("B", b)) if (pd.to_numeric(runs["jobs"], errors="coerce") > 1).any()]
    if shared:
        reasons.append(f"runs in {' and '.join(shared)} shared the machine (jobs > 1)")
    return "; ".join(reasons)


def case_text(runs: pd.DataFrame, key: list[str]) -> str:
    c = {k: str(runs[k].iloc[0]) for k in key}
    pair = Pair(c, runs, runs, {})
    return f"{pair.label()}: {len(runs)} run{'s' if len(runs) != 1 else ''}"


def order(p: Pair) -> tuple:
    """Registry order of variants, then dataset, the reference framework first, then the label."""
    v = p.case["variant"]
    rank = VARIANT_RANK.get(v, len(VARIANT_RANK))
    return rank, v, p.case["dataset"], framework_rank(p.case["framework"]), p.label()
