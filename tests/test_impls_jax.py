"""JAX's own pieces where it departs from the framework's defaults: the transposed convolution written
as output phases (against XLA's), max-pooling with its own gradient (against Flax's), Optax's RMSprop
told to keep eps outside the root, and batch norm's unbiased running variance. Skipped where JAX is not
installed (it is an optional framework)."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

from bench.archs import layer_output_shape  # noqa: E402
from bench.spec import BN_MOMENTUM, OptimizerSpec  # noqa: E402
from bench.variants import VARIANTS, variant_arch  # noqa: E402
from impls_jax.layers import BatchNorm, conv_transpose, conv_transpose_reference, convt_pads, max_pool  # noqa: E402
from impls_jax.optim import make_optimizer  # noqa: E402


def convt_layers() -> set[tuple[int, int, str, int]]:
    """(kernel, stride, padding, input size) of every transposed convolution in the spec."""
    found = set()
    for v in VARIANTS.values():
        net = variant_arch(v).generator
        shape = tuple(net.input_shape)
        for layer in net.layers:
            if layer.kind == "convt":
                found.add((layer.kernel, layer.stride, layer.padding, shape[0]))
            shape = layer_output_shape(layer, shape)
    return found


@pytest.mark.parametrize(("k", "s", "padding", "n"), sorted(convt_layers()))
def test_transposed_convolution_by_phases_is_xlas_with_its_gradients(k, s, padding, n):
    rng = np.random.default_rng(k * 100 + s * 10 + n)
    pads = convt_pads(k, s, padding)
    x, kernel = (jnp.asarray(rng.normal(size=shape), jnp.float32) for shape in ((2, n, n, 3), (k, k, 4, 3)))
    want = conv_transpose_reference(x, kernel, s, pads)
    got = conv_transpose(x, kernel, s, pads)
    assert got.shape == want.shape and (padding != "same" or want.shape[1] == n * s)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * float(jnp.abs(want).max()))
    dy = jnp.asarray(rng.normal(size=want.shape), jnp.float32)
    grads = [jax.grad(lambda a, b, f=f: jnp.sum(f(a, b, s, pads) * dy), (0, 1))(x, kernel) for f in
             (conv_transpose, conv_transpose_reference)]  # fmt: skip
    for got_g, want_g in zip(*grads, strict=True):
        np.testing.assert_allclose(got_g, want_g, rtol=0, atol=1e-5 * float(jnp.abs(want_g).max()))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_max_pool_is_flaxs_with_its_first_maximum_gradient_and_second_derivatives(dtype):
    import flax.linen as nn

    jax.config.update("jax_enable_x64", dtype == "float64")
    try:
        rng = np.random.default_rng(3)
        x = rng.normal(size=(2, 6, 8, 3)).round(1)  # rounded: many windows hold a tied maximum
        x[0, 0, 0, 0] = x[0, 0, 1, 0] = x[0, 1, 0, 0] = 9.0  # a three-way tie: the first one gets it
        x = jnp.asarray(x, dtype)
        flax_pool = lambda a: nn.max_pool(a, (2, 2), (2, 2), "VALID")  # noqa: E731
        ours = lambda a: max_pool(a, 2)  # noqa: E731
        np.testing.assert_array_equal(ours(x), flax_pool(x))
        dy = jnp.asarray(rng.normal(size=(2, 3, 4, 3)), dtype)
        grads = [jax.vjp(f, x)[1](dy)[0] for f in (ours, flax_pool)]
        np.testing.assert_array_equal(*grads)
        assert float(grads[0][0, 0, 0, 0]) == float(dy[0, 0, 0, 0]) and float(grads[0][0, 0, 1, 0]) == 0.0
        # the gradient penalty differentiates an input gradient once more
        second = [jax.grad(lambda a, f=f: jnp.sum(jax.grad(lambda b: jnp.sum(jnp.sin(f(b)) * dy))(a) ** 2))(x)
                  for f in (ours, flax_pool)]  # fmt: skip
        np.testing.assert_array_equal(*second)
    finally:
        jax.config.update("jax_enable_x64", False)


def test_max_pool_gradient_is_flaxs_under_jit_after_conv_batch_norm_and_leaky_relu():
    """MNIST's flat background makes tied window maxima; under jit XLA recomputes the pooled input inside
    the backward's fusions, so a backward that compared it with the forward's maximum lost windows (a
    gradient off by 40% of its scale, found by L3 parity). The backward must route from the input alone."""
    import flax.linen as nn

    rng = np.random.default_rng(0)
    img = np.full((8, 28, 28, 1), -1.0)
    img[:, 8:20, 8:20] = rng.uniform(-1, 1, (8, 12, 12, 1))
    img = jnp.asarray(img, jnp.float32)
    w = jnp.asarray(rng.normal(size=(3, 3, 1, 16)) * 0.3, jnp.float32)
    dy = jnp.asarray(rng.normal(size=(8, 14, 14, 16)), jnp.float32)

    def grad_of(pool):
        def loss(w):
            h = jax.lax.conv_general_dilated(img, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
            h = (h - jnp.mean(h, (0, 1, 2))) / jnp.sqrt(jnp.var(h, (0, 1, 2)) + 1e-5)
            return jnp.sum(pool(jnp.where(h > 0, h, 0.2 * h)) * dy)

        return jax.jit(jax.grad(loss))(w)

    want = grad_of(lambda h: nn.max_pool(h, (2, 2), (2, 2), "VALID"))
    np.testing.assert_allclose(grad_of(lambda h: max_pool(h, 2)), want, rtol=0, atol=1e-6 * float(jnp.abs(want).max()))


def test_rmsprop_keeps_eps_outside_the_square_root_as_the_spec():
    spec = OptimizerSpec("rmsprop", lr=0.1, alpha=0.9, eps=0.5)
    tx, p, g = make_optimizer(spec), {"w": jnp.array([1.0])}, {"w": jnp.array([0.2])}
    updates, _ = tx.update(g, tx.init(p), p)
    v = (1 - 0.9) * 0.2**2
    np.testing.assert_allclose(updates["w"], [-0.1 * 0.2 / (np.sqrt(v) + 0.5)], rtol=1e-6)  # not sqrt(v + eps)


def test_batch_norm_averages_the_unbiased_variance_and_normalises_with_the_biased_one():
    x = jnp.asarray(np.random.default_rng(0).normal(2.0, 3.0, (8, 5)), jnp.float32)
    module = BatchNorm()
    variables = module.init(jax.random.key(0), x, False)
    y, new = module.apply(variables, x, True, mutable=["batch_stats"])
    mean, var = np.mean(np.asarray(x), 0), np.var(np.asarray(x), 0)
    np.testing.assert_allclose(y, (np.asarray(x) - mean) / np.sqrt(var + 1e-5), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(new["batch_stats"]["var"], (1 - BN_MOMENTUM) + BN_MOMENTUM * var * 8 / 7, rtol=1e-5)
    np.testing.assert_allclose(new["batch_stats"]["mean"], BN_MOMENTUM * mean, rtol=1e-5)
