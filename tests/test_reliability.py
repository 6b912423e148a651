"""Issue 13: every bad input refused before any work, results directories that survive their
neighbours, corrupt files and killed orchestrators, and nothing written or deleted outside them.

Most refusals are checked in-process (fast) with the worker launcher replaced by a tripwire, so
"no worker started" is asserted, not assumed; the rest run the CLI as a user would.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import bench.executor
from bench import cli
from bench.errors import BenchError
from bench.executor import exit_reason, fresh_workdir
from bench.results import FILE_MODE, load, load_table, table_path
from bench.spec import RunSpec
from bench.validate import check_spec
from tests.conftest import REPO, run_cli
from tests.test_executor import workers_of

FAST = ["--frameworks", "torch", "--steps", "2", "--warmup", "1", "--fid-samples", "0", "--no-report"]
BASE_SUITE = 'variants = ["gan"]\nframeworks = ["torch"]\nsteps = 2\nwarmup = 1\nfid_samples = 0\n'


@pytest.fixture
def tripwire(monkeypatch) -> list:
    """Replaces the worker launcher: a started worker fails the test."""
    started: list = []

    def launch(*args, **kwargs):
        started.append(args)
        raise AssertionError("a worker was started for input that should have been refused")

    monkeypatch.setattr(bench.executor, "_run_in", launch)
    return started


def refused(argv: list[str], capsys) -> str:
    """Run the CLI in-process; it must return 2 with one `error:` line and no traceback."""
    code = cli.main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def snapshot(root: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in root.rglob("*")}


# 1. Path escape -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", ['"/../../../../X"', '"*"', '"../x"', "-1"])
def test_a_seed_cannot_become_a_path_outside_the_results_directory(tmp_path, seed, capsys, tripwire):
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "keep.parquet").write_text("someone else's file")
    suite = tmp_path / "s.toml"
    suite.write_text(BASE_SUITE + f"seeds = [{seed}]\n")
    before = snapshot(tmp_path)
    line = refused(["run", "--suite-file", str(suite), "--results-dir", str(tmp_path / "a" / "b" / "results")], capsys)
    assert "seed" in line
    assert snapshot(tmp_path) == before  # nothing appeared, nothing was deleted
    assert not tripwire


def test_unsafe_run_ids_never_touch_the_filesystem(tmp_path):
    (tmp_path / ".work").mkdir()
    victim = tmp_path / "victim"
    victim.mkdir()
    for bad in ("../victim", "*", "a/b", ""):
        with pytest.raises(BenchError, match="unsafe run id"):
            fresh_workdir(tmp_path / ".work", bad)
        with pytest.raises(BenchError, match="unsafe run id"):
            table_path(tmp_path, "runs", bad)
    assert victim.is_dir()
    with pytest.raises(BenchError, match="seed must be an integer"):
        check_spec(RunSpec("gan", "torch", seed="/../../X"))  # type: ignore[arg-type]


def test_a_fresh_work_directory_removes_only_its_own_run(tmp_path):
    root = tmp_path / ".work"
    for name in ("gan-a-1", "gan-ab-2", "gan-a"):
        (root / name).mkdir(parents=True)
    new = fresh_workdir(root, "gan-a")
    assert sorted(p.name for p in root.iterdir() if p != new) == ["gan-a", "gan-ab-2"]


# 2. Two orchestrators on one results directory -----------------------------------------------


def test_a_second_orchestrator_is_refused_and_the_first_completes(tmp_path):
    args = ["run", "--variants", "gan", "--seeds", "0,1,2", "--results-dir", str(tmp_path), *FAST]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    first = subprocess.Popen([sys.executable, "-m", "bench", *args], cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    deadline = time.time() + 60
    while not workers_of(tmp_path) and time.time() < deadline:
        time.sleep(0.1)
    assert workers_of(tmp_path), "the first orchestrator started no worker"
    second = run_cli(*args)
    assert second.returncode == 2, second.stderr
    line = second.stderr.strip()
    assert line.startswith(f"error: results directory {tmp_path} is in use by another bench run (pid {first.pid}")
    assert "\n" not in line
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0 and "Traceback" not in err, err
    runs, steps = load(tmp_path)
    assert sorted(runs["seed"]) == [0, 1, 2] and set(runs["status"]) == {"ok"} and runs["run_id"].is_unique
    assert len(steps) == 3 * 3 and not steps.duplicated(["run_id", "step"]).any()


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path, capsys, tripwire, monkeypatch):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from bench.lock import results_lock\n"
                               "with results_lock(sys.argv[1]):\n print('held', flush=True); time.sleep(600)",
                               str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    line = refused(["run", "--variants", "gan", "--results-dir", str(tmp_path), *FAST], capsys)
    assert f"(pid {holder.pid} on " in line and "wait for it to finish, or use another --results-dir" in line
    holder.kill()  # kill -9: the kernel drops its flock; the stale .lock file stays behind
    holder.wait()
    assert json.loads((tmp_path / ".lock").read_text())["pid"] == holder.pid
    monkeypatch.setattr(bench.executor, "_run_in", lambda *a: {"status": "failed", "reason": "stub worker"})
    assert cli.main(["run", "--variants", "gan", "--results-dir", str(tmp_path), *FAST]) == 1
    assert "stub worker" in capsys.readouterr().out  # the run went ahead under the taken-over lock


# 3. Corrupt or foreign table files ---------------------------------------------------------


def test_corrupt_and_foreign_files_are_named_and_skipped_by_load_report_and_run(tmp_path):
    assert run_cli("run", "--variants", "gan", "--results-dir", str(tmp_path), *FAST).returncode == 0
    good = next((tmp_path / "runs").glob("*.parquet"))
    truncated = tmp_path / "runs" / "gan-torch-s9-r0-0123456789.parquet"
    truncated.write_bytes(good.read_bytes()[:200])
    foreign = tmp_path / "runs" / "notes.parquet"
    pd.DataFrame({"x": [1]}).to_parquet(foreign)
    evil = tmp_path / "runs" / "evil.parquet"
    pd.DataFrame({"run_id": ["../../evil"], "variant": ["gan"], "framework": ["torch"], "status": ["ok"]}).to_parquet(
        evil
    )
    (tmp_path / "steps" / "junk.parquet").write_bytes(b"PAR1 not really")
    warnings: list[str] = []
    runs = load_table(tmp_path, "runs", warn=warnings.append)
    assert list(runs["run_id"]) == [good.stem]
    assert sorted(warnings) == sorted([
        f"warning: skipping {evil}: holds a run_id that is not a valid run id",
        f"warning: skipping {truncated}: not a readable Parquet file (ArrowInvalid)",
        f"warning: skipping {foreign}: not a runs table (no run_id, variant, framework, status column)",
    ])  # fmt: skip
    report = run_cli("report", "--results-dir", str(tmp_path), "--out", str(tmp_path.parent / "rep"))
    assert report.returncode == 0 and "Traceback" not in report.stderr, report.stderr
    assert str(truncated) in report.stderr and str(tmp_path / "steps" / "junk.parquet") in report.stderr
    p = run_cli("run", "--variants", "gan,dcgan", "--results-dir", str(tmp_path), *FAST[:-1])  # with the report
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    assert sum(line.startswith("warning: skipping") for line in p.stderr.splitlines()) == 4  # once per file
    runs, _ = load(tmp_path)
    assert sorted(runs["variant"]) == ["dcgan", "gan"] and runs["fid_reason"].notna().all()


# 4. An explicit data directory without data ------------------------------------------------


def test_a_data_dir_without_data_is_refused_not_replaced_by_mnist5k(tmp_path, capsys, tripwire):
    (tmp_path / "empty").mkdir()
    line = refused(["run", "--variants", "gan", "--data-dir", str(tmp_path / "empty"), "--results-dir",
                    str(tmp_path / "r"), *FAST], capsys)  # fmt: skip
    assert line == f"error: data directory {tmp_path / 'empty'} holds none of the datasets these runs use (mnist)"
    line = refused(["run", "--variants", "gan", "--data-dir", str(tmp_path / "nope"), "--results-dir",
                    str(tmp_path / "r"), *FAST], capsys)  # fmt: skip
    assert "does not exist" in line and not (tmp_path / "r").exists()


# 5 and 6. Refused before any work, as one line ---------------------------------------------


def suite_file(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "suite.toml"
    path.write_text(text)
    return ["--suite-file", str(path)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--suite-file", "SUITE:steps_per_variant = 5"], "steps_per_variant must be a table of variant = integer"),
        (["--suite-file", 'SUITE:fid_samples = "x"'], "fid_samples must be an integer, got 'x'"),
        (["--suite-file", 'SUITE:seeds = ["a"]'], "seeds must be a list of integers, got ['a']"),
        (["--suite-file", "SUITE:steps = 3.5"], "steps must be an integer, got 3.5"),
        (["--suite-file", 'SUITE:variants = "gan"'], "variants must be a list of strings, got 'gan'"),
        (["--suite-file", 'SUITE:variants = ["gan", "gan"]'], "variant 'gan' is listed twice"),
        (["--suite-file", "SUITE:modes = []"], "the suite has no runs"),
        (["--timeout", "nan"], "timeout must be a finite number of seconds"),
        (["--timeout", "inf"], "timeout must be a finite number of seconds"),
        (["--steps", str(10**23)], "steps must be an integer from 1 to 10,000,000"),
        (["--device", "99"], "no GPU 99 on this machine"),
        (["--batch-size", "5000"], "batch size 5000 (gan) is larger than the mnist-5k training split (4,000 images)"),
        (["--threads", "-1"], "threads must be an integer from 0"),
        (["--jobs", "0"], "jobs must be an integer from 1"),
        (["--seeds", "-1"], "seed must be an integer from 0"),
    ],
)
def test_bad_values_are_refused_before_any_worker(tmp_path, args, message, capsys, tripwire):
    if args[0] == "--suite-file":
        line = args[1].removeprefix("SUITE:")
        args = suite_file(tmp_path, ("" if line.startswith("variants") else 'variants = ["gan"]\n') + line + "\n")
    results = tmp_path / "results"
    rest = ["--variants", "gan", "--frameworks", "torch", "--fid-samples", "0", "--no-report"]
    line = refused(["run", *args, *(rest if "--suite-file" not in args else []), "--results-dir", str(results)], capsys)
    assert message in line
    assert not results.exists() and not tripwire


def test_a_results_dir_that_is_a_file_is_refused(tmp_path, capsys, tripwire):
    (tmp_path / "results").write_text("not a directory")
    line = refused(["run", "--variants", "gan", "--results-dir", str(tmp_path / "results"), *FAST], capsys)
    assert line == f"error: results directory {tmp_path / 'results'} is not a directory (a file is in the way)"
    assert (tmp_path / "results").read_text() == "not a directory"


def unwritable_dir(tmp_path: Path) -> Path:
    """An existing directory this process cannot create files in (root writes through chmod: use sysfs)."""
    if os.geteuid() != 0:
        (tmp_path / "ro").mkdir()
        (tmp_path / "ro").chmod(0o555)
        return tmp_path / "ro"
    try:
        os.close(os.open("/sys/kernel/.bench-probe", os.O_CREAT | os.O_WRONLY))
    except OSError:
        return Path("/sys/kernel")
    pytest.skip("no directory here that root cannot write to")


def test_a_results_dir_that_cannot_be_written_is_refused_before_training(tmp_path, capsys, tripwire):
    results = unwritable_dir(tmp_path)
    line = refused(["run", "--variants", "gan", "--results-dir", str(results), *FAST], capsys)
    assert line.startswith(f"error: cannot write to results directory {results} (") and not tripwire


# 7. Failure reasons that say what happened ---------------------------------------------------


def test_killed_workers_and_empty_messages_have_reasons(tmp_path):
    env = {"BENCH_TEST_KILL": "gan", "BENCH_TEST_RAISE": "dcgan:MemoryError"}
    p = run_cli("run", "--variants", "gan,dcgan", "--results-dir", str(tmp_path), *FAST, env=env)
    assert p.returncode == 1, p.stderr
    runs, _ = load(tmp_path)
    reasons = dict(zip(runs["variant"], runs["reason"], strict=True))
    assert reasons["gan"] == "worker killed by SIGKILL, possibly out of memory (the kernel's OOM killer sends SIGKILL)"
    assert reasons["dcgan"] == "MemoryError (no message)"


def test_exit_reasons(tmp_path):
    log = tmp_path / "stderr.log"
    log.write_text("Traceback ...\nValueError: boom\n\n")
    assert exit_reason(3, log) == "worker exited with code 3: ValueError: boom"
    assert exit_reason(-signal.SIGTERM, log) == "worker killed by SIGTERM"
    assert exit_reason(-200, log) == "worker killed by signal 200"


# 8. Bad data: refused up front with exit 2 ---------------------------------------------------


def test_corrupt_mnist_is_refused_before_the_suite(tmp_path, mnist_dir, capsys, tripwire):
    data = tmp_path / "mnist"
    shutil.copytree(mnist_dir, data)
    target = data / "train-labels-idx1-ubyte.gz"
    target.write_bytes(target.read_bytes()[:-40])  # truncated download
    line = refused(["run", "--variants", "gan", "--data-dir", str(data), "--results-dir", str(tmp_path / "r"), *FAST],
                   capsys)  # fmt: skip
    assert line.startswith(f"error: {target}: corrupt gzip file") and not (tmp_path / "r").exists()
    tampered = bytearray(gzip.decompress((mnist_dir / target.name).read_bytes()))
    tampered[-1] = (tampered[-1] + 1) % 10  # one label changed: parses, fails its checksum
    target.write_bytes(gzip.compress(bytes(tampered)))
    line = refused(["run", "--variants", "gan", "--data-dir", str(data), "--results-dir", str(tmp_path / "r"), *FAST],
                   capsys)  # fmt: skip
    assert "checksum mismatch" in line and "python -m bench download" in line and "from Python, verify=False" in line


def test_a_missing_dataset_says_what_a_command_line_user_can_do(tmp_path):
    from bench.data import dataset_available

    present, why = dataset_available("cifar10", tmp_path)
    assert not present and why.endswith("or fetch them with `python -m bench download cifar10`)")
    assert "load_dataset" not in why


# 9. Housekeeping -----------------------------------------------------------------------------


def test_result_files_are_readable_by_the_group_and_timeouts_leave_no_work_directory(tmp_path):
    assert run_cli("run", "--variants", "gan", "--results-dir", str(tmp_path), *FAST).returncode == 0
    files = [f for t in ("runs", "steps", "intervals", "metrics") for f in (tmp_path / t).glob("*.parquet")]
    assert len(files) == 4 and {f.stat().st_mode & 0o777 for f in files} == {FILE_MODE}
    assert FILE_MODE & 0o040  # group-readable under the usual umask (mkstemp gave 0600)
    p = run_cli("run", "--variants", "lsgan", "--timeout", "5", "--results-dir", str(tmp_path), *FAST,
                env={"BENCH_TEST_HANG": "lsgan"})  # fmt: skip
    assert p.returncode == 1 and "timeout lsgan torch" in p.stdout, p.stdout + p.stderr
    assert not list((tmp_path / ".work").iterdir()), "a run left its work directory behind"


# 10. Jobs never silently halve a run's threads --------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["--variants", "dcgan"],  # no suite named: one run at a time
        ["--suite", "quick", "--variants", "gan", "--frameworks", "torch"],  # quick's jobs = 2, one run
    ],
)
def test_an_ad_hoc_run_or_a_single_run_gets_every_core(argv):
    _, specs = cli.plan(cli.build_parser().parse_args(["run", *argv]))
    assert {(s.jobs, s.threads) for s in specs} == {(1, 0)}


def test_the_quick_suite_still_runs_two_at_a_time():
    _, specs = cli.plan(cli.build_parser().parse_args(["run", "--suite", "quick"]))
    assert {s.jobs for s in specs} == {2} and all(s.threads >= 1 for s in specs)


# Property: generated garbage suite files -----------------------------------------------------

INT_FIELDS = ("steps", "warmup", "repeats", "intervals", "jobs", "fid_samples")
NAME_FIELDS = ("variants", "frameworks", "modes", "datasets")


def garbage_value(field: str, rng: random.Random) -> object:
    """A value that is wrong for `field`: a wrong type, out of range, non-finite, or a bad name."""
    wrong_types = ["x", "12", 3.5, True, [1], {"a": 1}, math.nan, math.inf, -math.inf, random_text(rng)]
    if field in INT_FIELDS:
        return rng.choice([*wrong_types, -1, -(10 ** rng.randint(1, 18)), 10 ** rng.randint(8, 18)])
    if field == "timeout":
        return rng.choice(["x", True, [1], math.nan, math.inf, -1, 0, 10**12, -(10**18)])
    if field in NAME_FIELDS:
        bad_name = rng.choice(["../../x", "/etc/passwd", "a/b", "gan/..", "gan\x00", "*", random_text(rng)])
        return rng.choice([bad_name, [bad_name], [1], [3.5], [True], [["gan"]], {"gan": 1}, 7])
    if field in ("seeds", "batch_sizes"):
        return rng.choice(["a", ["a"], [-1], [2**40], [3.5], [math.nan], [True], ["/../../../X"], [0, 0], 5])
    if field == "steps_per_variant":
        return rng.choice([5, "x", [1], {"gan": "x"}, {"gan": -1}, {"nope": 3}, {"../x": 3}, {"gan": 10**18}])
    if field == "name":
        return rng.choice([5, [1], {"a": 1}, "", "a\nb", "\x1b[2J", True])
    return rng.choice([5, [1], {"a": 1}, True])  # description


def random_text(rng: random.Random) -> str:
    """Unicode with separators, controls and wide characters (no surrogates: TOML cannot hold them)."""
    pools = [range(0x20, 0x7F), range(0x00, 0x20), range(0xA0, 0x2FF), range(0x4E00, 0x4E80), range(0x1F600, 0x1F650)]
    chars = [chr(rng.choice(rng.choice(pools))) for _ in range(rng.randint(1, 12))]
    return "".join(chars) + rng.choice(["", "/", "/../", "\\", "\u202e"])


def toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(map(toml, value)) + "]"
    return "{" + ", ".join(f"{toml(k)} = {toml(v)}" for k, v in value.items()) + "}"


def garbage_suite(rng: random.Random) -> str:
    """A valid small suite with one to three fields made wrong, or an unknown key added."""
    fields = ["variants", "frameworks", "modes", "datasets", "seeds", "batch_sizes", "steps_per_variant", "name",
              "description", "timeout", *INT_FIELDS]  # fmt: skip
    table: dict = {"variants": ["gan"], "frameworks": ["torch"], "steps": 2, "warmup": 1, "fid_samples": 0}
    for field in rng.sample(fields, rng.randint(1, 3)):
        table[field] = garbage_value(field, rng)
    if rng.random() < 0.15:
        table[rng.choice(["stepz", "é", "a/b", random_text(rng)])] = 1
    return "".join(f"{toml(k)} = {toml(v)}\n" for k, v in table.items())


def test_generated_garbage_suite_files_are_refused_in_one_line(tmp_path, capsys, tripwire):
    rng = random.Random(13)
    results = tmp_path / "results"
    for case in range(300):
        text = garbage_suite(rng)
        path = tmp_path / f"garbage-{case}.toml"
        path.write_text(text, encoding="utf-8")
        code = cli.main(["run", "--suite-file", str(path), "--results-dir", str(results), "--no-report"])
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (text, err)
        assert not results.exists() and not tripwire, text


# Soak: an orchestrator killed at random points, ten times ------------------------------------------


@pytest.mark.slow
def test_killed_at_random_points_ten_times_every_run_is_recorded_exactly_once(tmp_path):
    rng = random.Random(7)
    args = [
        sys.executable,
        "-m",
        "bench",
        "run",
        "--variants",
        "gan",
        "--seeds",
        "0,1,2,3,4",
        "--results-dir",
        str(tmp_path),
        *FAST[:-1],
    ]  # fmt: skip (with the report: kills land there too)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    recorded = 0
    for _ in range(10):
        proc = subprocess.Popen(args, cwd=REPO, env=env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(rng.uniform(0.5, 8.0))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.time() + 20
        while workers_of(tmp_path) and time.time() < deadline:
            time.sleep(0.2)
        now = len(list((tmp_path / "runs").glob("*.parquet"))) if (tmp_path / "runs").is_dir() else 0
        assert now >= recorded, "a recorded run was lost"
        recorded = now
    final = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=540)
    assert final.returncode == 0 and "Traceback" not in final.stderr, final.stderr
    runs, steps = load(tmp_path)
    assert sorted(runs["seed"]) == [0, 1, 2, 3, 4] and runs["run_id"].is_unique and set(runs["status"]) == {"ok"}
    assert len(steps) == 5 * 3 and not steps.duplicated(["run_id", "step"]).any()
    intervals, metrics = load_table(tmp_path, "intervals"), load_table(tmp_path, "metrics")
    assert not intervals.duplicated(["run_id", "interval"]).any() and sorted(metrics["run_id"]) == sorted(
        runs["run_id"]
    )
    assert not [p for p in tmp_path.rglob("*.tmp")], "a half-written table file was left behind"
