"""Where a named dataset is looked for, in order, before anything is downloaded.

1. the `data_dir` argument, 2. `$BENCH_DATA_DIR`: each as the directory holding the files or as
its `<name>/` subdirectory; 3. the user cache `<cache>/datasets/<name>/` (where downloads go);
4. system locations (Debian's /usr/share/datasets/fashion-mnist). The first directory holding
the split's files wins; a corrupt file there is an error, not a reason to look further.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from bench.data import cifar, idx
from bench.data.paths import dataset_cache_dir
from bench.errors import DataError

# How to recognise each dataset's files in a directory: returns what to read, or None.
FINDERS: dict[str, Callable[[Path, str], Path | None]] = {
    "mnist": idx.find_in,
    "fashion-mnist": idx.find_in,
    "cifar10": cifar.find_in,
}
SYSTEM_DIRS: dict[str, list[Path]] = {"fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")]}


def candidate_dirs(name: str, data_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """The directories searched for `name`, in lookup order."""
    dirs: list[Path] = []
    for base in (data_dir, os.environ.get("BENCH_DATA_DIR") or None):
        if base is not None:
            base = Path(base).expanduser()
            dirs += [base, base / name]
    dirs.append(dataset_cache_dir(name))
    dirs += SYSTEM_DIRS.get(name, [])
    return dirs


def find(name: str, directory: Path, split: str) -> Path | None:
    """What to read for `split` of `name` in `directory` (a directory or an archive), or None."""
    return FINDERS[name](directory, split) if directory.is_dir() else None


def locate(name: str, split: str, data_dir: str | os.PathLike[str] | None = None) -> tuple[Path | None, list[Path]]:
    """(first match or None, the directories searched): searching never downloads.

    A user directory holding the other split but not this one is an error: falling through
    would silently pair, say, full-MNIST training images with another test set.
    """
    searched = candidate_dirs(name, data_dir)
    other = "test" if split == "train" else "train"
    for directory in searched:
        if (found := find(name, directory, split)) is not None:
            return found, searched
        if directory != dataset_cache_dir(name) and find(name, directory, other) is not None:
            raise DataError(f"{directory} holds the {name} {other} split but not the {split} split; add its files")
    return None, searched
