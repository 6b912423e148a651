"""One GAN training step in PyTorch, fed with the harness's arrays.

A step is n_critic D updates (fresh real batch and noise each), then one G update against the
just-updated D. Losses come back as device tensors and are fetched in bulk at interval edges, so
timing does not force a device sync per step. Modes: `eager` (the default) and `compile`
(torch.compile of the D-update and G-update functions: Dynamo breaks the graph at `backward()` and
compiles the forward+loss, its backward and the optimiser step as separate graphs; the first step
compiles them. The gradient penalty stays eager: AOTAutograd has no double backward).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from bench.convert import to_canonical
from bench.inputs import StepInputs
from bench.spec import Arch, Variant
from bench.step import GanStep
from bench.variants import objective
from impls_torch import runtime
from impls_torch.losses import d_loss_terms, g_loss
from impls_torch.models import build_models, export_weights, load_weights
from impls_torch.optim import make_optimizer, optimizer_state

METRICS = ("loss_d", "loss_g", "grad_norm_d", "grad_norm_g")
MODES = ("eager", "compile")


class Trainer(GanStep):
    def __init__(
        self,
        variant: Variant,
        arch: Arch,
        weights: dict[str, np.ndarray],
        device: str = "cpu",
        mode: str = "eager",
        dropout: bool = True,
        seed: int = 0,
        dtype: str = "float32",
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"PyTorch mode {mode!r} is not supported (supported: {', '.join(MODES)})")
        self.variant, self.arch, self.mode = variant, arch, mode
        self.device = device
        self.dev = torch.device(runtime.device_name(device))
        self.dtype = getattr(torch, dtype)  # float64 only for parity checks that must exclude rounding
        self.objective = objective(variant)
        torch.manual_seed(seed)  # dropout masks are the only randomness left to the framework
        self.G, self.D = build_models(arch, dropout)
        load_weights(self.G, self.D, arch, weights)
        self.G.to(self.dev, self.dtype).train()
        self.D.to(self.dev, self.dtype).train()
        self.opt_g = make_optimizer(variant.optimizer, self.G.parameters())
        self.opt_d = make_optimizer(variant.optimizer, self.D.parameters())
        # The penalty's double backward cannot run through AOTAutograd, so it stays eager in `compile`
        # mode. Disabled here, not by a decorator: that would import torch._dynamo (~1.4 s) in every run.
        self.penalty_fn = torch.compiler.disable(gradient_penalty) if mode == "compile" else gradient_penalty
        if mode == "compile":
            self.d_update = torch.compile(self.d_update)
            self.g_update = torch.compile(self.g_update)

    # -- inputs ---------------------------------------------------------------------------------
    def _t(self, a: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(a)
        return t.to(self.dev, self.dtype if t.is_floating_point() else None, non_blocking=True)

    def _images(self, x: np.ndarray) -> torch.Tensor:
        """(.., H, W, C) numpy -> (.., C, H, W) tensor."""
        return self._t(x).movedim(-1, -3).contiguous()

    def _g_input(self, z: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        if self.variant.g_conditional:
            return torch.cat([z, F.one_hot(g, self.objective.n_classes).to(z.dtype)], 1)
        return z

    # -- the step: bench/step.py's control flow over these primitives --------------------------
    def train_step(self, inp: StepInputs) -> dict[str, torch.Tensor]:
        x, y, mask = self._images(inp.x), self._t(inp.y), self._t(inp.mask)
        z_d, g_d, eps = self._t(inp.z_d), self._t(inp.g_d), self._t(inp.eps)
        return self.step_body(x, y, mask, z_d, g_d, eps, self._t(inp.z_g), self._t(inp.g_g))

    def fake_for_d(self, z: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.G(self._g_input(z, g))

    def g_images(self, z: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return self.G(self._g_input(z, g))

    def d_outputs(self, x: torch.Tensor) -> torch.Tensor:
        return self.D(x)

    def loss_terms(self, d_real, d_fake, y, mask, g) -> dict[str, torch.Tensor]:
        return d_loss_terms(self.variant.objective, d_real, d_fake, y, mask, g)

    def g_loss_of(self, d_fake: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return g_loss(self.variant.objective, d_fake, g)

    def penalty(self, x: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        return self.penalty_fn(self.D, x, fake, eps)

    def update(self, net: str, loss_fn) -> tuple[torch.Tensor, torch.Tensor]:
        """G's update sees D frozen (no D weight gradients, as TF's tape)."""
        model, opt = (self.D, self.opt_d) if net == "D" else (self.G, self.opt_g)
        if net == "G":
            self.D.requires_grad_(False)
        loss = loss_fn()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if net == "G":
            self.D.requires_grad_(True)
        norm = grad_norm(model.parameters())
        opt.step()
        return loss.detach(), norm

    def clip_weights(self, net: str, clip: float) -> None:
        with torch.no_grad():
            for p in (self.D if net == "D" else self.G).parameters():
                p.clamp_(-clip, clip)

    def mean(self, values: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(values).mean()

    # -- results --------------------------------------------------------------------------------
    def fetch(self, outs: list[dict[str, torch.Tensor]]) -> list[dict[str, float]]:
        """Bring a list of step outputs to the host (one transfer per metric)."""
        if not outs:
            return []
        cols = {k: torch.stack([o[k] for o in outs]).double().cpu().tolist() for k in METRICS}
        return [{k: cols[k][i] for k in METRICS} for i in range(len(outs))]

    def sync(self) -> None:
        runtime.sync(self.device)

    @torch.no_grad()
    def generate(self, z: np.ndarray, labels: np.ndarray, batch: int = 256) -> np.ndarray:
        """G's images (N, H, W, C) in eval mode (BN running statistics)."""
        self.G.eval()
        out = [
            self.G(self._g_input(self._t(z[i : i + batch]), self._t(labels[i : i + batch])))
            for i in range(0, len(z), batch)
        ]
        self.G.train()
        return torch.cat(out).movedim(1, -1).cpu().numpy()

    @torch.no_grad()
    def d_logits(self, x: np.ndarray, batch: int = 500) -> np.ndarray:
        """D's logits in eval mode, for classification accuracy (ssgan)."""
        self.D.eval()
        out = [self.D(self._images(x[i : i + batch])) for i in range(0, len(x), batch)]
        self.D.train()
        return torch.cat(out).cpu().numpy()

    def export_weights(self) -> dict[str, np.ndarray]:
        return export_weights(self.G, self.D, self.arch)

    def optimizer_state(self) -> dict[str, np.ndarray]:
        names = {p: f"G.{n}" for n, p in self.G.named_parameters()}
        names.update({p: f"D.{n}" for n, p in self.D.named_parameters()})
        return {**optimizer_state(self.opt_g, names), **optimizer_state(self.opt_d, names)}

    # -- parity hooks: what an update computes, on given inputs, without applying it ------------
    def load(self, weights: dict[str, np.ndarray]) -> None:
        """Put canonical weights (BN running statistics included) back; optimiser state is kept."""
        load_weights(self.G, self.D, self.arch, weights)

    @torch.no_grad()
    def forward(self, z: np.ndarray, labels: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """G(z) (N, H, W, C) and D(x) in training mode: batch statistics, running statistics move."""
        fake = self.G(self._g_input(self._t(z), self._t(labels)))
        return fake.movedim(1, -1).cpu().numpy(), self.D(self._images(x)).cpu().numpy()

    def d_grads(self, inp: StepInputs, i: int = 0) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """D's loss terms and canonical gradients for critic update `i` of `inp`, as d_update sees them."""
        x, y, mask = self._images(inp.x[i]), self._t(inp.y[i]), self._t(inp.mask[i])
        terms = self.d_terms(x, y, mask, self._t(inp.z_d[i]), self._t(inp.g_d[i]), self._t(inp.eps[i]))
        grads = torch.autograd.grad(sum(terms.values()), list(self.D.parameters()))
        return _floats(terms), self._canonical("D", self.D, grads)

    def g_grads(self, inp: StepInputs) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """G's loss and canonical gradients for the G update of `inp` (against the current D)."""
        loss = self.g_loss_value(self._t(inp.z_g), self._t(inp.g_g))
        grads = torch.autograd.grad(loss, list(self.G.parameters()))
        return _floats({"g": loss}), self._canonical("G", self.G, grads)

    def _canonical(self, prefix: str, net: torch.nn.Module, grads) -> dict[str, np.ndarray]:
        names = [f"{prefix}.{n}" for n, _ in net.named_parameters()]
        return to_canonical("torch", self.arch, {n: g.cpu().numpy() for n, g in zip(names, grads, strict=True)})


def _floats(terms: dict[str, torch.Tensor]) -> dict[str, float]:
    return {k: float(v.detach()) for k, v in terms.items()}


def gradient_penalty(D: torch.nn.Module, x: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """mean((||grad_xhat D(xhat)||_2 - 1)^2), xhat = eps x + (1 - eps) G(z), per sample."""
    e = eps.view(-1, *([1] * (x.dim() - 1)))
    xhat = (e * x + (1 - e) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(xhat).sum(), xhat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def grad_norm(params) -> torch.Tensor:
    """Global L2 norm of the gradients in one multi-tensor pass (no squared copies: half the cost)."""
    return torch.nn.utils.get_total_norm([p.grad.detach() for p in params if p.grad is not None])
