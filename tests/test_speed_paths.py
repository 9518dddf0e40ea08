"""The fast paths (length buckets, XLA, bfloat16) give the plain path's results, in few shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import save_tiny_bert, toy_reviews

from tfbert.config import TrainConfig
from tfbert.data import LabelSet
from tfbert.features import make_dataset, plan_batches, steps_per_epoch, tokenize_frame
from tfbert.model import build_model, build_optimizer, compile_model, precision_policy


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from transformers import AutoTokenizer

    model_dir = save_tiny_bert(tmp_path_factory.mktemp("tiny_nodrop_speed"), dropout=0.0)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    frame = toy_reviews(96, seed=4)
    frame["text"] = [t + " very" * (i % 40) for i, t in enumerate(frame["text"])]
    frame["label"] = (frame["label"] == "positive").astype(int)
    return model_dir, tokenize_frame(frame, tokenizer, 64, show_progress=False)


def _train(model_dir, split, jit_compile: bool, bucketing: bool, precision: str = "float32"):
    with precision_policy(precision):
        model = build_model(str(model_dir), LabelSet(("negative", "positive")))
        steps = steps_per_epoch(split, 8, bucketing, 16)
        compile_model(model, build_optimizer(TrainConfig(learning_rate=3e-3, warmup_ratio=0.0),
                                             steps), jit_compile=jit_compile)
        dataset = make_dataset(split, 8, 0, shuffle=True, seed=3, bucketing=bucketing,
                               pad_multiple=16)
        history = model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
        probe = next(iter(make_dataset(split, 32, 0)))[0]
        logits = model(probe, training=False).logits.numpy().astype(np.float32)
    return model, history.history["loss"][0], logits


@pytest.fixture(scope="module")
def plain(setup):
    """The baseline every fast path is compared with, fitted once: float32, buckets, no XLA."""
    model_dir, split = setup
    return _train(model_dir, split, jit_compile=False, bucketing=True)


def test_bucket_plan_has_few_shapes(setup):
    _, split = setup
    plan = plan_batches(split.lengths(), 8, True, 3, 0, True, 16)
    widths = {int(-(-split.lengths()[b].max() // 16) * 16) for b in plan}
    assert widths <= {16, 32, 48, 64}
    assert sum(len(b) for b in plan) == len(split)


def test_unshuffled_bucket_plan_leaves_one_short_batch(setup):
    # Labelling and evaluation: full batches across bucket edges, in length order, so the
    # model meets one batch size besides the full one, not a random size per bucket.
    _, split = setup
    lengths = np.random.default_rng(0).integers(1, 200, 1000)
    plan = plan_batches(lengths, 32, False, 0, 0, True, 16)
    assert [len(b) for b in plan] == [32] * 31 + [8]
    assert sorted(np.concatenate(plan).tolist()) == list(range(1000))
    buckets = np.concatenate([(lengths[b] - 1) // 16 for b in plan])
    assert (np.diff(buckets) >= 0).all()
    assert steps_per_epoch(split, 8, True, 16) == len(plan_batches(split.lengths(), 8, True, 5, 1,
                                                                  True, 16))


def test_xla_matches_plain_training_and_traces_once_per_shape(setup, plain):
    model_dir, split = setup
    _, plain_loss, plain_logits = plain
    xla_model, xla_loss, xla_logits = _train(model_dir, split, jit_compile=True, bucketing=True)
    assert math.isfinite(xla_loss)
    assert xla_loss == pytest.approx(plain_loss, abs=1e-3)
    np.testing.assert_allclose(xla_logits, plain_logits, atol=1e-3)
    shapes = {(len(b), int(-(-split.lengths()[b].max() // 16) * 16))
              for b in plan_batches(split.lengths(), 8, True, 3, 0, True, 16)}
    traces = xla_model.train_function.experimental_get_tracing_count()
    assert 1 <= traces <= len(shapes)


def test_bucketing_trains_like_dynamic_padding(setup, plain):
    model_dir, split = setup
    _, bucket_loss, _ = plain
    _, dynamic_loss, _ = _train(model_dir, split, jit_compile=False, bucketing=False)
    # Different batch compositions, same data and model: the first epoch's loss is close.
    assert bucket_loss == pytest.approx(dynamic_loss, abs=0.05)


def test_mixed_bfloat16_matches_float32_within_tolerance(setup, plain):
    model_dir, split = setup
    _, loss, bf16_logits = _train(model_dir, split, jit_compile=False, bucketing=True,
                                  precision="mixed_bfloat16")
    _, f32_loss, f32_logits = plain
    assert math.isfinite(loss) and loss == pytest.approx(f32_loss, abs=0.05)
    assert bf16_logits.dtype == np.float32
    np.testing.assert_allclose(bf16_logits, f32_logits, atol=0.1)
