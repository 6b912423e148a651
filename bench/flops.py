"""Analytic FLOPs of one full training step, from the neutral spec (pure Python, no framework).

Why analytic: every framework run the same model, so one count derived from the spec gives both the
same denominator, and FLOP utilisation compares how well each uses the machine, not what each counts.

The model (the usual "model FLOPs" convention of MFU figures):
- Only dense, conv and transposed-conv layers are counted, 2 FLOPs per multiply-add. Bias adds,
  batch norm, activations, pooling, upsampling, dropout, losses and optimiser updates are left out:
  they are O(activations) or O(parameters), a few percent at most of these models.
- dense: 2·in·out per sample. conv: 2·H_out·W_out·C_out·k²·C_in. Transposed conv: every input pixel
  scatters a k×k×C_out patch, 2·H_in·W_in·C_in·k²·C_out (what the frameworks compute, including the
  part that "same" padding then crops away).
- Backward of a layer = its forward cost once for the weight gradient (if the weights are trained in
  that pass) plus once for the input gradient (if anything before it needs a gradient). So a hidden
  layer of the network being trained costs 2× its forward; the first layer skips the input gradient.
- D update (n_critic of them): G forward without gradients; D forward on the real and on the fake
  batch; D backward (weight gradients; input gradients except at D's first layer) for both.
- G update: G forward, D forward, D backward with input gradients only (D's weights are frozen),
  G backward (weight gradients; input gradients except at G's first layer).
- Gradient penalty (wgan-gp), per D update: D forward on x̂ (1 F_D), the input-gradient backward
  ∂D/∂x̂ through every layer (1 F_D), then the double backward through both of those graphs, counted
  as weight and input gradients of each (2 + 2 F_D): 6 F_D in all. Approximation: a framework may
  skip paths whose second derivative is zero (piecewise-linear activations), so this is an upper
  estimate of what it executes.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.archs import layer_output_shape
from bench.spec import Arch, Layer, Network, Variant
from bench.variants import objective

COUNTED = ("dense", "conv", "convt")
GP_FORWARDS = 6  # forward + input-gradient backward + double backward (2 + 2), in units of F_D


def layer_flops(layer: Layer, in_shape: tuple[int, ...]) -> int:
    """Forward FLOPs of one layer for one sample (0 for layers the model does not count)."""
    if layer.kind not in COUNTED:
        return 0
    out_shape = layer_output_shape(layer, in_shape)
    if layer.kind == "dense":
        return 2 * _prod(in_shape) * layer.units
    k2 = layer.kernel * layer.kernel
    if layer.kind == "conv":
        return 2 * _prod(out_shape) * k2 * in_shape[-1]
    return 2 * _prod(in_shape) * k2 * layer.units  # convt: each input pixel scatters a k×k×C_out patch


def network_flops(net: Network) -> list[int]:
    """Forward FLOPs per sample of each counted layer of `net`, in order."""
    shape, out = tuple(net.input_shape), []
    for layer in net.layers:
        if layer.kind in COUNTED:
            out.append(layer_flops(layer, shape))
        shape = layer_output_shape(layer, shape)
    return out


def backward_flops(per_layer: list[int], weights: bool, input_grad_at_first: bool) -> int:
    """Backward FLOPs: weight gradients of every layer (if `weights`), input gradients of every layer
    but the first unless the network's input needs a gradient."""
    wgrad = sum(per_layer) if weights else 0
    dgrad = sum(per_layer) if input_grad_at_first else sum(per_layer[1:])
    return wgrad + dgrad


@dataclass(frozen=True)
class StepFlops:
    """FLOPs of one training step for the whole batch, with the parts that make it up."""

    d_update: int  # one D update (gradient penalty included)
    g_update: int
    n_critic: int
    gp: int  # gradient-penalty share of one D update

    @property
    def total(self) -> int:
        return self.n_critic * self.d_update + self.g_update


def step_flops(variant: Variant, arch: Arch, batch: int) -> StepFlops:
    """FLOPs of one training step (n_critic D updates + one G update) at batch size `batch`."""
    g, d = network_flops(arch.generator), network_flops(arch.discriminator)
    fg, fd = sum(g), sum(d)
    d_back = backward_flops(d, weights=True, input_grad_at_first=False)
    gp = GP_FORWARDS * fd if objective(variant).gp else 0
    d_update = fg + 2 * fd + 2 * d_back + gp
    g_update = (
        fg
        + fd
        + backward_flops(d, weights=False, input_grad_at_first=True)
        + backward_flops(g, weights=True, input_grad_at_first=False)
    )
    return StepFlops(d_update=batch * d_update, g_update=batch * g_update, n_critic=variant.n_critic, gp=batch * gp)


def _prod(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
