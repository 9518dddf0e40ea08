"""Metrics are pure functions; check them against hand-computed values."""

import numpy as np
import pytest

from tfbert.scoring.metrics import compute_metrics, cross_entropy, detect_collapse, softmax


def test_compute_metrics_matches_hand_counts():
    labels = [0, 0, 0, 1, 1, 2]
    preds = [0, 0, 1, 1, 2, 2]
    m = compute_metrics(labels, preds, ["a", "b", "c"])
    assert m["n_examples"] == 6
    assert m["accuracy"] == pytest.approx(4 / 6)
    # class a: p=1, r=2/3; b: p=1/2, r=1/2; c: p=1/2, r=1
    assert m["per_class"]["a"]["precision"] == pytest.approx(1.0)
    assert m["per_class"]["a"]["recall"] == pytest.approx(2 / 3)
    assert m["per_class"]["c"]["recall"] == pytest.approx(1.0)
    assert m["precision"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    f1 = [2 * 1 * (2 / 3) / (1 + 2 / 3), 0.5, 2 * 0.5 / 1.5]
    assert m["f1"] == pytest.approx(np.mean(f1))
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_absent_class_scores_zero_not_nan():
    m = compute_metrics([0, 0], [0, 0], ["a", "b"])
    assert m["per_class"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_cross_entropy_and_softmax():
    logits = np.array([[2.0, 0.0], [0.0, 3.0]])
    expected = -np.mean([np.log(softmax(logits)[0, 0]), np.log(softmax(logits)[1, 1])])
    assert cross_entropy(np.array([0, 1]), logits) == pytest.approx(expected)
    assert softmax(np.array([[1000.0, 0.0]]))[0, 0] == pytest.approx(1.0)


def test_collapse_detected_when_one_class_predicted():
    labels = [0, 1] * 50
    assert "100% of predictions are class 0" in detect_collapse(labels, [0] * 100, 2)


def test_chance_level_detected():
    labels = [0, 1] * 50
    preds = [1, 0] * 25 + [0, 1] * 25  # half right, both classes predicted
    assert "chance level" in detect_collapse(labels, preds, 2)


def test_healthy_predictions_pass():
    labels = [0, 1] * 50
    preds = list(labels)
    preds[:10] = [1 - p for p in preds[:10]]
    assert detect_collapse(labels, preds, 2) is None


def test_lopsided_truth_is_not_collapse():
    labels = [0] * 97 + [1] * 3
    preds = [0] * 97 + [1] * 3
    assert detect_collapse(labels, preds, 2) is None
