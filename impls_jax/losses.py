"""The spec's objectives on D's logits, in JAX; `impls_torch.losses` computes the same formulas.

BCE is written as softplus on logits (BCE(l, 1) = softplus(-l), BCE(l, 0) = softplus(l)), and every
log-probability of the K+1-way objectives comes from log-softmax / logsumexp.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp

Array = Any
FAKE = 10  # index K of the "fake" class for ssgan/cgan


def d_loss(objective: str, d_real, d_fake, y=None, mask=None, g=None) -> Array:
    """D's loss without the gradient penalty (added by the training step): the sum of its terms."""
    return sum(d_loss_terms(objective, d_real, d_fake, y, mask, g).values())


def d_loss_terms(objective: str, d_real, d_fake, y=None, mask=None, g=None) -> dict[str, Array]:
    """D's loss split into named terms (real, fake, and sup for ssgan), so parity checks see each one."""
    mean, softplus = jnp.mean, jax.nn.softplus
    if objective in ("mm", "ns"):
        return {"real": mean(softplus(-d_real)), "fake": mean(softplus(d_fake))}
    if objective == "ls":
        return {"real": 0.5 * mean((d_real - 1) ** 2), "fake": 0.5 * mean(d_fake**2)}
    if objective in ("wgan", "wgan-gp"):
        return {"real": -mean(d_real), "fake": mean(d_fake)}
    if objective == "ssgan":
        lse_real = logsumexp(d_real, 1)
        not_fake_real = logsumexp(d_real[:, :FAKE], 1) - lse_real  # log(1 - p_K(x))
        fake_fake = d_fake[:, FAKE] - logsumexp(d_fake, 1)  # log p_K(G(z))
        log_py = _pick(d_real, y) - lse_real
        sup = -jnp.sum(log_py * mask) / jnp.maximum(jnp.sum(mask), 1.0)
        return {"real": -mean(not_fake_real), "fake": -mean(fake_fake), "sup": sup}
    if objective == "cgan":
        log_py = _pick(d_real, y) - logsumexp(d_real, 1)
        return {"real": -mean(log_py), "fake": -mean(_log_not_class(d_fake, g))}
    raise ValueError(f"unknown objective {objective!r}")


def g_loss(objective: str, d_fake, g=None) -> Array:
    mean = jnp.mean
    if objective == "mm":
        return -mean(jax.nn.softplus(d_fake))
    if objective == "ns":
        return mean(jax.nn.softplus(-d_fake))
    if objective == "ls":
        return 0.5 * mean((d_fake - 1) ** 2)
    if objective in ("wgan", "wgan-gp"):
        return -mean(d_fake)
    if objective == "ssgan":
        return mean(d_fake[:, FAKE] - logsumexp(d_fake, 1))
    if objective == "cgan":
        return -mean(_pick(d_fake, g) - logsumexp(d_fake, 1))
    raise ValueError(f"unknown objective {objective!r}")


def _pick(logits, cls) -> Array:
    """logits[i, cls[i]] for every row i."""
    return jnp.take_along_axis(logits, cls[:, None], axis=1)[:, 0]


def _log_not_class(logits, cls) -> Array:
    """log(1 - p_cls) = logsumexp over the other classes - logsumexp over all."""
    hit = jax.nn.one_hot(cls, logits.shape[1], dtype=bool)
    masked = jnp.where(hit, -jnp.inf, logits)
    return logsumexp(masked, 1) - logsumexp(logits, 1)
