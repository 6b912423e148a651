"""Harness-owned randomness: same seed, same draws; streams independent; epochs without repeats."""

import numpy as np

from bench.inputs import InputStream, fixed_noise, labeled_mask, rngs, scale_images, to_uint8
from bench.variants import get_variant, variant_arch


def _stream(name="dcgan", seed=0, n=300, batch=64, fraction=1.0):
    v = get_variant(name)
    a = variant_arch(v)
    images = np.random.default_rng(99).integers(0, 256, (n, *a.image_shape), dtype=np.uint8)
    return InputStream(images, np.arange(n) % 10, a, v, batch, seed, fraction)


def test_same_seed_same_inputs_and_different_seed_different():
    a, b, c = _stream(seed=1), _stream(seed=1), _stream(seed=2)
    for _ in range(3):
        x, y, z = a.next(), b.next(), c.next()
        np.testing.assert_array_equal(x.x, y.x)
        np.testing.assert_array_equal(x.z_g, y.z_g)
    assert not np.array_equal(x.z_g, z.z_g)


def test_an_epoch_visits_each_image_at_most_once():
    s = _stream(n=256, batch=64)
    seen = np.concatenate([s._indices() for _ in range(4)])
    assert len(np.unique(seen)) == 256 and s.epoch == 1
    s._indices()
    assert s.epoch == 2


def test_critic_axis_and_noise_kinds():
    wgp = _stream("wgan-gp").next()
    assert wgp.x.shape == (5, 64, 28, 28, 1) and wgp.z_d.shape == (5, 64, 100)
    assert wgp.eps.min() > 0 and wgp.eps.max() < 1
    gan = _stream("gan", batch=128).next()
    assert gan.z_g.min() >= -1 and gan.z_g.max() <= 1 and gan.z_g.shape == (128, 96)
    cgan = _stream("cgan").next()
    assert set(np.unique(cgan.g_g)) <= set(range(10)) and len(np.unique(cgan.g_g)) > 1


def test_scaling_round_trip_and_ranges():
    img = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    for rng in ((-1.0, 1.0), (0.0, 1.0)):
        x = scale_images(img, rng)
        assert x.dtype == np.float32 and x.min() == rng[0] and x.max() == rng[1]
        np.testing.assert_array_equal(to_uint8(x, rng), img)


def test_labeled_mask_fraction_and_fixed_noise():
    m = labeled_mask(1000, 0.1, rngs(0)["labeled"])
    assert m.sum() == 100
    arch = variant_arch(get_variant("cgan"))
    z1, l1 = fixed_noise(3, arch, 20, True)
    z2, _ = fixed_noise(3, arch, 20, True)
    np.testing.assert_array_equal(z1, z2)
    assert list(l1[:12]) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
