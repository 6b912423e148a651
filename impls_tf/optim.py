"""Optimisers with the update rules of `bench.spec.OptimizerSpec`, written out as Keras optimisers.

Keras's Adam folds the bias correction into the step size (so its epsilon acts on sqrt(v), not on
sqrt(v_hat)) and Keras's RMSprop adds epsilon inside the square root; both would make a different
optimiser from PyTorch's. `TorchRule` computes exactly PyTorch's rules, in PyTorch's order of operations
(bias corrections in double precision, as PyTorch's Python floats):
  adam:    p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
  rmsprop: v = alpha v + (1 - alpha) g^2;  p -= lr * g / (sqrt(v) + eps)
It is a `keras.optimizers.Optimizer` (only `update_step` is its own), so that fp16 runs wrap it in Keras's
own `LossScaleOptimizer`, as Keras users do (impls_tf/train.py).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from bench import precision as precisions
from bench.spec import OptimizerSpec


class TorchRule(keras.optimizers.Optimizer):
    def __init__(self, spec: OptimizerSpec, variables: list) -> None:
        if spec.name not in ("adam", "rmsprop"):
            raise ValueError(f"unknown optimiser {spec.name!r}")
        super().__init__(learning_rate=spec.lr, name=f"torch_{spec.name}")
        self.spec = spec
        self.build(list(variables))

    def build(self, var_list: list) -> None:
        if self.built:
            return
        super().build(var_list)
        self.m = [self.add_variable_from_reference(v, "m") for v in var_list] if self.spec.name == "adam" else []
        self.v = [self.add_variable_from_reference(v, "v") for v in var_list]

    def update_step(self, gradient, variable, learning_rate) -> None:
        s, i = self.spec, self._get_variable_index(variable)
        v = self.v[i]
        if s.name == "adam":
            # As torch.optim.Adam: bias corrections in double precision (Python floats there), then
            # denom = sqrt(v) / sqrt(bc2) + eps and p -= (lr / bc1) * m / denom in the model's dtype.
            t = tf.cast(self.iterations + 1, tf.float64)
            dtype = variable.dtype
            step_size = tf.cast(s.lr / (1.0 - tf.pow(tf.constant(s.beta1, tf.float64), t)), dtype)
            bc2_sqrt = tf.cast(tf.sqrt(1.0 - tf.pow(tf.constant(s.beta2, tf.float64), t)), dtype)
            m = self.m[i]
            m.assign(s.beta1 * m + (1.0 - s.beta1) * gradient)
            v.assign(s.beta2 * v + (1.0 - s.beta2) * tf.square(gradient))
            variable.assign_sub(step_size * m / (tf.sqrt(v) / bc2_sqrt + s.eps))
        else:
            v.assign(s.alpha * v + (1.0 - s.alpha) * tf.square(gradient))
            variable.assign_sub(s.lr * gradient / (tf.sqrt(v) + s.eps))

    @property
    def variables_in_order(self) -> list:
        return list(self._trainable_variables)


def make_optimizer(spec: OptimizerSpec, variables: list, loss_scaling: bool = False):
    """The update rule; with loss scaling, wrapped in Keras's dynamic LossScaleOptimizer (bench/precision.py's
    start and growth interval; Keras doubles and halves the scale)."""
    rule = TorchRule(spec, variables)
    if not loss_scaling:
        return rule
    opt = keras.optimizers.LossScaleOptimizer(
        rule, precisions.LOSS_SCALE.initial, precisions.LOSS_SCALE.growth_interval
    )
    opt.build(list(variables))
    return opt


def optimizer_state(opt, names: dict[int, str]) -> dict:
    """Optimiser slots as numpy arrays keyed `{param}.{slot}` (m, v for Adam; v for RMSprop)."""
    rule = getattr(opt, "inner_optimizer", opt)
    out = {}
    for k, (var, v) in enumerate(zip(rule.variables_in_order, rule.v, strict=True)):
        name = names[id(var)]
        if rule.spec.name == "adam":
            out[f"{name}.m"] = rule.m[k].numpy()
        out[f"{name}.v"] = v.numpy()
    return out
