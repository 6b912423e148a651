"""One GAN training step in PyTorch, fed with the harness's arrays.

A step is n_critic D updates (fresh real batch and noise each), then one G update against the
just-updated D. Losses come back as device tensors and are fetched in bulk at interval edges, so
timing does not force a device sync per step. Modes: `eager` (the default) and `compile`
(torch.compile of the D-update and G-update functions: Dynamo breaks the graph at `backward()` and
compiles the forward+loss, its backward and the optimiser step as separate graphs; the first step
compiles them. The gradient penalty stays eager: AOTAutograd has no double backward).

Precision (bench/precision.py): bf16 and fp16 run G's and D's forward passes under `torch.autocast`
(float32 master weights and optimiser state; each network's output cast to float32, so the losses are
float32); fp16 scales the losses with `torch.amp.GradScaler` (one per network, or one shared), which
unscales before the gradient norm and skips an update whose gradients overflowed. tf32 is a process
setting (impls_torch/runtime.py).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from bench import precision as precisions
from bench.convert import to_canonical
from bench.inputs import StepInputs
from bench.precision import get_precision, scaler_name
from bench.spec import Arch, Variant
from bench.step import GanStep
from bench.variants import objective
from impls_torch import runtime
from impls_torch.losses import d_loss_terms, g_loss
from impls_torch.models import build_models, export_weights, load_weights
from impls_torch.optim import make_optimizer, optimizer_state

METRICS = ("loss_d", "loss_g", "grad_norm_d", "grad_norm_g")
SKIP_METRICS = ("skipped_d", "skipped_g")  # with loss scaling: updates skipped for overflow, per step
MODES = ("eager", "compile")


def make_scalers(device_type: str, scaler: str) -> dict[str, torch.amp.GradScaler]:
    """{"D": ..., "G": ...}: two GradScalers, the same one twice (`shared`), or none (no loss scaling)."""
    if not scaler:
        return {}
    s = precisions.LOSS_SCALE

    def new() -> torch.amp.GradScaler:
        return torch.amp.GradScaler(device_type, s.initial, s.growth, s.backoff, s.growth_interval)

    d = new()
    return {"D": d, "G": d if scaler == "shared" else new()}


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
        precision: str = "fp32",
        loss_scaler: str = "",
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"PyTorch mode {mode!r} is not supported (supported: {', '.join(MODES)})")
        self.variant, self.arch, self.mode = variant, arch, mode
        self.device = device
        self.dev = torch.device(runtime.device_name(device))
        self.dtype = getattr(torch, dtype)  # float64 only for parity checks that must exclude rounding
        self.precision = get_precision(precision)
        low = self.precision.compute_dtype != "float32"
        self.amp_dtype = getattr(torch, self.precision.compute_dtype) if low else None
        self.scalers = make_scalers(self.dev.type, scaler_name(precision, loss_scaler))
        self.metrics = METRICS + (SKIP_METRICS if self.scalers else ())
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

    def _autocast(self):
        """The precision's autocast region (a no-op context in float32)."""
        return torch.autocast(self.dev.type, self.amp_dtype, enabled=self.amp_dtype is not None)

    def _run(self, net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        """A network's forward in the run's precision; its output in the storage dtype (float32 losses)."""
        with self._autocast():
            return net(x).to(self.dtype)

    def fake_for_d(self, z: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self._run(self.G, self._g_input(z, g))

    def g_images(self, z: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return self._run(self.G, self._g_input(z, g))

    def d_outputs(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(self.D, x)

    def loss_terms(self, d_real, d_fake, y, mask, g) -> dict[str, torch.Tensor]:
        return d_loss_terms(self.variant.objective, d_real, d_fake, y, mask, g)

    def g_loss_of(self, d_fake: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return g_loss(self.variant.objective, d_fake, g)

    def penalty(self, x: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        return self.penalty_fn(self.d_outputs, x, fake, eps, self._scale("D"))

    def _scale(self, net: str) -> torch.Tensor | None:
        """The current loss scale of `net` as a device tensor (no host sync), None without loss scaling."""
        scaler = self.scalers.get(net)
        return scaler.scale(torch.ones((), device=self.dev)) if scaler else None

    def update(self, net: str, loss_fn) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """G's update sees D frozen (no D weight gradients, as TF's tape). With a GradScaler, the scaled loss
        is differentiated, the gradients unscaled in place before their norm, and the step skipped when
        they overflowed (GradScaler.step); the skip flag is 1.0 then."""
        model, opt = (self.D, self.opt_d) if net == "D" else (self.G, self.opt_g)
        scaler = self.scalers.get(net)
        if net == "G":
            self.D.requires_grad_(False)
        loss = loss_fn()
        opt.zero_grad(set_to_none=True)
        (scaler.scale(loss) if scaler else loss).backward()
        if net == "G":
            self.D.requires_grad_(True)
        if scaler is None:
            norm = grad_norm(model.parameters())
            opt.step()
            return loss.detach(), norm, torch.zeros((), device=self.dev)
        scaler.unscale_(opt)
        norm = grad_norm(model.parameters())
        scaler.step(opt)
        scaler.update()
        return loss.detach(), norm, (~torch.isfinite(norm)).to(torch.float32)

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
        cols = {k: torch.stack([o[k] for o in outs]).double().cpu().tolist() for k in self.metrics}
        return [{k: cols[k][i] for k in self.metrics} for i in range(len(outs))]

    def sync(self) -> None:
        runtime.sync(self.device)

    @torch.no_grad()
    def generate(self, z: np.ndarray, labels: np.ndarray, batch: int = 256) -> np.ndarray:
        """G's images (N, H, W, C) in eval mode (BN running statistics)."""
        self.G.eval()
        out = [
            self._run(self.G, self._g_input(self._t(z[i : i + batch]), self._t(labels[i : i + batch])))
            for i in range(0, len(z), batch)
        ]
        self.G.train()
        return torch.cat(out).movedim(1, -1).cpu().numpy()

    @torch.no_grad()
    def d_logits(self, x: np.ndarray, batch: int = 500) -> np.ndarray:
        """D's logits in eval mode, for classification accuracy (ssgan)."""
        self.D.eval()
        out = [self._run(self.D, self._images(x[i : i + batch])) for i in range(0, len(x), batch)]
        self.D.train()
        return torch.cat(out).cpu().numpy()

    def export_weights(self) -> dict[str, np.ndarray]:
        return export_weights(self.G, self.D, self.arch)

    def optimizer_state(self) -> dict[str, np.ndarray]:
        names = {p: f"G.{n}" for n, p in self.G.named_parameters()}
        names.update({p: f"D.{n}" for n, p in self.D.named_parameters()})
        return {**optimizer_state(self.opt_g, names), **optimizer_state(self.opt_d, names)}

    # -- checkpoints (bench/checkpoint.py) ------------------------------------------------------
    def checkpoint_state(self) -> dict[str, np.ndarray]:
        """Everything a step reads or changes, as arrays: weights and BN buffers, optimiser state, loss
        scales and the dropout generator; restore_state puts it back bit for bit."""
        out = {f"{n}/{k}": _np(v) for n, m in (("G", self.G), ("D", self.D)) for k, v in m.state_dict().items()}
        for name, opt in (("opt_g", self.opt_g), ("opt_d", self.opt_d)):
            for idx, st in opt.state_dict()["state"].items():
                out |= {f"{name}/{idx}/{k}": _np(torch.as_tensor(v)) for k, v in st.items()}
        for net, scaler in self.scalers.items():
            if net == "D" or scaler is not self.scalers["D"]:  # a shared scaler is saved once
                st = scaler.state_dict()
                out[f"scaler_{net}/scale"] = np.array(st["scale"])
                out[f"scaler_{net}/growth"] = np.array(st["_growth_tracker"])
        out["rng/cpu"] = torch.get_rng_state().numpy()
        if self.dev.type == "cuda":
            out["rng/cuda"] = torch.cuda.get_rng_state(self.dev).numpy()
        return out

    def restore_state(self, state: dict[str, np.ndarray]) -> None:
        for n, m in (("G", self.G), ("D", self.D)):
            m.load_state_dict({k[2:]: torch.from_numpy(v.copy()) for k, v in state.items() if k.startswith(f"{n}/")})
        for name, opt in (("opt_g", self.opt_g), ("opt_d", self.opt_d)):
            slots: dict[int, dict] = {}
            for key, v in state.items():
                if key.startswith(f"{name}/"):
                    _, idx, slot = key.split("/", 2)
                    slots.setdefault(int(idx), {})[slot] = torch.from_numpy(v.copy())
            opt.load_state_dict({"state": slots, "param_groups": opt.state_dict()["param_groups"]})
        for net, scaler in self.scalers.items():
            src = net if f"scaler_{net}/scale" in state else "D"
            scale, growth = float(state[f"scaler_{src}/scale"]), int(state[f"scaler_{src}/growth"])
            scaler.load_state_dict({**scaler.state_dict(), "scale": scale, "_growth_tracker": growth})
        torch.set_rng_state(torch.from_numpy(state["rng/cpu"].copy()))
        if "rng/cuda" in state:
            torch.cuda.set_rng_state(torch.from_numpy(state["rng/cuda"].copy()), self.dev)

    # -- parity hooks: what an update computes, on given inputs, without applying it ------------
    def load(self, weights: dict[str, np.ndarray]) -> None:
        """Put canonical weights (BN running statistics included) back; optimiser state is kept."""
        load_weights(self.G, self.D, self.arch, weights)

    @torch.no_grad()
    def forward(self, z: np.ndarray, labels: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """G(z) (N, H, W, C) and D(x) in training mode: batch statistics, running statistics move."""
        fake = self._run(self.G, self._g_input(self._t(z), self._t(labels)))
        return fake.movedim(1, -1).cpu().numpy(), self._run(self.D, self._images(x)).cpu().numpy()

    def d_grads(self, inp: StepInputs, i: int = 0) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """D's loss terms and canonical gradients for critic update `i` of `inp`, as d_update sees them."""
        x, y, mask = self._images(inp.x[i]), self._t(inp.y[i]), self._t(inp.mask[i])
        terms = self.d_terms(x, y, mask, self._t(inp.z_d[i]), self._t(inp.g_d[i]), self._t(inp.eps[i]))
        grads = self._grads("D", sum(terms.values()), self.D)
        return _floats(terms), self._canonical("D", self.D, grads)

    def g_grads(self, inp: StepInputs) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """G's loss and canonical gradients for the G update of `inp` (against the current D)."""
        loss = self.g_loss_value(self._t(inp.z_g), self._t(inp.g_g))
        grads = self._grads("G", loss, self.G)
        return _floats({"g": loss}), self._canonical("G", self.G, grads)

    def _grads(self, net: str, loss: torch.Tensor, model: torch.nn.Module) -> list[torch.Tensor]:
        """Gradients of `loss` as the update sees them: of the scaled loss, unscaled, under loss scaling."""
        scale = self._scale(net)
        if scale is None:
            return list(torch.autograd.grad(loss, list(model.parameters())))
        return [g / scale for g in torch.autograd.grad(loss * scale, list(model.parameters()))]

    def precision_state(self) -> dict[str, float | str | bool]:
        """What the run's precision came to: compute dtype, the framework's TF32 state, final loss scales."""
        out: dict[str, float | str | bool] = {"compute_dtype": self.precision.compute_dtype, "tf32": runtime.tf32()}
        for net in ("D", "G"):
            out[f"loss_scale_{net.lower()}"] = float(self.scalers[net].get_scale()) if self.scalers else float("nan")
        return out

    def _canonical(self, prefix: str, net: torch.nn.Module, grads) -> dict[str, np.ndarray]:
        names = [f"{prefix}.{n}" for n, _ in net.named_parameters()]
        return to_canonical("torch", self.arch, {n: g.cpu().numpy() for n, g in zip(names, grads, strict=True)})


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def _floats(terms: dict[str, torch.Tensor]) -> dict[str, float]:
    return {k: float(v.detach()) for k, v in terms.items()}


def gradient_penalty(D, x: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor, scale=None) -> torch.Tensor:
    """mean((||grad_xhat D(xhat)||_2 - 1)^2), xhat = eps x + (1 - eps) G(z), per sample.

    With a loss scale (fp16), the inner gradient is taken of the scaled output, so fp16's backward does
    not underflow, and divided by the scale before the norm (PyTorch's AMP recipe for penalties)."""
    e = eps.view(-1, *([1] * (x.dim() - 1)))
    xhat = (e * x + (1 - e) * fake).requires_grad_(True)
    out = D(xhat).sum()
    (grad,) = torch.autograd.grad(out if scale is None else out * scale, xhat, create_graph=True)
    if scale is not None:
        grad = grad / scale
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def grad_norm(params) -> torch.Tensor:
    """Global L2 norm of the gradients in one multi-tensor pass (no squared copies: half the cost)."""
    return torch.nn.utils.get_total_norm([p.grad.detach() for p in params if p.grad is not None])
