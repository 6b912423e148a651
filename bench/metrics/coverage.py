"""Mode coverage from predicted classes: numpy only, so it can be tested without a framework.

Definitions, for the classes a classifier predicts for N generated images (K = 10 classes):
- histogram p_k = (images predicted as class k) / N.
- classes_covered: classes with p_k >= COVERED_FRACTION (1%). With a perfect generator each class
  gets 1/K = 10%, so a class under 1% is produced at least 10x too rarely to count as a mode the
  generator really has; a stray misclassification or two does not make a class covered.
- classes_covered_any: classes predicted at least once.
- class_kl: KL(p || uniform) = sum_k p_k log(K p_k) in nats, with 0 log 0 = 0; 0 for a uniform
  histogram, log K (2.303 for K = 10) when every image falls in one class.
- cond_accuracy (conditional generators): share of images G(z, y) predicted as their y.
"""

from __future__ import annotations

import numpy as np

N_CLASSES = 10
COVERED_FRACTION = 0.01


def class_histogram(predicted: np.ndarray, n_classes: int = N_CLASSES) -> np.ndarray:
    """Share of predictions per class, float64 (n_classes,), summing to 1."""
    predicted = np.asarray(predicted, np.int64).ravel()
    if predicted.size == 0:
        raise ValueError("no predictions to histogram")
    if predicted.min() < 0 or predicted.max() >= n_classes:
        raise ValueError(f"predicted classes must lie in 0..{n_classes - 1}")
    return np.bincount(predicted, minlength=n_classes) / predicted.size


def kl_from_uniform(hist: np.ndarray) -> float:
    """KL(p || uniform) in nats; empty classes contribute 0."""
    p = np.asarray(hist, np.float64)
    nz = p[p > 0]
    return float(np.sum(nz * np.log(nz * len(p))))


def coverage(
    predicted: np.ndarray, n_classes: int = N_CLASSES, threshold: float = COVERED_FRACTION
) -> dict[str, float | int]:
    """classes_covered, classes_covered_any and class_kl of a set of predicted classes."""
    hist = class_histogram(predicted, n_classes)
    return {
        "classes_covered": int(np.sum(hist >= threshold)),
        "classes_covered_any": int(np.sum(hist > 0)),
        "class_kl": kl_from_uniform(hist),
    }


def cond_accuracy(predicted: np.ndarray, given: np.ndarray) -> float:
    """Share of conditional samples classified as the class they were generated for."""
    predicted, given = np.asarray(predicted).ravel(), np.asarray(given).ravel()
    if predicted.shape != given.shape or predicted.size == 0:
        raise ValueError(f"need equal, non-empty label arrays, got {predicted.shape} and {given.shape}")
    return float(np.mean(predicted == given))
