"""Number formatting shared by the Markdown and HTML outputs, so both show the same rounding."""

from __future__ import annotations

import math

import pandas as pd

MISSING = "—"

# Precision by kind of figure: throughput to 0.1 image/s, ratios and FID to 2 decimals, etc.
FORMATS = {
    "rate": "{:,.1f}",
    "ratio": "{:.2f}",
    "fid": "{:.2f}",
    "kid": "{:.4f}",
    "mib": "{:,.0f}",
    "s": "{:.2f}",
    "int": "{:,.0f}",
    "g3": "{:.3g}",
    "f1": "{:.1f}",
    "sci": "{:.1e}",
    "pct": "{:.1%}",
}


def is_missing(value: object) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and not math.isfinite(value)


def fmt(value: object, kind: str = "g3") -> str:
    """One number as text in the precision of its kind; missing or non-finite values as a dash."""
    if is_missing(value):
        return MISSING
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(value)  # numpy scalars
        except (TypeError, ValueError):
            return str(value)
    return FORMATS[kind].format(value)


def pm(mean: float, std: float, n: int, kind: str) -> str:
    """`mean ± std` over seeds; one seed has no spread, so it says so instead."""
    if is_missing(mean):
        return MISSING
    if n < 2 or is_missing(std):
        return f"{fmt(mean, kind)} (n=1)"
    if abs(std) <= 1e-9 * abs(mean):  # identical values: float noise is not spread
        std = 0.0
    return f"{fmt(mean, kind)} ± {fmt(std, kind)}"


def plain(value: object) -> str:
    """A setting as text: whole floats without their ".0" (sample counts stored as floats)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def interval(low: float, high: float, kind: str = "ratio") -> str:
    if is_missing(low) or is_missing(high):
        return MISSING
    return f"[{fmt(low, kind)}, {fmt(high, kind)}]"


def format_columns(df: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """A copy with the named columns turned into text; other columns are left as they are."""
    out = df.copy()
    for col, kind in kinds.items():
        if col in out:
            out[col] = [fmt(v, kind) for v in out[col]]
    return out.fillna(MISSING) if not out.empty else out
