"""The neutral spec: architectures' output shapes and the registry."""

import pytest

from bench.archs import build_arch, output_shape
from bench.spec import RunSpec
from bench.variants import VARIANTS, get_variant, variant_arch
from bench.weights import arch_shapes, count_params

EXPECTED = {  # variant: (G output, D output)
    "gan": ((28, 28, 1), (1,)),
    "dcgan": ((28, 28, 1), (1,)),
    "ssgan": ((28, 28, 1), (11,)),
    "cgan": ((28, 28, 1), (11,)),
    "dcgan-cifar": ((32, 32, 3), (1,)),
    "wgan-gp-64": ((64, 64, 3), (1,)),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_output_shapes_follow_the_spec(name):
    arch = variant_arch(get_variant(name))
    assert output_shape(arch.generator) == EXPECTED[name][0]
    assert output_shape(arch.discriminator) == EXPECTED[name][1]


def test_intermediate_shapes_of_dcgan64():
    from bench.archs import layer_output_shape

    arch = build_arch("dcgan64")
    shape, seen = arch.generator.input_shape, []
    for layer in arch.generator.layers:
        shape = layer_output_shape(layer, shape)
        if layer.kind == "convt":
            seen.append(shape)
    assert seen == [(9, 9, 256), (21, 21, 128), (64, 64, 3)]


def test_wgan_gp_64_critic_has_no_batch_norm():
    arch = variant_arch(get_variant("wgan-gp-64"))
    assert not [layer for layer in arch.discriminator.layers if layer.kind == "bn"]
    assert [layer for layer in build_arch("dcgan64").discriminator.layers if layer.kind == "bn"]


def test_cgan_generator_takes_noise_and_one_hot():
    assert variant_arch(get_variant("cgan")).generator.input_shape == (110,)


def test_parameter_count_of_mlp_gan():
    shapes = arch_shapes(variant_arch(get_variant("gan")))
    g = 96 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 784 + 784
    d = 784 * 256 + 256 + 256 * 256 + 256 + 256 + 1
    assert count_params(shapes, "G.") == g and count_params(shapes, "D.") == d


def test_registry_holds_every_variant_of_the_spec():
    assert set(VARIANTS) == {
        "gan", "dcgan", "dcgan-mm", "lsgan", "wgan", "wgan-gp", "ssgan", "cgan", "dcgan-cifar", "wgan-gp-64",
    }  # fmt: skip
    assert get_variant("wgan").n_critic == 5 and get_variant("wgan-gp").optimizer.beta1 == 0.0


def test_run_id_is_stable_and_ignores_timeout():
    a = RunSpec("dcgan", "torch", seed=1)
    assert a.run_id == RunSpec("dcgan", "torch", seed=1, timeout=5).run_id
    assert a.run_id != RunSpec("dcgan", "tf", seed=1).run_id
    assert RunSpec.from_dict(a.to_dict()) == a


def test_jobs_enter_the_run_id_only_when_runs_share_the_machine():
    import hashlib
    import json

    spec = RunSpec("dcgan", "torch", seed=1)
    later = (
        "jobs",
        "compile_cache",
        "precision",
        "loss_scaler",
        "eval_every",
    )  # added after runs were recorded, left out at defaults
    before = {k: v for k, v in spec.to_dict().items() if k not in (*RunSpec._NOT_IN_ID, *later)}
    digest = hashlib.sha1(json.dumps(before, sort_keys=True).encode()).hexdigest()[:10]
    assert spec.run_id.endswith(digest)  # the id of a run recorded before `jobs` existed
    assert spec.with_(jobs=2).run_id != spec.run_id
    assert spec.with_(eval_every=10).run_id != spec.run_id  # a run scored along training holds more results
    assert spec.with_(checkpoint_every=10).run_id == spec.run_id  # checkpoints change no result
