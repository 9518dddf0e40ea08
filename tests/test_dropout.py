"""Counter-based dropout: Keras' semantics (rate, inverted scaling, fresh masks), checked statistically."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from conftest import save_tiny_bert

from tfbert.base.keras import keras
from tfbert.dropout import CounterDropout, keep_mask, use_counter_dropout

N = 1 << 22  # 5 standard errors of a 0.1 rate: 0.00073, below the 1/256 steps of 8-bit draws


def _mask(rate: float, seed: tuple[int, int], shape=(N,)) -> np.ndarray:
    keep, _ = keep_mask(tf.constant(shape), rate, tf.constant(seed, tf.int64))
    return keep.numpy()


@pytest.mark.parametrize("rate", [0.1, 0.25, 0.5, 0.3])
def test_keep_rate_and_scaling(rate):
    # Over many steps, as training sees it: each mask's threshold coin is part of the draw.
    steps, size = 256, 1 << 14
    dropped = np.array([1 - _mask(rate, (7, step), shape=(size,)).mean() for step in range(steps)])
    spread = np.sqrt(rate * (1 - rate) / size + 0.25 / 256 ** 2)  # binomial + threshold coin
    assert abs(dropped.mean() - rate) < 5 * spread / np.sqrt(steps)
    layer = CounterDropout(rate)
    layer.configure(tf.Variable(3, dtype=tf.int64), key=11)
    x = tf.random.stateless_uniform([N], seed=[1, 2], minval=0.5, maxval=1.5)
    y = layer(x, training=True).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], x.numpy()[kept] / (1 - rate), rtol=1e-4)
    assert abs(kept.mean() - (1 - rate)) < 1 / 256 + 5 * np.sqrt(rate * (1 - rate) / N)


def test_a_rate_between_steps_of_1_256_is_met_on_average_not_rounded():
    per_mask = [1 - _mask(0.1, (5, step), shape=(1 << 20,)).mean() for step in range(100)]
    assert {round(r * 256) for r in per_mask} == {25, 26}  # the threshold coin at work
    assert abs(np.mean(per_mask) - 0.1) < 0.0008  # not 25/256 = 0.0977 nor 26/256 = 0.1016


def test_draws_are_independent_within_and_across_words():
    keep = _mask(0.5, (3, 5)).astype(np.float64)
    for lag in (1, 2, 3, 4, 7, 8, 9, 64):  # eight 8-bit draws share one 64-bit word
        correlation = np.corrcoef(keep[:-lag], keep[lag:])[0, 1]
        assert abs(correlation) < 5 / np.sqrt(N), (lag, correlation)
    groups = keep.reshape(-1, 4) @ np.array([1, 2, 4, 8])  # every 4-mask pattern equally often
    counts = np.bincount(groups.astype(int), minlength=16)
    expected = len(groups) / 16
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 50  # 15 degrees of freedom: p < 1e-5 beyond this


def test_masks_are_fresh_per_step_and_layer_and_repeat_for_the_same_key():
    base = _mask(0.1, (1, 0), shape=(256, 384))
    assert (base == _mask(0.1, (1, 0), shape=(256, 384))).all()  # reproducible
    for other in ((1, 1), (2, 0)):  # next step; another layer
        agreement = (base == _mask(0.1, other, shape=(256, 384))).mean()
        assert abs(agreement - (0.9 ** 2 + 0.1 ** 2)) < 0.01  # as independent masks agree


def test_inference_is_untouched_and_gradients_flow():
    layer = CounterDropout(0.3)
    step = tf.Variable(0, dtype=tf.int64)
    layer.configure(step, key=1)
    x = tf.ones([4, 8])
    assert (layer(x, training=False).numpy() == 1).all()
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        total = tf.reduce_sum(y)
    grad = tape.gradient(total, x).numpy()
    np.testing.assert_allclose(grad, y.numpy())  # d(x * mask * scale)/dx = mask * scale
    first = layer(x, training=True).numpy()
    step.assign_add(1)
    assert (first != layer(x, training=True).numpy()).any()


def test_bert_dropout_layers_are_switched_without_changing_weights(tmp_path):
    from transformers import TFAutoModelForSequenceClassification

    folder = save_tiny_bert(tmp_path / "bert", dropout=0.1)
    model = TFAutoModelForSequenceClassification.from_pretrained(str(folder))
    names_before = [w.name for w in model.weights]
    inputs = {"input_ids": tf.constant([[2, 6, 7, 8, 3]]), "attention_mask": tf.ones([1, 5], tf.int32)}
    before = model(inputs, training=False).logits.numpy()
    step = tf.Variable(0, dtype=tf.int64)
    # embeddings + 2 layers x (attention probs, attention output, feed-forward output) + classifier
    assert use_counter_dropout(model, step, seed=42) == 1 + 2 * 3 + 1
    assert [w.name for w in model.weights] == names_before  # nothing new is saved
    np.testing.assert_allclose(model(inputs, training=False).logits.numpy(), before, atol=1e-6)
    a = model(inputs, training=True).logits.numpy()
    assert np.allclose(a, model(inputs, training=True).logits.numpy())  # same step, same masks
    step.assign_add(1)
    assert not np.allclose(a, model(inputs, training=True).logits.numpy())
    assert isinstance(model.bert.encoder.layer[0].attention.self_attention.dropout, CounterDropout)
    assert not any(type(m) is keras.layers.Dropout for m in model.submodules)
