"""Classification metrics as pure functions of labels and predictions (NumPy + scikit-learn)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

# A validation run whose predictions put at least this share on one class has "collapsed",
# unless the true labels are that lopsided too.
COLLAPSE_SHARE = 0.95
# Accuracy within this margin of always guessing the majority class counts as chance level.
CHANCE_MARGIN = 0.02


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def cross_entropy(labels: np.ndarray, logits: np.ndarray) -> float:
    """Mean sparse categorical cross-entropy, computed stably from logits."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), labels].mean()) if len(labels) else 0.0


def compute_metrics(
    labels: Sequence[int], predictions: Sequence[int], label_names: Sequence[str]
) -> dict:
    """Accuracy, macro precision/recall/F1, per-class scores and the confusion matrix.

    Args:
        labels: true class ids.
        predictions: predicted class ids.
        label_names: name of each class id; fixes the class order of every table.
    Returns:
        A JSON-ready dict; `confusion_matrix[i][j]` counts true class i predicted as j.
    """
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    ids = list(range(len(label_names)))
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predictions, labels=ids, zero_division=0
    )
    return {
        "n_examples": int(len(labels)),
        "accuracy": float(accuracy_score(labels, predictions)) if len(labels) else 0.0,
        "f1": float(f1.mean()),
        "precision": float(precision.mean()),
        "recall": float(recall.mean()),
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]),
                   "f1": float(f1[i]), "support": int(support[i])}
            for i, name in enumerate(label_names)
        },
        "confusion_matrix": confusion_matrix(labels, predictions, labels=ids).tolist(),
    }


def detect_collapse(labels: Sequence[int], predictions: Sequence[int], num_labels: int) -> str | None:
    """Says why the predictions look degenerate, or returns None when they look healthy.

    Catches a model that predicts one class for nearly everything, or that scores no better
    than always answering the most common class.
    """
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    if len(labels) == 0:
        return None
    predicted_share = np.bincount(predictions, minlength=num_labels) / len(predictions)
    true_share = np.bincount(labels, minlength=num_labels) / len(labels)
    top = int(predicted_share.argmax())
    if predicted_share[top] >= COLLAPSE_SHARE and true_share[top] < COLLAPSE_SHARE:
        return (f"{predicted_share[top]:.0%} of predictions are class {top} "
                f"(true share {true_share[top]:.0%})")
    accuracy = float((labels == predictions).mean())
    majority = float(true_share.max())
    if accuracy <= majority + CHANCE_MARGIN:
        return f"accuracy {accuracy:.3f} is at chance level (majority class {majority:.3f})"
    return None


COLLAPSE_ADVICE = (
    "the model is not learning the task: try a lower or higher --learning-rate "
    "(2e-5 to 1e-4 for BERT-size models), more --epochs, a longer warm-up (--warmup-ratio), "
    "or check that texts and labels match"
)
