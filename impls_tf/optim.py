"""Optimisers with the update rules of `bench.spec.OptimizerSpec`, written out in TensorFlow.

Keras's Adam folds the bias correction into the step size (so its epsilon acts on sqrt(v), not on
sqrt(v_hat)) and Keras's RMSprop adds epsilon inside the square root; both would make a different
optimiser from PyTorch's. These classes compute exactly PyTorch's rules:
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
        self.t = tf.Variable(0.0, trainable=False, name="t")
        self.m = [tf.Variable(tf.zeros(v.shape), trainable=False) for v in self.variables]
        self.v = [tf.Variable(tf.zeros(v.shape), trainable=False) for v in self.variables]

    def apply(self, grads: list[tf.Tensor]) -> None:
        s = self.spec
        self.t.assign_add(1.0)
        if s.name == "adam":
            bc1 = 1.0 - tf.pow(s.beta1, self.t)
            bc2 = 1.0 - tf.pow(s.beta2, self.t)
            for var, g, m, v in zip(self.variables, grads, self.m, self.v, strict=True):
                m.assign(s.beta1 * m + (1.0 - s.beta1) * g)
                v.assign(s.beta2 * v + (1.0 - s.beta2) * tf.square(g))
                var.assign_sub(s.lr * (m / bc1) / (tf.sqrt(v / bc2) + s.eps))
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
