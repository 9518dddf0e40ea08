"""A long text's answer from its windows' outputs: `--aggregate mean-logits|mean-probabilities|max`.

Every rule returns logits, so what follows (softmax, sigmoid, thresholds, a regression's
unit, metrics) treats a text's aggregate as it treats one window's output:
- `mean-logits`: the mean of the windows' logits.
- `mean-probabilities`: the mean of the windows' probabilities (softmax for classes, sigmoid
  per label), returned as logits of that mean; a regression's scores are averaged.
- `max`: each output's highest probability over the windows (classes renormalised to sum to
  1), as logits; a regression takes the highest score.
"""

from __future__ import annotations

import numpy as np

from tfbert.scoring.metrics import softmax
from tfbert.tasks.head import sigmoid
from tfbert.tasks.kinds import MULTI_LABEL, REGRESSION

TINY = 1e-7  # keeps log() and logit() of a probability finite


def _segment_mean(values: np.ndarray, text_ids: np.ndarray, texts: int) -> np.ndarray:
    total = np.zeros((texts, values.shape[1]), np.float64)
    np.add.at(total, text_ids, values)
    return total / np.bincount(text_ids, minlength=texts)[:, None]


def _segment_max(values: np.ndarray, text_ids: np.ndarray, texts: int) -> np.ndarray:
    top = np.full((texts, values.shape[1]), -np.inf)
    np.maximum.at(top, text_ids, values)
    return top


def _probabilities(task: str, logits: np.ndarray) -> np.ndarray:
    return sigmoid(logits) if task == MULTI_LABEL else softmax(logits)


def _as_logits(task: str, probabilities: np.ndarray) -> np.ndarray:
    clipped = np.clip(probabilities, TINY, 1.0 - TINY)
    if task == MULTI_LABEL:
        return np.log(clipped) - np.log1p(-clipped)
    return np.log(clipped / clipped.sum(axis=-1, keepdims=True))


def aggregate_windows(task: str, logits: np.ndarray, text_ids: np.ndarray, how: str,
                      texts: int | None = None) -> np.ndarray:
    """Per-text logits `[texts, outputs]`, text `t` from the windows with `text_ids == t`.

    Every text needs at least one window (the tokenizer gives even an empty text one).
    """
    texts = int(text_ids.max()) + 1 if texts is None and len(text_ids) else (texts or 0)
    values = np.asarray(logits, np.float64)
    if len(values) and np.bincount(text_ids, minlength=texts).min() == 0:
        raise ValueError("every text needs at least one window")
    if how == "mean-logits" or (task == REGRESSION and how == "mean-probabilities"):
        merged = _segment_mean(values, text_ids, texts)
    elif task == REGRESSION and how == "max":
        merged = _segment_max(values, text_ids, texts)
    elif how == "mean-probabilities":
        merged = _as_logits(task, _segment_mean(_probabilities(task, values), text_ids, texts))
    elif how == "max":
        merged = _as_logits(task, _segment_max(_probabilities(task, values), text_ids, texts))
    else:
        raise ValueError(f"unknown aggregate {how!r}")
    return merged.astype(np.float32)


def text_labels(labels: np.ndarray, text_ids: np.ndarray) -> np.ndarray:
    """Each text's label from its windows' (all equal), in text order."""
    _, first = np.unique(text_ids, return_index=True)
    return labels[first]


def per_text(task: str, logits: np.ndarray, labels: np.ndarray, text_ids: np.ndarray | None,
             how: str) -> tuple[np.ndarray, np.ndarray]:
    """`(logits, labels)` of texts from those of windows; unchanged when there are no windows
    (`text_ids` None): metrics, thresholds and reports then count texts either way."""
    if text_ids is None:
        return logits, labels
    return aggregate_windows(task, logits, text_ids, how), text_labels(labels, text_ids)


def aggregate_in_graph(task: str, logits, window_text, texts, how: str):
    """`aggregate_windows` in TensorFlow, for the served graph: float32 logits per text."""
    import tensorflow as tf

    mean = tf.math.unsorted_segment_mean
    top = tf.math.unsorted_segment_max
    if how == "mean-logits" or (task == REGRESSION and how == "mean-probabilities"):
        return mean(logits, window_text, texts)
    if task == REGRESSION and how == "max":
        return top(logits, window_text, texts)
    probabilities = tf.sigmoid(logits) if task == MULTI_LABEL else tf.nn.softmax(logits, -1)
    merged = (mean if how == "mean-probabilities" else top)(probabilities, window_text, texts)
    clipped = tf.clip_by_value(merged, TINY, 1.0 - TINY)
    if task == MULTI_LABEL:
        return tf.math.log(clipped) - tf.math.log1p(-clipped)
    return tf.math.log(clipped / tf.reduce_sum(clipped, -1, keepdims=True))
