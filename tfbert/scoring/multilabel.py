"""Scores of a multi-label head (any number of labels per text), and its decision thresholds.

Each label is its own yes/no question answered by a sigmoid probability. A label is predicted
when its probability reaches the label's threshold; 0.5 suits a calibrated label with enough
positives, while a rare label usually needs a lower one, so thresholds are tuned per label on
validation to maximise that label's F1 (`tune_thresholds`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_fscore_support

from tfbert.base.errors import DataError

DEFAULT_THRESHOLD = 0.5
MIN_POSITIVES = 5  # fewer validation positives than this: a tuned threshold would be noise


def multilabel_metrics(labels: np.ndarray, probabilities: np.ndarray, thresholds: Sequence[float],
                       label_names: Sequence[str]) -> dict:
    """Micro- and macro-F1, subset accuracy, mean average precision and per-label scores.

    Args:
        labels: `[n, k]` of 0/1, one column per label.
        probabilities: `[n, k]` sigmoid outputs.
        thresholds: `k` decision thresholds.
        label_names: `k` names, the order of the columns.
    Raises:
        DataError: the shapes do not agree.
    """
    truth, scores = _check(labels, probabilities, label_names)
    predicted = scores >= np.asarray(thresholds, dtype=np.float64)[None, :]
    micro = precision_recall_fscore_support(truth, predicted, average="micro", zero_division=0)
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, average=None, zero_division=0)
    positives = truth.sum(axis=0) > 0
    average_precision = [float(average_precision_score(truth[:, j], scores[:, j])) if positives[j]
                         else None for j in range(truth.shape[1])]
    scored = [ap for ap in average_precision if ap is not None]
    return {
        "n_examples": int(len(truth)),
        "micro_f1": float(micro[2]), "micro_precision": float(micro[0]),
        "micro_recall": float(micro[1]),
        "macro_f1": float(f1.mean()) if len(f1) else 0.0,
        "subset_accuracy": float((predicted == truth).all(axis=1).mean()) if len(truth) else 0.0,
        "mean_average_precision": float(np.mean(scored)) if scored else None,
        "texts_without_label": int((truth.sum(axis=1) == 0).sum()),
        "per_label": {
            name: {"precision": float(precision[j]), "recall": float(recall[j]), "f1": float(f1[j]),
                   "support": int(support[j]), "average_precision": average_precision[j],
                   "threshold": float(thresholds[j])}
            for j, name in enumerate(label_names)
        },
    }


def tune_thresholds(labels: np.ndarray, probabilities: np.ndarray,
                    min_positives: int = MIN_POSITIVES) -> np.ndarray:
    """Per label, the threshold that maximises its F1 on these (validation) examples.

    The threshold is the lowest probability still called positive at the best F1; ties go to
    the highest such threshold (fewest positives). A label with fewer than `min_positives`
    positives keeps 0.5.
    """
    truth = np.asarray(labels).astype(bool)
    scores = np.asarray(probabilities, dtype=np.float64)
    thresholds = np.full(truth.shape[1], DEFAULT_THRESHOLD)
    for j in range(truth.shape[1]):
        if truth[:, j].sum() >= min_positives:
            thresholds[j] = _best_f1_threshold(truth[:, j], scores[:, j])
    return thresholds


def _best_f1_threshold(truth: np.ndarray, scores: np.ndarray) -> float:
    order = np.argsort(-scores, kind="stable")
    sorted_scores, hits = scores[order], truth[order]
    last_of_value = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]  # cut between values
    true_positives = np.cumsum(hits)[last_of_value]
    called = np.flatnonzero(last_of_value) + 1
    f1 = 2 * true_positives / (called + truth.sum())
    return float(sorted_scores[last_of_value][int(np.argmax(f1))])


def _check(labels, probabilities, label_names) -> tuple[np.ndarray, np.ndarray]:
    truth = np.asarray(labels)
    scores = np.asarray(probabilities, dtype=np.float64)
    if truth.ndim != 2 or truth.shape != scores.shape or truth.shape[1] != len(label_names):
        raise DataError(f"labels {truth.shape} and probabilities {scores.shape} must both be "
                        f"[texts, {len(label_names)} labels]")
    return truth.astype(bool), scores
