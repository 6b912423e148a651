"""The spec's objectives on D's logits, in PyTorch; `impls_tf.losses` computes the same formulas.

BCE is written as softplus on logits (BCE(l, 1) = softplus(-l), BCE(l, 0) = softplus(l)), and every
log-probability of the K+1-way objectives comes from log-softmax / logsumexp.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

FAKE = 10  # index K of the "fake" class for ssgan/cgan


def d_loss(
    objective: str,
    d_real: torch.Tensor,
    d_fake: torch.Tensor,
    y: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    g: torch.Tensor | None = None,
) -> torch.Tensor:
    """D's loss without the gradient penalty (added by the training step): the sum of its terms."""
    return sum(d_loss_terms(objective, d_real, d_fake, y, mask, g).values())


def d_loss_terms(
    objective: str,
    d_real: torch.Tensor,
    d_fake: torch.Tensor,
    y: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    g: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """D's loss split into named terms (real, fake, and sup for ssgan), so parity checks see each one."""
    if objective in ("mm", "ns"):
        return {"real": F.softplus(-d_real).mean(), "fake": F.softplus(d_fake).mean()}
    if objective == "ls":
        return {"real": 0.5 * ((d_real - 1) ** 2).mean(), "fake": 0.5 * (d_fake**2).mean()}
    if objective in ("wgan", "wgan-gp"):
        return {"real": -d_real.mean(), "fake": d_fake.mean()}
    if objective == "ssgan":
        lse_real = torch.logsumexp(d_real, 1)
        not_fake_real = torch.logsumexp(d_real[:, :FAKE], 1) - lse_real  # log(1 - p_K(x))
        fake_fake = d_fake[:, FAKE] - torch.logsumexp(d_fake, 1)  # log p_K(G(z))
        log_py = d_real.gather(1, y[:, None])[:, 0] - lse_real
        sup = -(log_py * mask).sum() / mask.sum().clamp(min=1.0)
        return {"real": -not_fake_real.mean(), "fake": -fake_fake.mean(), "sup": sup}
    if objective == "cgan":
        log_py = d_real.gather(1, y[:, None])[:, 0] - torch.logsumexp(d_real, 1)
        return {"real": -log_py.mean(), "fake": -_log_not_class(d_fake, g).mean()}
    raise ValueError(f"unknown objective {objective!r}")


def g_loss(objective: str, d_fake: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
    if objective == "mm":
        return -F.softplus(d_fake).mean()
    if objective == "ns":
        return F.softplus(-d_fake).mean()
    if objective == "ls":
        return 0.5 * ((d_fake - 1) ** 2).mean()
    if objective in ("wgan", "wgan-gp"):
        return -d_fake.mean()
    if objective == "ssgan":
        return (d_fake[:, FAKE] - torch.logsumexp(d_fake, 1)).mean()
    if objective == "cgan":
        return -(d_fake.gather(1, g[:, None])[:, 0] - torch.logsumexp(d_fake, 1)).mean()
    raise ValueError(f"unknown objective {objective!r}")


def _log_not_class(logits: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
    """log(1 - p_cls) = logsumexp over the other classes - logsumexp over all."""
    hit = F.one_hot(cls, logits.shape[1]).bool()
    return torch.logsumexp(logits.masked_fill(hit, float("-inf")), 1) - torch.logsumexp(logits, 1)
