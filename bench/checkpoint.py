"""A run's whole training state on disk, so that an interrupted run continues where it stopped.

One checkpoint is one `.npz` file (numpy arrays only: read back with allow_pickle=False, so a file
cannot make the reader build arbitrary objects) named `ckpt-<step>-<sha256[:16]>.npz`: the name
carries the checksum of the bytes, the file appears by one atomic rename, and a truncated or
bit-flipped file no longer matches its name. It holds
  fw/<key>        the framework's own state: weights, optimiser state, batch-norm statistics,
                  loss scales, dropout generator (the Trainer's checkpoint_state/restore_state)
  weights/<name>  G's and D's weights in the canonical layout (bench/weights.py), for reading
  loop/...        the step rows and timed intervals so far
  meta            JSON: step, interval, the data order position and the noise generators' states,
                  the steps it was resumed from, the loop's timings, the run's spec, and its
                  provenance (seed and the sha256 of the data it trains on)
The last KEEP checkpoints are kept. `latest` returns the newest one that verifies (its checksum, its
array headers against its bytes, then what the caller checks: `bench.resume.belongs`), naming each
one it had to pass over in one warning line.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.files import FILE_MODE, sha256_file, write_atomic

KEEP = 2
NAME = re.compile(r"ckpt-(\d{8})-([0-9a-f]{16})\.npz")


@dataclass
class Checkpoint:
    step: int
    arrays: dict[str, np.ndarray]
    meta: dict
    path: Path

    def group(self, prefix: str) -> dict[str, np.ndarray]:
        """The arrays under `prefix/`, the prefix removed."""
        n = len(prefix) + 1
        return {k[n:]: v for k, v in self.arrays.items() if k.startswith(prefix + "/")}


def save(folder: Path, step: int, arrays: dict[str, np.ndarray], meta: dict, before_rename=lambda: None) -> Path:
    """Write a checkpoint atomically; drop all but the newest KEEP. `before_rename` is a test hook."""
    objects = [k for k, v in arrays.items() if np.asarray(v).dtype.hasobject]
    if objects:  # they would be pickled, and the reader refuses pickles
        raise TypeError(f"checkpoint arrays must be plain numbers or text, not objects: {objects[:3]}")
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".ckpt-", suffix=".tmp", dir=folder)
    os.fchmod(fd, FILE_MODE)  # result files follow the umask, as the tables do
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta)), **arrays)
            f.flush()
            os.fsync(f.fileno())
        digest = sha256_file(Path(tmp))
        before_rename()
        path = folder / f"ckpt-{step:08d}-{digest[:16]}.npz"
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    keep_newest(folder, KEEP)
    for old in folder.glob(".ckpt-*.tmp"):  # writes a kill interrupted
        old.unlink(missing_ok=True)
    return path


def keep_newest(folder: Path, n: int) -> None:
    for old in checkpoints(folder)[n:]:
        old.unlink(missing_ok=True)


def step_of(path: Path) -> int:
    return int(NAME.fullmatch(path.name).group(1))


def checkpoints(folder: Path) -> list[Path]:
    """Checkpoint files, newest step first (temporary files of an interrupted write are not listed)."""
    found = [p for p in folder.glob("ckpt-*.npz") if NAME.fullmatch(p.name)] if folder.is_dir() else []
    return sorted(found, key=lambda p: int(NAME.fullmatch(p.name).group(1)), reverse=True)


def read(path: Path) -> Checkpoint:
    """One checkpoint; ValueError when its bytes do not match the checksum in its name, or when it is not an
    archive of plain arrays whose headers agree with the bytes stored (checked before anything is allocated)."""
    m = NAME.fullmatch(path.name)
    if m is None or sha256_file(path)[:16] != m.group(2):
        raise ValueError("its checksum does not match (truncated or corrupted)")
    try:
        check_members(path)
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (zipfile.BadZipFile, KeyError, EOFError, json.JSONDecodeError) as e:
        raise ValueError(f"it is not a checkpoint archive ({type(e).__name__}: {e})") from None
    if not isinstance(meta, dict):
        raise ValueError("its meta record is not a JSON object")
    return Checkpoint(int(m.group(1)), arrays, meta, path)


def check_members(path: Path) -> None:
    """Every member a stored .npy of a plain dtype whose header claims no more bytes than the member holds:
    a crafted header (10^13 values) is refused here instead of allocating what it claims."""
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            if not info.filename.endswith(".npy") or info.compress_type != zipfile.ZIP_STORED:
                raise ValueError(f"it holds {info.filename!r}, not a stored array")
            with z.open(info) as f:
                version = np.lib.format.read_magic(f)
                header = (
                    np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                )
                shape, _, dtype = header(f)
                if dtype.hasobject:
                    raise ValueError(f"its {info.filename} holds Python objects")
                if math.prod(shape) * dtype.itemsize > info.file_size - f.tell():
                    raise ValueError(f"its {info.filename} claims more values than it holds")


def latest(
    folder: Path, warn: Callable[[str], None], verify: Callable[[Checkpoint], None] = lambda c: None
) -> Checkpoint | None:
    """The newest checkpoint that reads and that `verify` accepts (it raises ValueError with the reason),
    or None (start at step 0); each one passed over is named in one warning line."""
    paths = checkpoints(folder)
    for i, path in enumerate(paths):
        try:
            ckpt = read(path)
            verify(ckpt)
            return ckpt
        except (OSError, ValueError, KeyError, TypeError) as e:
            older = "the one before" if i + 1 < len(paths) else "step 0"
            warn(f"warning: checkpoint {path} is unusable ({e}); resuming from {older}")
    return None


def add_file(folder: Path, name: str, data: bytes) -> None:
    """Store a checkpoint file received from elsewhere (a Ray task) under its own name, atomically, and
    keep the newest KEEP; a name that is not a checkpoint's is refused (it names what is written)."""
    if NAME.fullmatch(name) is None:
        raise ValueError(f"not a checkpoint file name: {name!r}")
    write_atomic(folder, name, data)
    keep_newest(folder, KEEP)


def run_folder(results_dir: Path, run_id: str) -> Path:
    """Where a run's checkpoints live in a results directory (the local executor's layout)."""
    from bench.results import check_run_id

    return Path(results_dir) / "checkpoints" / check_run_id(run_id)


def clear(folder: Path) -> None:
    """Remove a run's checkpoints (a forced rerun starts from step 0); only files this module names."""
    for p in [*checkpoints(folder), *folder.glob(".ckpt-*.tmp")] if folder.is_dir() else []:
        p.unlink(missing_ok=True)
