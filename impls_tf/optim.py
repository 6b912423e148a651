"""Optimisers with the update rules of `bench.spec.OptimizerSpec`, written out in TensorFlow.

Keras's Adam folds the bias correction into the step size (so its epsilon acts on sqrt(v), not on
sqrt(v_hat)) and Keras's RMSprop adds epsilon inside the square root; both would make a different
optimiser from PyTorch's. These classes compute exactly PyTorch's rules, in PyTorch's order of operations
(bias corrections in double precision, as PyTorch's Python floats):
  adam:    p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
  rmsprop: v = alpha v + (1 - alpha) g^2;  p -= lr * g / (sqrt(v) + eps)
"""

from __future__ import annotations

import tensorflow as tf

from bench.spec import OptimizerSpec


class Optimizer:
    def __init__(self, spec: OptimizerSpec, variables: list) -> None:
        if spec.name not in ("adam", "rmsprop"):
            raise ValueError(f"unknown optimiser {spec.name!r}")
        self.spec = spec
        self.variables = list(variables)
        self.t = tf.Variable(0.0, trainable=False, dtype=tf.float64, name="t")
        self.m = [tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False) for v in self.variables]
        self.v = [tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False) for v in self.variables]

    def apply(self, grads: list[tf.Tensor]) -> None:
        s = self.spec
        self.t.assign_add(1.0)
        if s.name == "adam":
            # As torch.optim.Adam: bias corrections in double precision (Python floats there), then
            # denom = sqrt(v) / sqrt(bc2) + eps and p -= (lr / bc1) * m / denom in the model's dtype.
            dtype = self.variables[0].dtype
            step_size = tf.cast(s.lr / (1.0 - tf.pow(tf.constant(s.beta1, tf.float64), self.t)), dtype)
            bc2_sqrt = tf.cast(tf.sqrt(1.0 - tf.pow(tf.constant(s.beta2, tf.float64), self.t)), dtype)
            for var, g, m, v in zip(self.variables, grads, self.m, self.v, strict=True):
                m.assign(s.beta1 * m + (1.0 - s.beta1) * g)
                v.assign(s.beta2 * v + (1.0 - s.beta2) * tf.square(g))
                var.assign_sub(step_size * m / (tf.sqrt(v) / bc2_sqrt + s.eps))
        else:
            for var, g, v in zip(self.variables, grads, self.v, strict=True):
                v.assign(s.alpha * v + (1.0 - s.alpha) * tf.square(g))
                var.assign_sub(s.lr * g / (tf.sqrt(v) + s.eps))


def make_optimizer(spec: OptimizerSpec, variables: list) -> Optimizer:
    return Optimizer(spec, variables)


def optimizer_state(opt: Optimizer, names: dict[int, str]) -> dict:
    """Optimiser slots as numpy arrays keyed `{param}.{slot}` (m, v for Adam; v for RMSprop)."""
    out = {}
    for var, m, v in zip(opt.variables, opt.m, opt.v, strict=True):
        name = names[id(var)]
        if opt.spec.name == "adam":
            out[f"{name}.m"] = m.numpy()
        out[f"{name}.v"] = v.numpy()
    return out
