"""Fixed logits per objective and an independent numpy computation of the spec's formulas."""

from __future__ import annotations

import numpy as np

K = 10


def fixed_logits(objective: str) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(sum(map(ord, objective)))
    width = K + 1 if objective in ("ssgan", "cgan") else 1
    return {
        "real": rng.normal(0, 2, (8, width)).astype(np.float32),
        "fake": rng.normal(0, 2, (8, width)).astype(np.float32),
        "y": rng.integers(0, K, 8).astype(np.int64),
        "mask": np.array([1, 0, 1, 1, 0, 1, 1, 1], np.float32),
        "g": rng.integers(0, K, 8).astype(np.int64),
    }


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def reference(objective: str, lg: dict[str, np.ndarray]) -> tuple[float, float]:
    """(L_D, L_G) straight from docs/variants.md, in float64 probabilities (no log-sum-exp tricks)."""
    r, f = lg["real"].astype(np.float64), lg["fake"].astype(np.float64)
    y, m, g = lg["y"], lg["mask"].astype(np.float64), lg["g"]
    n = np.arange(len(y))
    if objective in ("mm", "ns"):
        ld = np.mean(-np.log(_sigmoid(r))) + np.mean(-np.log(1 - _sigmoid(f)))
        lg_ = np.mean(np.log(1 - _sigmoid(f))) if objective == "mm" else np.mean(-np.log(_sigmoid(f)))
        return ld, lg_
    if objective == "ls":
        return 0.5 * np.mean((r - 1) ** 2) + 0.5 * np.mean(f**2), 0.5 * np.mean((f - 1) ** 2)
    if objective in ("wgan", "wgan-gp"):
        return -np.mean(r) + np.mean(f), -np.mean(f)
    pr, pf = _softmax(r), _softmax(f)
    if objective == "ssgan":
        sup = -np.sum(np.log(pr[n, y]) * m) / m.sum()
        ld = np.mean(-np.log(1 - pr[:, K])) + np.mean(-np.log(pf[:, K])) + sup
        return ld, np.mean(np.log(pf[:, K]))
    if objective == "cgan":
        ld = np.mean(-np.log(pr[n, y])) + np.mean(-np.log(1 - pf[n, g]))
        return ld, np.mean(-np.log(pf[n, g]))
    raise ValueError(objective)
