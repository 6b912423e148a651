"""JAX's own pieces where it departs from the framework's defaults: the transposed convolution written
as output phases (against XLA's), Optax's RMSprop told to keep eps outside the root, and batch norm's
unbiased running variance. Skipped where JAX is not installed (it is an optional framework)."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

from bench.archs import layer_output_shape  # noqa: E402
from bench.spec import BN_MOMENTUM, OptimizerSpec  # noqa: E402
from bench.variants import VARIANTS, variant_arch  # noqa: E402
from impls_jax.layers import BatchNorm, conv_transpose, conv_transpose_reference, convt_pads  # noqa: E402
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
