"""Precision: what `auto` picks and why, loss scaling under float16, and short real runs in each policy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf
from conftest import save_tiny_bert

from tfbert import model as model_module
from tfbert.base.keras import keras
from tfbert.config import DataConfig, ModelConfig, OutputConfig, RunConfig, TrainConfig
from tfbert.model import build_model, build_optimizer, compile_model, precision_policy, resolve_precision


@pytest.mark.parametrize("gpus, flags, expected", [
    ([], {"avx2", "avx512f", "avx512_bf16"}, "mixed_bfloat16"),
    ([], {"avx2", "amx_bf16", "amx_tile"}, "mixed_bfloat16"),
    ([], {"avx2", "avx512f"}, "float32"),
    ([], set(), "float32"),  # no /proc/cpuinfo (macOS, Windows)
    (["GPU:0"], {"avx512_bf16"}, "mixed_float16"),
])
def test_auto_precision_follows_the_hardware(monkeypatch, gpus, flags, expected):
    monkeypatch.setattr(model_module, "cpu_flags", lambda: frozenset(flags))
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: gpus)
    policy, reason = resolve_precision("auto")
    assert policy == expected
    assert reason.startswith("auto: ") and (not flags & {"avx512_bf16", "amx_bf16"} or gpus
                                            or "natively" in reason)
    assert resolve_precision("float32") == ("float32", "as asked")


def test_cpu_flags_are_read_from_proc_cpuinfo(monkeypatch, tmp_path):
    fake = tmp_path / "cpuinfo"
    fake.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512_bf16\n\nprocessor\t: 1\nflags\t: fpu\n")
    real_path = model_module.Path
    monkeypatch.setattr(model_module, "Path", lambda p: fake if p == "/proc/cpuinfo" else real_path(p))
    assert model_module.cpu_flags() == {"fpu", "sse2", "avx512_bf16"}


def _compiled(folder, policy: str):
    with precision_policy(policy):
        model = build_model(str(folder))
        compile_model(model, build_optimizer(TrainConfig(learning_rate=1e-3), 10))
    return model


def test_float16_is_loss_scaled_and_skips_overflowing_steps(tmp_path):
    folder = save_tiny_bert(tmp_path / "bert")
    model = _compiled(folder, "mixed_float16")
    optimizer = model.optimizer
    assert isinstance(optimizer, keras.mixed_precision.LossScaleOptimizer)
    assert model.compute_dtype == "float16" and model.weights[0].dtype == tf.float32
    before = [w.numpy() for w in model.trainable_weights]
    scale = float(optimizer.loss_scale)
    grads = [tf.fill(w.shape, np.float32(np.inf)) for w in model.trainable_weights]
    optimizer.apply_gradients(zip(grads, model.trainable_weights, strict=True))
    assert float(optimizer.loss_scale) == scale / 2  # the scale drops ...
    for old, new in zip(before, model.trainable_weights, strict=True):
        np.testing.assert_array_equal(old, new.numpy())  # ... and the step is skipped
    batch = {"input_ids": tf.constant([[2, 6, 7, 3]] * 4), "attention_mask": tf.ones([4, 4], tf.int32),
             "token_type_ids": tf.zeros([4, 4], tf.int32)}
    loss = model.train_on_batch(batch, tf.constant([0, 1, 0, 1]), return_dict=True)["loss"]
    assert math.isfinite(loss)
    assert model(batch).logits.dtype == tf.float16  # the loss casts them to float32


def test_bfloat16_needs_no_loss_scaling(tmp_path):
    model = _compiled(save_tiny_bert(tmp_path / "bert"), "mixed_bfloat16")
    assert not isinstance(model.optimizer, keras.mixed_precision.LossScaleOptimizer)
    assert model.compute_dtype == "bfloat16"


@pytest.mark.real_model
def test_short_real_runs_agree_across_precisions(shared_model_dir, shared_imdb_dir, tmp_path):
    from tfbert import train

    results = {}
    for policy in ("float32", "mixed_float16", "mixed_bfloat16"):
        cfg = RunConfig(
            data=DataConfig(sources=(str(shared_imdb_dir),), train_size=192, val_size=48,
                            test_size=200, max_length=48),
            model=ModelConfig(name_or_path=str(shared_model_dir), precision=policy),
            # one bucket as wide as the texts: one training and one evaluation graph per run
            train=TrainConfig(epochs=1, batch_size=16, early_stopping_patience=None,
                              pad_multiple=48),
            output=OutputConfig(output_dir=str(tmp_path), run_name=policy, export=False),
        )
        results[policy] = train.run(cfg)
    reference = results["float32"].metrics["test"]
    for policy, result in results.items():
        assert math.isfinite(result.history["loss"][0])
        test = result.metrics["test"]
        assert abs(test["accuracy"] - reference["accuracy"]) <= 0.06, (policy, test["accuracy"])
        assert abs(test["loss"] - reference["loss"]) <= 0.06, (policy, test["loss"])


def test_a_float16_run_exports_float32_outputs(tiny_model_dir, toy_data_dir, tmp_path):
    """Whatever training computed in, the export computes and answers in float32.

    (The real model's export is exercised by test_end_to_end, through train.py.)
    """
    from tfbert.cli.train import train_and_export

    result = train_and_export(RunConfig(
        data=DataConfig(sources=(str(toy_data_dir),), max_length=32),
        model=ModelConfig(name_or_path=str(tiny_model_dir), precision="mixed_float16"),
        train=TrainConfig(epochs=1, batch_size=32, early_stopping_patience=None),
        output=OutputConfig(output_dir=str(tmp_path), run_name="float16"),
    ))
    assert result.metrics["test"]["n_examples"] == 40
    export = tf.saved_model.load(str(result.run_dir / "export" / "classifier" / "1"))
    out = export.signatures["serving_default"](text=tf.constant(["A wonderful film.", "Dreadful."]))
    assert out["probabilities"].dtype == tf.float32 and out["logits"].dtype == tf.float32
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after the run
