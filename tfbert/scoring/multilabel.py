"""Scores of a multi-label head (any number of labels per text), and its decision thresholds.

Each label is its own yes/no question answered by a sigmoid probability. A label is predicted
when its probability reaches the label's threshold; 0.5 suits a calibrated label with enough
positives, while a rare label usually needs a lower one, so thresholds are tuned per label on
validation to maximise that label's F1, where that does not cost the pooled micro-F1
(`tune_thresholds`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import average_precision_score

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
    # Counted per column, not by scikit-learn's multilabel path, which takes one column for a
    # binary task and then averages over its two classes.
    hits, called, support = ((predicted & truth).sum(axis=0), predicted.sum(axis=0),
                             truth.sum(axis=0))
    precision, recall, f1 = _scores(hits, called, support)
    micro = _scores(hits.sum(), called.sum(), support.sum())
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
    """Per label, the threshold that maximises its F1 on these (validation) examples, kept
    only where it does not lower the micro-F1 of all labels together.

    A label's best-F1 threshold is the lowest probability still called positive at its best
    F1 (ties go to the highest such threshold: fewest positives). For a label the model barely
    separates, that threshold is low and calls many texts positive: its own F1 rises from
    zero while the pooled micro-F1 falls. So labels are visited from the most frequent down,
    and each takes its threshold only if the micro-F1 with it is at least the micro-F1 without
    it; otherwise it keeps 0.5. Both micro- and macro-F1 on these examples are then at least
    those at 0.5. A label with fewer than `min_positives` positives keeps 0.5.
    """
    truth = np.asarray(labels).astype(bool)
    scores = np.asarray(probabilities, dtype=np.float64)
    thresholds = np.full(truth.shape[1], DEFAULT_THRESHOLD)
    for j in np.argsort(-truth.sum(axis=0), kind="stable"):
        if truth[:, j].sum() < min_positives:
            continue
        candidate = thresholds.copy()
        candidate[j] = _best_f1_threshold(truth[:, j], scores[:, j])
        if _micro_f1(truth, scores, candidate) >= _micro_f1(truth, scores, thresholds):
            thresholds = candidate
    return thresholds


def _micro_f1(truth: np.ndarray, scores: np.ndarray, thresholds: np.ndarray) -> float:
    predicted = scores >= thresholds[None, :]
    return float(_scores((predicted & truth).sum(), predicted.sum(), truth.sum())[2])


def _scores(hits, called, actual) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and F1 from counts (arrays or scalars); 0 where undefined."""
    hits, called, actual = (np.asarray(x, dtype=np.float64) for x in (hits, called, actual))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(called > 0, hits / called, 0.0)
        recall = np.where(actual > 0, hits / actual, 0.0)
        f1 = np.where(called + actual > 0, 2 * hits / (called + actual), 0.0)
    return precision, recall, f1


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
