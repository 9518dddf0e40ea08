"""The loss of each problem type, computed in float32 whatever the logits' dtype, and the
optional weights that lean it towards rare classes, labels or target values.

Under mixed precision the head emits float16/bfloat16 logits; a loss in that type loses
precision (or overflows).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfbert.base.keras import keras
from tfbert.tasks.kinds import MULTI_LABEL, REGRESSION

MAX_WEIGHT = 100.0  # no class, label or value counts for more than this many ordinary ones
REGRESSION_BINS = 10  # target bins of `--class-weights auto` for a regression


class Float32Crossentropy(keras.losses.Loss):
    """Sparse cross-entropy from logits; `class_weights[c]` scales the loss of class-c examples."""

    def __init__(self, class_weights: Sequence[float] | None = None,
                 name: str = "sparse_categorical_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.class_weights = None if class_weights is None else tf.constant(class_weights, tf.float32)

    def call(self, y_true, y_pred):
        labels = tf.cast(tf.reshape(y_true, [-1]), tf.int32)
        loss = keras.losses.sparse_categorical_crossentropy(labels, tf.cast(y_pred, tf.float32),
                                                            from_logits=True)
        return loss if self.class_weights is None else loss * tf.gather(self.class_weights, labels)


class Float32BinaryCrossentropy(keras.losses.Loss):
    """Sigmoid cross-entropy per label, averaged over labels; `positive_weights[j]` scales the
    loss of label j's positives (the "pos_weight" of a rare label)."""

    def __init__(self, positive_weights: Sequence[float] | None = None,
                 name: str = "binary_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.positive_weights = (None if positive_weights is None
                                 else tf.constant(positive_weights, tf.float32))

    def call(self, y_true, y_pred):
        labels, logits = tf.cast(y_true, tf.float32), tf.cast(y_pred, tf.float32)
        if self.positive_weights is None:
            loss = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
        else:
            loss = tf.nn.weighted_cross_entropy_with_logits(labels, logits, self.positive_weights)
        return tf.reduce_mean(loss, axis=-1)


class Float32MeanSquaredError(keras.losses.Loss):
    """Squared error of the one output against the (standardised) target; with `bin_edges`,
    each example is weighted by its target bin's `bin_weights` entry."""

    def __init__(self, bin_edges: Sequence[float] | None = None,
                 bin_weights: Sequence[float] | None = None, name: str = "mean_squared_error",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.bin_edges = None if bin_edges is None else tf.constant(bin_edges, tf.float32)
        self.bin_weights = None if bin_weights is None else tf.constant(bin_weights, tf.float32)

    def call(self, y_true, y_pred):
        target = tf.reshape(tf.cast(y_true, tf.float32), [-1])
        loss = tf.square(tf.reshape(tf.cast(y_pred, tf.float32), [-1]) - target)
        if self.bin_edges is None:
            return loss
        bins = tf.searchsorted(self.bin_edges, target, side="right")
        return loss * tf.gather(self.bin_weights, bins)


def balanced_weights(counts: np.ndarray) -> np.ndarray:
    """n / (k * count) per group (empty groups 0), capped at MAX_WEIGHT: every group then
    carries the same total weight, as scikit-learn's "balanced" class weights do."""
    counts = np.asarray(counts, np.float64)
    used = counts > 0
    weights = np.zeros_like(counts)
    weights[used] = counts.sum() / (used.sum() * counts[used])
    return np.minimum(weights, MAX_WEIGHT)


def build_loss(task: str, train_labels: np.ndarray, num_outputs: int, weighted: bool):
    """The task's loss; with `weighted` ("--class-weights auto"), weights from the train labels.

    Single-label: balanced class weights. Multi-label: each label's positives weighted by
    negatives / positives. Regression: balanced weights over ten equal-width bins of the
    (standardised) target, so rare values are not averaged away.
    """
    labels = np.asarray(train_labels)
    if task == MULTI_LABEL:
        if not weighted:
            return Float32BinaryCrossentropy()
        positives = labels.sum(axis=0).astype(np.float64)
        ratio = (len(labels) - positives) / np.maximum(positives, 1.0)
        return Float32BinaryCrossentropy(np.clip(ratio, 1.0, MAX_WEIGHT).tolist())
    if task == REGRESSION:
        if not weighted:
            return Float32MeanSquaredError()
        edges = np.linspace(labels.min(), labels.max(), REGRESSION_BINS + 1)[1:-1]
        counts = np.bincount(np.searchsorted(edges, labels, side="right"),
                             minlength=REGRESSION_BINS)
        return Float32MeanSquaredError(edges.tolist(), balanced_weights(counts).tolist())
    if not weighted:
        return Float32Crossentropy()
    counts = np.bincount(labels.astype(np.int64), minlength=num_outputs)
    return Float32Crossentropy(balanced_weights(counts).tolist())
