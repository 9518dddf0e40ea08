"""Fine-tuning: `run(cfg)` goes data -> model -> compile -> fit -> evaluate -> save, in that order."""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

from tfbert.callbacks import build_callbacks
from tfbert.config import RunConfig
from tfbert.data import DataError, Splits, load_splits
from tfbert.evaluate import evaluate_logits, format_metrics, make_logits_fn, predict_logits
from tfbert.features import make_dataset, sort_by_length, tokenize_frame
from tfbert.keras import keras
from tfbert.model import (
    build_model,
    build_optimizer,
    compile_model,
    load_tokenizer,
    max_positions,
    precision_policy,
    resolve_precision,
)
from tfbert.run_folder import create_run_folder, default_run_name, write_json_atomic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    """What a finished run left behind."""

    run_dir: Path
    metrics: dict
    history: dict
    seconds: float


def resolve_config(cfg: RunConfig) -> RunConfig:
    """Fills the choices made at run time (run name, precision) so the saved config repeats them."""
    output = cfg.output
    if output.run_name is None:
        output = dataclasses.replace(output, run_name=default_run_name(cfg.model.name_or_path))
    model = dataclasses.replace(cfg.model, precision=resolve_precision(cfg.model.precision))
    return dataclasses.replace(cfg, output=output, model=model)


def _check_max_length(model, max_length: int) -> None:
    limit = max_positions(model)
    if limit is not None and max_length > limit:
        raise DataError(f"--max-length {max_length} exceeds the model's {limit} positions; "
                        f"use --max-length {limit} or less")


def _evaluate_splits(model, datasets: dict, splits: Splits) -> dict:
    logits_fn = make_logits_fn(model)
    metrics = {}
    for name, dataset in datasets.items():
        logits, labels = predict_logits(model, dataset, logits_fn)
        metrics[name] = evaluate_logits(logits, labels, splits.labels.names)
    return metrics


def _fine_tune(cfg: RunConfig, start: float) -> RunResult:
    """Phases 1-6 of `run`, under the run's precision policy."""
    # 1. Data: read, clean and split before touching the run folder, so bad data leaves nothing.
    splits = load_splits(cfg.data)
    log.info("data: %s, %d classes %s", splits.sizes(), len(splits.labels), list(splits.labels.names))

    # 2. Model and tokenizer.
    tokenizer = load_tokenizer(cfg.model.name_or_path)
    model = build_model(cfg.model.name_or_path, splits.labels)
    _check_max_length(model, cfg.data.max_length)
    log.info("model: %s (%s)", cfg.model.name_or_path, cfg.model.precision)

    folder = create_run_folder(cfg.output.output_dir, cfg.output.run_name, cfg.output.overwrite)
    cfg.save(folder.run_config)
    write_json_atomic(folder.labels, splits.labels.id2label)
    log.info("run folder: %s", folder.path)

    # 3. Tokenize once; tf.data pipelines padded per batch (within length buckets by default).
    pad_id = tokenizer.pad_token_id or 0
    tokenized = {name: tokenize_frame(getattr(splits, name), tokenizer, cfg.data.max_length)
                 for name in ("train", "validation", "test")}
    train_ds = make_dataset(tokenized["train"], cfg.train.batch_size, pad_id, shuffle=True,
                            seed=cfg.train.seed, shuffle_buffer=cfg.train.shuffle_buffer,
                            bucketing=cfg.train.bucketing, pad_multiple=cfg.train.pad_multiple)
    eval_ds = {}
    for name in ("validation", "test"):  # evaluation order does not matter: sort by length
        ordered, _ = sort_by_length(tokenized[name])
        eval_ds[name] = make_dataset(ordered, cfg.train.eval_batch_size, pad_id,
                                     bucketing=cfg.train.bucketing,
                                     pad_multiple=cfg.train.pad_multiple)

    # 4. Optimizer (AdamW, warm-up + linear decay over every step) and compile.
    steps_per_epoch = math.ceil(len(tokenized["train"]) / cfg.train.batch_size)
    compile_model(model, build_optimizer(cfg.train, steps_per_epoch * cfg.train.epochs),
                  jit_compile=cfg.train.jit_compile)

    # 5. Fit; validation metrics, checkpoints, early stopping and logs come from callbacks.
    callbacks = build_callbacks(cfg.train, eval_ds["validation"], splits.labels.names,
                                folder.best_weights, folder.history, folder.logs)
    history = model.fit(train_ds, epochs=cfg.train.epochs, callbacks=callbacks, verbose=1)

    # 6. Keep the best epoch's weights, save in save_pretrained form, evaluate.
    if folder.best_weights.exists():
        model.load_weights(str(folder.best_weights))
    metrics = _evaluate_splits(model, eval_ds, splits)
    metrics["collapse_warnings"] = callbacks[0].collapse_warnings
    metrics["train_examples"] = len(tokenized["train"])
    metrics["epochs_run"] = len(history.history.get("loss", []))
    metrics["seconds"] = round(time.monotonic() - start, 1)
    model.save_pretrained(str(folder.path))
    tokenizer.save_pretrained(str(folder.path))
    write_json_atomic(folder.metrics, metrics)
    for name in ("validation", "test"):
        print(format_metrics(metrics[name], name))
    return RunResult(folder.path, metrics, history.history, metrics["seconds"])


def run(cfg: RunConfig) -> RunResult:
    """Fine-tunes `cfg.model` on `cfg.data` and leaves a complete run folder.

    Raises:
        DataError, ModelLoadError, RunFolderError: bad input, reported before any training.
    """
    start = time.monotonic()
    cfg = resolve_config(cfg)
    keras.utils.set_random_seed(cfg.train.seed)
    with precision_policy(cfg.model.precision):
        result = _fine_tune(cfg, start)

    # 7. Export a SavedModel for TF Serving (raw text in, probabilities and label out).
    if cfg.output.export:
        from tfbert.export import export_run

        exported = export_run(result.run_dir, model_name=cfg.output.export_name)
        log.info("SavedModel for TF Serving: %s", exported.path)
    return result
