"""The spec's objectives on D's logits, in TensorFlow; `impls_torch.losses` computes the same formulas.

BCE is written as softplus on logits (BCE(l, 1) = softplus(-l), BCE(l, 0) = softplus(l)), and every
log-probability of the K+1-way objectives comes from log-softmax / logsumexp.
"""

from __future__ import annotations

import tensorflow as tf

FAKE = 10  # index K of the "fake" class for ssgan/cgan


def d_loss(objective: str, d_real, d_fake, y=None, mask=None, g=None) -> tf.Tensor:
    """D's loss without the gradient penalty (added by the training step): the sum of its terms."""
    return sum(d_loss_terms(objective, d_real, d_fake, y, mask, g).values())


def d_loss_terms(objective: str, d_real, d_fake, y=None, mask=None, g=None) -> dict[str, tf.Tensor]:
    """D's loss split into named terms (real, fake, and sup for ssgan), so parity checks see each one."""
    mean = tf.reduce_mean
    if objective in ("mm", "ns"):
        return {"real": mean(tf.nn.softplus(-d_real)), "fake": mean(tf.nn.softplus(d_fake))}
    if objective == "ls":
        return {"real": 0.5 * mean((d_real - 1) ** 2), "fake": 0.5 * mean(d_fake**2)}
    if objective in ("wgan", "wgan-gp"):
        return {"real": -mean(d_real), "fake": mean(d_fake)}
    if objective == "ssgan":
        lse_real = tf.reduce_logsumexp(d_real, 1)
        not_fake_real = tf.reduce_logsumexp(d_real[:, :FAKE], 1) - lse_real  # log(1 - p_K(x))
        fake_fake = d_fake[:, FAKE] - tf.reduce_logsumexp(d_fake, 1)  # log p_K(G(z))
        log_py = tf.gather(d_real, y, axis=1, batch_dims=1) - lse_real
        sup = -tf.reduce_sum(log_py * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)
        return {"real": -mean(not_fake_real), "fake": -mean(fake_fake), "sup": sup}
    if objective == "cgan":
        log_py = tf.gather(d_real, y, axis=1, batch_dims=1) - tf.reduce_logsumexp(d_real, 1)
        return {"real": -mean(log_py), "fake": -mean(_log_not_class(d_fake, g))}
    raise ValueError(f"unknown objective {objective!r}")


def g_loss(objective: str, d_fake, g=None) -> tf.Tensor:
    mean = tf.reduce_mean
    if objective == "mm":
        return -mean(tf.nn.softplus(d_fake))
    if objective == "ns":
        return mean(tf.nn.softplus(-d_fake))
    if objective == "ls":
        return 0.5 * mean((d_fake - 1) ** 2)
    if objective in ("wgan", "wgan-gp"):
        return -mean(d_fake)
    if objective == "ssgan":
        return mean(d_fake[:, FAKE] - tf.reduce_logsumexp(d_fake, 1))
    if objective == "cgan":
        return -mean(tf.gather(d_fake, g, axis=1, batch_dims=1) - tf.reduce_logsumexp(d_fake, 1))
    raise ValueError(f"unknown objective {objective!r}")


def _log_not_class(logits, cls) -> tf.Tensor:
    """log(1 - p_cls) = logsumexp over the other classes - logsumexp over all."""
    hit = tf.one_hot(cls, logits.shape[1], on_value=True, off_value=False)
    masked = tf.where(hit, tf.constant(float("-inf"), logits.dtype), logits)
    return tf.reduce_logsumexp(masked, 1) - tf.reduce_logsumexp(logits, 1)
