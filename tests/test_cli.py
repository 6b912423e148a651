"""CLI errors are one line with exit 2; `list` reports what exists."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--variants", "nope"], "unknown variant 'nope'"),
        (["run", "--frameworks", "mxnet"], "unknown framework 'mxnet'"),
        (["run", "--batch-size", "0"], "batch size must be an integer from 1 to 65,536, got 0"),
        (["run", "--steps", "-3"], "steps must be an integer from 1 to"),
        (["run", "--suite", "huge"], "unknown suite 'huge'"),
        (["run", "--suite-file", "/no/such/suite.toml"], "cannot read suite file /no/such/suite.toml"),
        (["run", "--device", "gpu"], "device must be 'cpu' or a GPU index"),
        (["run", "--seeds", "a,b"], "expected comma-separated int values"),
        (["run", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["run", "--variants", "dcgan-cifar", "--dataset", "mnist"], "dataset mnist has 28x28x1 images but variant"),
        (["run", "--variants", "gan", "--dataset", "cifar10"], "needs 28x28x1"),
        (["run", "--labeled-fraction", "1.5"], "labeled fraction must be in [0, 1]"),
        (["fid", "a"], "the following arguments are required: B"),  # was the whole usage text, then the error
        (["fid", "a", "b", "--runtime", "tpu"], "invalid choice: 'tpu'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path):
    p = run_cli(*args, "--results-dir", str(tmp_path)) if args[0] == "run" else run_cli(*args)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], p.stderr
    assert "Traceback" not in p.stderr and not any(tmp_path.iterdir())


def test_unreadable_and_invalid_suite_files(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("variants = [gan\n")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('variants = ["gan"]\nsteppes = 3\n')
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    for path, message in ((bad, "is not valid TOML"), (unknown, "unknown keys steppes"), (binary, "not valid TOML")):
        p = run_cli("run", "--suite-file", str(path), "--results-dir", str(tmp_path / "r"))
        assert p.returncode == 2 and message in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_list_shows_variants_suites_datasets_and_frameworks():
    p = run_cli("list")
    assert p.returncode == 0, p.stderr
    for word in ("variants:", "wgan-gp-64", "suites:", "losses", "datasets:", "cifar10", "frameworks:"):
        assert word in p.stdout
    assert "torch  imports" in p.stdout and "tf     imports" in p.stdout
