"""Where datasets live on disk: the user cache and the per-dataset directories inside it."""

from __future__ import annotations

from pathlib import Path

from bench.files import cache_root


def dataset_cache_dir(name: str) -> Path:
    """Downloads and extracted archives of dataset `name` go here."""
    return cache_root() / "datasets" / name
