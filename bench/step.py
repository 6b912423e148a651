"""The training step's control flow, written once for every framework.

A step is n_critic D updates (a fresh real batch and fresh noise each), then one G update against the
just-updated D. What each D update computes is decided here from the variant's `Objective`
(bench/objectives.py): its loss terms, the gradient penalty and its weight, weight clipping. Each
framework's `Trainer` (impls_<framework>/train.py) inherits this class and supplies the primitives
below; it keeps its compiled step whole, because this code is what gets traced: `tf.function` or
`jax.jit` trace `step_body` as a whole, `torch.compile` compiles `d_update` and `g_update`. The
neutral layer decides what happens, the framework how it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.objectives import Objective
from bench.precision import Precision
from bench.spec import Variant

Tensor = Any  # a framework's array type


class GanStep:
    """Mixin: `variant`, `objective` and `precision` are set by the framework's Trainer."""

    variant: Variant
    objective: Objective
    precision: Precision

    # -- primitives every framework supplies ----------------------------------------------------
    def fake_for_d(self, z: Tensor, g: Tensor) -> Tensor:
        """G's images for a D update, with no gradient flowing back to G (training mode)."""
        raise NotImplementedError

    def g_images(self, z: Tensor, g: Tensor) -> Tensor:
        """G's images for the G update (training mode, differentiable)."""
        raise NotImplementedError

    def d_outputs(self, x: Tensor) -> Tensor:
        """D's outputs (training mode)."""
        raise NotImplementedError

    def loss_terms(self, d_real: Tensor, d_fake: Tensor, y: Tensor, mask: Tensor, g: Tensor) -> dict[str, Tensor]:
        """The objective's D loss terms (impls_<framework>/losses.py)."""
        raise NotImplementedError

    def g_loss_of(self, d_fake: Tensor, g: Tensor) -> Tensor:
        """The objective's G loss on D's outputs for G's images."""
        raise NotImplementedError

    def penalty(self, x: Tensor, fake: Tensor, eps: Tensor) -> Tensor:
        """mean((||grad_xhat D(xhat)||_2 - 1)^2) at xhat = eps x + (1 - eps) fake."""
        raise NotImplementedError

    def update(self, net: str, loss_fn: Callable[[], Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """Gradients of loss_fn() for network "D" or "G" applied by its optimiser: (loss, gradient norm,
        skipped), skipped 1.0 when loss scaling found the gradients non-finite and left the weights as they
        were (bench/precision.py), else 0.0."""
        raise NotImplementedError

    def clip_weights(self, net: str, clip: float) -> None:
        raise NotImplementedError

    def mean(self, values: list[Tensor]) -> Tensor:
        raise NotImplementedError

    # -- the step ---------------------------------------------------------------------------------
    def step_body(self, x, y, mask, z_d, g_d, eps, z_g, g_g) -> dict[str, Tensor]:
        """One step on n_critic stacked D batches and one G batch; metrics stay on the device."""
        losses_d, norms_d, skips_d = [], [], []
        for i in range(self.variant.n_critic):  # a Python loop: unrolled when traced
            loss, norm, skipped = self.d_update(x[i], y[i], mask[i], z_d[i], g_d[i], eps[i])
            losses_d.append(loss)
            norms_d.append(norm)
            skips_d.append(skipped)
        loss_g, norm_g, skipped_g = self.g_update(z_g, g_g)
        out = {
            "loss_d": self.mean(losses_d),
            "loss_g": loss_g,
            "grad_norm_d": self.mean(norms_d),
            "grad_norm_g": norm_g,
        }
        if self.precision.loss_scaling:  # updates skipped for overflow, D's summed over the critic updates
            out.update(skipped_d=self.mean(skips_d) * len(skips_d), skipped_g=skipped_g)
        return out

    def d_terms(self, x, y, mask, z, g, eps) -> dict[str, Tensor]:
        """D's loss terms on one batch; `gp` is the penalty times its weight, when the objective has one."""
        fake = self.fake_for_d(z, g)
        terms = self.loss_terms(self.d_outputs(x), self.d_outputs(fake), y, mask, g)
        if self.objective.gp:
            terms["gp"] = self.objective.gp_lambda * self.penalty(x, fake, eps)
        return terms

    def d_loss_value(self, x, y, mask, z, g, eps) -> Tensor:
        """D's full loss (gradient penalty included) on one batch: the sum of its terms."""
        return sum(self.d_terms(x, y, mask, z, g, eps).values())

    def d_update(self, x, y, mask, z, g, eps) -> tuple[Tensor, Tensor, Tensor]:
        loss, norm, skipped = self.update("D", lambda: self.d_loss_value(x, y, mask, z, g, eps))
        if self.objective.clip > 0:
            self.clip_weights("D", self.objective.clip)
        return loss, norm, skipped

    def g_loss_value(self, z, g) -> Tensor:
        return self.g_loss_of(self.d_outputs(self.g_images(z, g)), g)

    def g_update(self, z, g) -> tuple[Tensor, Tensor, Tensor]:
        return self.update("G", lambda: self.g_loss_value(z, g))
