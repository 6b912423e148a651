"""Mode coverage on synthetic predicted-label sets with known answers (no framework)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.metrics.coverage import class_histogram, cond_accuracy, coverage, kl_from_uniform


def test_uniform_predictions_cover_every_class_with_zero_kl():
    c = coverage(np.repeat(np.arange(10), 50))
    assert c == {"classes_covered": 10, "classes_covered_any": 10, "class_kl": pytest.approx(0.0, abs=1e-12)}


def test_one_class_gives_log_k():
    c = coverage(np.full(300, 7))
    assert c["classes_covered"] == 1 and c["classes_covered_any"] == 1
    assert c["class_kl"] == pytest.approx(math.log(10))


def test_two_equal_classes_give_log_five():
    assert coverage(np.array([2, 3] * 100))["class_kl"] == pytest.approx(math.log(5))


def test_threshold_separates_covered_from_seen():
    # 1000 samples: class 9 gets 5 (0.5% < 1%), class 8 gets 10 (exactly 1%)
    predicted = np.concatenate([np.zeros(985, int), np.full(10, 8), np.full(5, 9)])
    c = coverage(predicted)
    assert c["classes_covered"] == 2 and c["classes_covered_any"] == 3


def test_kl_matches_its_definition():
    hist = class_histogram(np.array([0, 0, 0, 1, 2, 2]))
    p = np.array([0.5, 1 / 6, 1 / 3])
    assert kl_from_uniform(hist) == pytest.approx(float(np.sum(p * np.log(p * 10))))


def test_bad_predictions_are_rejected():
    with pytest.raises(ValueError):
        class_histogram(np.array([0, 10]))
    with pytest.raises(ValueError):
        class_histogram(np.array([], int))


def test_cond_accuracy():
    assert cond_accuracy(np.array([1, 2, 3, 4]), np.array([1, 2, 0, 4])) == pytest.approx(0.75)
    with pytest.raises(ValueError):
        cond_accuracy(np.array([1, 2]), np.array([1]))
