"""Scores of the regression and multi-label heads, and per-label threshold tuning."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score

from tfbert.base.errors import DataError
from tfbert.scoring.multilabel import multilabel_metrics, tune_thresholds
from tfbert.scoring.regression import Standardisation, regression_metrics


def test_regression_metrics_by_hand():
    got = regression_metrics([1, 2, 3, 4], [1, 2, 3, 6])  # one error of 2
    assert got["n_examples"] == 4 and got["mse"] == 1.0 and got["rmse"] == 1.0
    assert got["mae"] == 0.5 and got["spearman"] == pytest.approx(1.0)
    assert got["pearson"] == pytest.approx(np.corrcoef([1, 2, 3, 4], [1, 2, 3, 6])[0, 1])
    reversed_order = regression_metrics([1, 2, 3], [3, 2, 1])
    assert reversed_order["pearson"] == pytest.approx(-1) and reversed_order["spearman"] == pytest.approx(-1)


def test_regression_edge_cases():
    constant = regression_metrics([1, 2, 3], [2, 2, 2])
    assert constant["pearson"] is None and constant["spearman"] is None and constant["rmse"] > 0
    assert regression_metrics([], [])["rmse"] is None
    with pytest.raises(DataError, match="1 predictions are NaN or infinite \\(first at row 1\\)"):
        regression_metrics([1, 2], [1, float("nan")])
    with pytest.raises(DataError, match="2 targets but 3 predictions"):
        regression_metrics([1, 2], [1, 2, 3])


def test_standardisation_round_trip():
    targets = [1.0, 4.0, 7.0, 10.0]
    scaling = Standardisation.fit(targets)
    z = scaling.apply(targets)
    assert z.mean() == pytest.approx(0) and z.std() == pytest.approx(1)
    np.testing.assert_allclose(scaling.undo(z), targets)
    assert Standardisation.fit([3.0, 3.0]) == Standardisation(3.0, 1.0)  # constant: no division by 0


def test_multilabel_metrics_agree_with_scikit_learn():
    labels = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]])
    probs = np.array([[0.9, 0.2, 0.1], [0.6, 0.4, 0.3], [0.3, 0.8, 0.2], [0.1, 0.1, 0.6]])
    got = multilabel_metrics(labels, probs, [0.5, 0.5, 0.5], ["a", "b", "c"])
    predicted = probs >= 0.5
    assert got["micro_f1"] == pytest.approx(f1_score(labels, predicted, average="micro"))
    assert got["macro_f1"] == pytest.approx(f1_score(labels, predicted, average="macro",
                                                     zero_division=0))
    assert got["subset_accuracy"] == 0.5  # rows 1 and 3 exactly right
    assert got["texts_without_label"] == 1
    assert got["per_label"]["c"]["average_precision"] is None  # no positive: undefined
    assert got["mean_average_precision"] == pytest.approx(1.0)  # a and b ranked perfectly
    with pytest.raises(DataError, match="must both be"):
        multilabel_metrics(labels, probs[:, :2], [0.5, 0.5], ["a", "b"])


def test_tuned_thresholds_beat_one_half_on_an_underconfident_label():
    rng = np.random.default_rng(0)
    truth = rng.random((200, 2)) < 0.3
    probs = np.where(truth, 0.35, 0.1) + rng.normal(0, 0.02, truth.shape)  # positives below 0.5
    probs[:, 1] = np.where(truth[:, 1], 0.9, 0.1)  # a label 0.5 already separates
    thresholds = tune_thresholds(truth, probs)
    assert 0.2 < thresholds[0] < 0.4 and thresholds[1] == pytest.approx(0.9)
    tuned = multilabel_metrics(truth, probs, thresholds, ["low", "sure"])
    at_half = multilabel_metrics(truth, probs, [0.5, 0.5], ["low", "sure"])
    assert tuned["per_label"]["low"]["f1"] == 1.0 and at_half["per_label"]["low"]["f1"] == 0.0
    assert tuned["micro_f1"] > at_half["micro_f1"]
    # a label the model cannot separate: its best-F1 threshold calls everything positive,
    # which would sink the micro-F1 of the other label; it keeps 0.5
    noise = np.column_stack([truth[:, 1], rng.random(200) < 0.1])
    guessed = np.column_stack([probs[:, 1], rng.random(200) * 0.2])
    kept = tune_thresholds(noise, guessed)
    assert kept[1] == 0.5
    assert multilabel_metrics(noise, guessed, kept, ["a", "b"])["micro_f1"] >= multilabel_metrics(
        noise, guessed, [0.5, 0.5], ["a", "b"])["micro_f1"]
    few = np.zeros((50, 1), bool)
    few[:3] = True
    assert tune_thresholds(few, np.where(few, 0.2, 0.1))[0] == 0.5  # 3 positives: keep 0.5


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 60), st.integers(0, 2**31 - 1))
def test_a_tuned_threshold_is_never_worse_than_one_half_on_its_own_data(n, seed):
    rng = np.random.default_rng(seed)
    truth = rng.random((n, 1)) < rng.random()
    probs = np.round(rng.random((n, 1)), 2)  # ties included
    threshold = tune_thresholds(truth, probs, min_positives=1)[0]
    f1_at = {t: f1_score(truth[:, 0], probs[:, 0] >= t, zero_division=0) for t in (threshold, 0.5)}
    assert f1_at[threshold] >= f1_at[0.5] - 1e-12
    assert threshold == 0.5 or threshold in probs or not truth.any()
    assert math.isfinite(threshold)


@settings(max_examples=40, deadline=None)
@given(st.integers(5, 80), st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_tuned_thresholds_never_lower_micro_or_macro_f1_on_their_own_data(n, k, seed):
    rng = np.random.default_rng(seed)
    truth = rng.random((n, k)) < rng.random(k)
    probs = np.clip(np.where(truth, 0.3, 0.1) * rng.random(k) * 3 + rng.normal(0, 0.2, (n, k)), 0, 1)
    names = [str(j) for j in range(k)]
    tuned = multilabel_metrics(truth, probs, tune_thresholds(truth, probs, min_positives=1), names)
    at_half = multilabel_metrics(truth, probs, [0.5] * k, names)
    assert tuned["micro_f1"] >= at_half["micro_f1"] - 1e-12
    assert tuned["macro_f1"] >= at_half["macro_f1"] - 1e-12
    if k == 1:  # one label: micro-F1 is that label's F1 (not the accuracy of a binary task)
        assert tuned["micro_f1"] == pytest.approx(tuned["per_label"]["0"]["f1"])
