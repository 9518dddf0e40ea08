"""A split's metrics from a head's raw outputs, the values each epoch logs, the printed table.

One entry point per question, whatever the task: `split_metrics` (JSON-ready dict),
`epoch_logs` (the `val_*` numbers Keras callbacks monitor), `format_metrics` (plain text).
"""

from __future__ import annotations

import math

import numpy as np

from tfbert.scoring.metrics import compute_metrics, cross_entropy
from tfbert.scoring.multilabel import multilabel_metrics
from tfbert.scoring.regression import regression_metrics
from tfbert.tasks.head import DEFAULT_THRESHOLD, TaskHead, sigmoid
from tfbert.tasks.kinds import MONITORS, MULTI_LABEL, REGRESSION

# metrics.json key of each logged `val_<name>` where the two differ
LOGGED_AS = {"map": "mean_average_precision"}


def binary_cross_entropy(labels: np.ndarray, logits: np.ndarray) -> float:
    """Mean sigmoid cross-entropy over texts and labels, computed stably from logits."""
    x = np.asarray(logits, np.float64)
    y = np.asarray(labels, np.float64)
    loss = np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))
    return float(loss.mean()) if loss.size else 0.0


def split_metrics(head: TaskHead, logits: np.ndarray, labels: np.ndarray,
                  thresholds=None) -> dict:
    """Metrics of one split and its mean loss (the training loss's, unweighted).

    `labels` are raw: class ids, targets in their own unit, or `[n, labels]` 0/1. Multi-label
    decisions use `thresholds` (default: the head's).
    """
    if head.task == REGRESSION:
        metrics = regression_metrics(labels, head.scores(logits))
        standard = head.standardise(labels)
        metrics["loss"] = float(np.mean((np.asarray(logits)[:, 0] - standard) ** 2)) \
            if len(standard) else 0.0
        return metrics
    if head.task == MULTI_LABEL:
        chosen = head.thresholds if thresholds is None else thresholds
        metrics = multilabel_metrics(labels, sigmoid(logits), chosen, head.names)
        metrics["loss"] = binary_cross_entropy(labels, logits)
        return metrics
    metrics = compute_metrics(labels, np.asarray(logits).argmax(axis=-1), head.names)
    metrics["loss"] = cross_entropy(labels, logits)
    return metrics


def epoch_logs(task: str, metrics: dict) -> dict[str, float]:
    """The `val_*` values of one epoch; an undefined one (a correlation of constant
    predictions) is NaN, which never counts as an improvement."""
    logs = {}
    for key in MONITORS[task]:
        name = key.removeprefix("val_")
        value = metrics.get(LOGGED_AS.get(name, name))
        logs[key] = math.nan if value is None else float(value)
    return logs


def threshold_gain(head: TaskHead, logits: np.ndarray, labels: np.ndarray) -> dict:
    """Multi-label: micro- and macro-F1 at the tuned thresholds and at 0.5 on one split."""
    default = [DEFAULT_THRESHOLD] * len(head.names)
    tuned = split_metrics(head, logits, labels)
    plain = split_metrics(head, logits, labels, default)
    return {"micro_f1_tuned": tuned["micro_f1"], "micro_f1_at_0.5": plain["micro_f1"],
            "macro_f1_tuned": tuned["macro_f1"], "macro_f1_at_0.5": plain["macro_f1"]}


def format_metrics(metrics: dict, title: str) -> str:
    """A small plain-text table of a split's metrics, for whichever task they belong to."""
    if "rmse" in metrics:
        return _format_regression(metrics, title)
    if "micro_f1" in metrics:
        return _format_multilabel(metrics, title)
    return _format_single_label(metrics, title)


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _format_regression(metrics: dict, title: str) -> str:
    return (f"{title}: {metrics['n_examples']} examples\n"
            f"  RMSE {_number(metrics['rmse'])}   MAE {_number(metrics['mae'])}   "
            f"Pearson {_number(metrics['pearson'])}   Spearman {_number(metrics['spearman'])}")


def _format_multilabel(metrics: dict, title: str) -> str:
    names = list(metrics["per_label"])
    width = max(10, *(len(n) for n in names))
    lines = [
        f"{title}: {metrics['n_examples']} examples ({metrics['texts_without_label']} with no label)",
        f"  micro-F1 {metrics['micro_f1']:.4f}   macro-F1 {metrics['macro_f1']:.4f}   "
        f"subset accuracy {metrics['subset_accuracy']:.4f}   "
        f"mAP {_number(metrics['mean_average_precision'])}",
        f"  {'label':<{width}} {'threshold':>9} {'precision':>9} {'recall':>9} {'f1':>9} "
        f"{'support':>8}",
    ]
    for name, row in metrics["per_label"].items():
        lines.append(f"  {name:<{width}} {row['threshold']:>9.3f} {row['precision']:>9.4f} "
                     f"{row['recall']:>9.4f} {row['f1']:>9.4f} {row['support']:>8d}")
    return "\n".join(lines)


def _format_single_label(metrics: dict, title: str) -> str:
    names = list(metrics["per_class"])
    width = max(10, *(len(n) for n in names))
    lines = [
        f"{title}: {metrics['n_examples']} examples",
        f"  accuracy {metrics['accuracy']:.4f}   macro-F1 {metrics['f1']:.4f}   "
        f"precision {metrics['precision']:.4f}   recall {metrics['recall']:.4f}",
        f"  {'class':<{width}} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}",
    ]
    for name, row in metrics["per_class"].items():
        lines.append(f"  {name:<{width}} {row['precision']:>9.4f} {row['recall']:>9.4f} "
                     f"{row['f1']:>9.4f} {row['support']:>8d}")
    lines.append("  confusion matrix (rows: true, columns: predicted)")
    lines.append("  " + " " * width + "".join(f"{n[:9]:>10}" for n in names))
    for name, row in zip(names, metrics["confusion_matrix"], strict=False):
        lines.append(f"  {name:<{width}}" + "".join(f"{c:>10d}" for c in row))
    return "\n".join(lines)
