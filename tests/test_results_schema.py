"""The column registry (bench/columns.py) is the one source of the results schema: the committed page is
what the generator writes, and real runs write exactly the registered columns with the registered types."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench import schema
from bench.columns import COLUMNS


def test_the_schema_page_is_what_the_generator_writes():
    assert schema.PAGE.read_text(encoding="utf-8") == schema.render(), "run `python -m bench.schema`"
    assert schema.main(["--check"]) == 0


def unregistered(results: Path) -> list[str]:
    """Every column a results directory holds that the registry lacks or types otherwise, as text."""
    bad = []
    for table, registered in COLUMNS.items():
        for path in sorted((results / table).glob("*.parquet")):
            for name, dtype in pd.read_parquet(path).dtypes.items():
                want = registered.get(name)
                got = "str" if str(dtype) in ("object", "str", "string") else str(dtype)
                if want is None or want.dtype != got:
                    bad.append(f"{table}/{path.name}: {name} {got} (registry: {want.dtype if want else 'none'})")
    return bad


def missing(results: Path, table: str, skip: tuple[str, ...] = ()) -> set[str]:
    """Registered columns of `table` that no file of it holds."""
    written = set().union(*(set(pd.read_parquet(p).columns) for p in (results / table).glob("*.parquet")))
    return set(COLUMNS[table]) - written - set(skip)


def test_the_check_catches_an_unregistered_column_and_a_wrong_type(tmp_path):
    (tmp_path / "steps").mkdir()
    pd.DataFrame({"run_id": ["r"], "step": [0.5], "colour": ["red"]}).to_parquet(tmp_path / "steps" / "r.parquet")
    assert unregistered(tmp_path) == [
        "steps/r.parquet: step float64 (registry: int64)",
        "steps/r.parquet: colour str (registry: none)",
    ]
