"""A tfbert row: the package's own tokenization, pipeline, model, optimizer and compile."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.speed.figures import median_or_none
from benchmarks.speed.settings import RowSpec
from benchmarks.speed.timing import make_step_timer, time_passes
from benchmarks.speed.worker import dataset_batches, read_sample, worker_main
from tfbert.base.keras import keras
from tfbert.config import TrainConfig
from tfbert.data import LabelSet
from tfbert.features import make_dataset, sort_by_length, tokenize_frame
from tfbert.model import build_model, build_optimizer, compile_model, load_tokenizer, precision_policy
from tfbert.predict import make_logits_fn, predict_logits


def pipeline_check(model: Any, build_dataset: Callable[[], Any], steps: int) -> dict:
    """Step time fed by the real pipeline vs by the same batches cached in memory.

    One fit over `take(k).cache().repeat()`: the first k steps pull the batches through the
    real pipeline (filling the cache), the next k replay them from memory. The fit's first
    step also starts the iterator (and fills the shuffle buffer), so it is left out.
    """
    timer = make_step_timer(keras.callbacks.Callback)
    model.fit(build_dataset().take(steps).cache().repeat(), epochs=1, steps_per_epoch=2 * steps,
              callbacks=[timer], verbose=0)
    durations = list(np.diff(timer.ends))  # durations[i] is step i + 1
    real, memory = median_or_none(durations[:steps - 1]), median_or_none(durations[steps - 1:])
    return {"steps": steps, "real_pipeline_step_s": real, "in_memory_step_s": memory,
            "ratio": real / memory if memory else None}


def measure(spec: dict) -> dict:
    """Trains and infers as tfbert does; returns step times and every batch's shape."""
    import tensorflow as tf  # here, not above: tfbert must set TF_USE_LEGACY_KERAS first

    cfg, row = spec["cfg"], RowSpec(**spec["row"])
    seed, total = cfg["seed"], cfg["warmup_steps"] + cfg["steps"]
    train_frame, eval_frame, names = read_sample(spec["sample"])
    tokenizer = load_tokenizer(cfg["model"])
    pad_id = tokenizer.pad_token_id or 0
    train_split = tokenize_frame(train_frame, tokenizer, cfg["max_length"], show_progress=False)
    eval_split, _ = sort_by_length(tokenize_frame(eval_frame, tokenizer, cfg["max_length"],
                                                  show_progress=False))

    def build_train(repeat: bool = True):
        tf.random.set_seed(seed)  # the same global seed makes every build yield the same batches
        dataset = make_dataset(train_split, cfg["batch_size"], pad_id, shuffle=True, seed=seed,
                               bucketing=row.bucketing, pad_multiple=row.pad_multiple)
        return dataset.repeat() if repeat else dataset

    result = {"precision": row.precision, "pool_batches": dataset_batches(build_train(repeat=False)),
              "train": {"batches": dataset_batches(build_train().take(total))}}
    with precision_policy(row.precision):
        keras.utils.set_random_seed(seed)
        model = build_model(cfg["model"], LabelSet(tuple(names)))
        train_cfg = TrainConfig(batch_size=cfg["batch_size"], learning_rate=cfg["learning_rate"],
                                weight_decay=cfg["weight_decay"], warmup_ratio=cfg["warmup_ratio"])
        optimizer = build_optimizer(train_cfg, total + 2 * row.pipeline_check_steps)
        compile_model(model, optimizer, jit_compile=row.jit_compile)
        timer = make_step_timer(keras.callbacks.Callback)
        model.fit(build_train(), epochs=1, steps_per_epoch=total, callbacks=[timer], verbose=0)
        tracing = getattr(model.train_function, "experimental_get_tracing_count", None)
        result["train"].update(start=timer.start, step_ends=timer.ends,
                               traces=tracing() if tracing else None)
        if row.pipeline_check_steps:
            result["pipeline_check"] = pipeline_check(model, build_train, row.pipeline_check_steps)

        # Inference as tfbert evaluates: shortest first, so each batch carries little padding.
        eval_ds = make_dataset(eval_split, cfg["eval_batch_size"], pad_id, bucketing=row.bucketing,
                               pad_multiple=row.pad_multiple)
        logits_fn = make_logits_fn(model)
        result["inference"] = time_passes(lambda: predict_logits(model, eval_ds, logits_fn))
        result["inference"]["batches"] = dataset_batches(eval_ds)
    return result


if __name__ == "__main__":
    sys.exit(worker_main(measure, prog="python -m benchmarks.speed.tfbert_worker"))
