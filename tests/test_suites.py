"""Suites are data: built-ins expand to the right runs; TOML files load with the same fields."""

from bench.frameworks import FRAMEWORKS
from bench.spec import RunSpec
from bench.suites import BUILTIN, expand, load_suite_file, override
from bench.variants import VARIANTS


def test_quick_and_all_cover_every_variant_in_every_framework():
    for name in ("quick", "all"):
        specs = expand(BUILTIN[name], RunSpec("", ""))
        assert {(s.variant, s.framework) for s in specs} == {(v, f) for v in VARIANTS for f in FRAMEWORKS}


def test_losses_suite_is_the_loss_comparison():
    specs = expand(BUILTIN["losses"], RunSpec("", ""))
    assert {s.variant for s in specs} == {"dcgan-mm", "dcgan", "lsgan", "wgan", "wgan-gp"}
    assert {VARIANTS[s.variant].arch for s in specs} == {"dcgan28"}
    assert len(specs) == 5 * 3 * len(FRAMEWORKS) and {s.seed for s in specs} == {0, 1, 2}


def test_study_suite_runs_both_digit_datasets_at_10k_samples():
    specs = expand(BUILTIN["study"], RunSpec("", ""))
    assert {s.dataset for s in specs} == {"mnist", "fashion-mnist"} and {s.fid_samples for s in specs} == {10000}
    assert {s.steps for s in specs} == {18750}


def test_toml_suite_and_overrides(tmp_path):
    f = tmp_path / "sweep.toml"
    f.write_text(
        'variants = ["dcgan", "gan"]\nframeworks = ["tf"]\nbatch_sizes = [16, 64]\nseeds = [1, 2]\nrepeats = 2\n'
        "steps = 7\n[steps_per_variant]\ngan = 3\n"
    )
    suite = load_suite_file(f)
    specs = expand(suite, RunSpec("", ""))
    assert suite.name == "sweep" and len(specs) == 2 * 2 * 2 * 2
    assert {(s.variant, s.steps) for s in specs} == {("dcgan", 7), ("gan", 3)}
    assert {s.batch_size for s in specs} == {16, 64} and {s.suite for s in specs} == {"sweep"}
    assert len({s.run_id for s in specs}) == len(specs)
    forced = expand(override(suite, steps=5, seeds=(0,)), RunSpec("", ""))
    assert {s.steps for s in forced} == {5} and {s.seed for s in forced} == {0}
