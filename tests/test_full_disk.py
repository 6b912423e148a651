"""A full disk is one `error:` line and exit 2 in `run`, `report` and `compare`; nothing recorded is lost,
and the same command resumes once there is space. On a real file system: a small tmpfs the test mounts
(root can on the machines CI runs on; skipped, with the reason, only where mounting is refused)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_cli

RUN = ["run", "--variants", "gan", "--frameworks", "torch", "--steps", "2", "--warmup", "1", "--no-report"]


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip() or proc.returncode}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(mnt: Path) -> Path:
    """Take every free byte of the file system (what is left is less than one block)."""
    filler = mnt / "filler"
    f = open(filler, "wb")  # noqa: SIM115 - closed below, where a full disk raises too
    try:
        while True:
            f.write(b"\0" * 4096)
            f.flush()
    except OSError:
        pass
    with contextlib.suppress(OSError):
        f.close()
    return filler


def snapshot(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and ".lock" not in p.name}  # fmt: skip


def one_error(proc: subprocess.CompletedProcess) -> str:
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert len(errors) == 1 and "no space left" in errors[0], proc.stderr[-3000:]
    return errors[0]


def test_a_full_disk_is_one_line_loses_nothing_and_the_rerun_resumes(small_disk):
    results = small_disk / "results"
    assert run_cli(*RUN, "--results-dir", str(results)).returncode == 0
    before = snapshot(results)
    assert any(k.startswith("runs/") for k in before)
    filler = fill(small_disk)

    one_error(run_cli(*RUN, "--seeds", "1", "--results-dir", str(results)))
    one_error(run_cli("report", "--results-dir", str(results), "--out", str(small_disk / "report")))
    one_error(run_cli("compare", str(results), str(results), "--out", str(small_disk / "compare")))
    after = snapshot(results)
    assert {k: v for k, v in after.items() if k in before} == before, "a recorded file changed"
    assert not [k for k in after if k.startswith("runs/") and k not in before], "a run row appeared"

    filler.unlink()
    proc = run_cli(*RUN, "--seeds", "0,1", "--results-dir", str(results))
    assert proc.returncode == 0, proc.stderr
    assert "already done" in proc.stderr and len(list((results / "runs").glob("*.parquet"))) == 2
    assert os.path.ismount(small_disk)
