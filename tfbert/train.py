"""Fine-tuning: `run(cfg)` goes data -> model -> compile -> fit -> evaluate -> save, in that order."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfbert.base.errors import TrainingDivergedError
from tfbert.base.files import write_json_atomic, write_text_atomic
from tfbert.base.keras import keras
from tfbert.callbacks import StopOnNaN, ValidationMetrics, build_callbacks, resume_position
from tfbert.config import RunConfig
from tfbert.data import DataError, Splits, load_splits
from tfbert.distribute import build_strategy, describe, is_chief
from tfbert.features import (
    make_dataset,
    sort_by_length,
    steps_per_epoch,
    tokenize_texts,
    window_weights,
)
from tfbert.model import (
    build_model,
    build_optimizer,
    check_vocabulary,
    compile_model,
    load_tokenizer,
    max_positions,
    precision_policy,
    resolve_precision,
)
from tfbert.run_folder import RunFolder, default_run_name, prepare_run_folder
from tfbert.run_report import as_trained, evaluate_splits, task_head, write_run_report
from tfbert.scoring.report import shown_texts
from tfbert.tasks.evaluation import format_metrics
from tfbert.tasks.head import TaskHead
from tfbert.tasks.kinds import monitor_for
from tfbert.tasks.losses import build_loss

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    """What a finished run left behind."""

    run_dir: Path
    metrics: dict
    history: dict
    seconds: float
    is_chief: bool = True  # False on the other workers of a multi-worker run: nothing kept


def resolve_config(cfg: RunConfig) -> RunConfig:
    """Fills the choices made at run time (precision, run name) so the saved config repeats them."""
    precision, reason = resolve_precision(cfg.model.precision)
    model = dataclasses.replace(cfg.model, precision=precision, precision_reason=reason)
    cfg = dataclasses.replace(cfg, model=model)
    if cfg.output.run_name is None:
        name = default_run_name(cfg.model.name_or_path, cfg.data.sources[0], cfg.fingerprint())
        cfg = dataclasses.replace(cfg, output=dataclasses.replace(cfg.output, run_name=name))
    return cfg


def _trim_history(path: Path, epochs_done: int) -> None:
    """Drops history rows of epochs a resumed run is about to repeat."""
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    write_text_atomic(path, "".join(lines[:1 + epochs_done]))


def _read_history(path: Path) -> dict[str, list[float]]:
    import csv

    with open(path, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {key: [float(row[key]) for row in rows] for key in (rows[0] if rows else {})}


def _find(callbacks: list, kind: type):
    return next(c for c in callbacks if isinstance(c, kind))


def _check_max_length(model, max_length: int) -> None:
    limit = max_positions(model)
    if limit is not None and max_length > limit:
        raise DataError(f"--max-length {max_length} exceeds the model's {limit} positions; "
                        f"use --max-length {limit} or less")


def _open_run_folder(cfg: RunConfig, chief: bool, head: TaskHead) -> tuple[RunFolder, bool]:
    """The chief's real run folder; other workers get a scratch folder sharing its backup."""
    real = RunFolder(Path(cfg.output.output_dir) / cfg.output.run_name)
    if not chief:
        scratch = Path(tempfile.mkdtemp(prefix="tfbert-worker-"))
        folder = RunFolder(scratch, backup_root=real.backup)
        return folder, real.backup.exists()
    folder, resuming = prepare_run_folder(cfg.output.output_dir, cfg.output.run_name, cfg,
                                          cfg.output.overwrite)
    cfg.save(folder.run_config)
    write_json_atomic(folder.labels, dict(enumerate(head.names)))
    head.save(folder.head)  # tuned thresholds replace it at the end
    return folder, resuming


def _log_windows(name: str, split, texts: int, cfg: RunConfig) -> None:
    if split.text_ids is None:
        return
    log.info("%s: %d texts in %d windows of %d tokens (stride %d)%s", name, texts, len(split),
             cfg.data.max_length, cfg.data.stride,
             f"; {split.capped} texts cut at --max-windows {cfg.data.max_windows}"
             if split.capped else "")


def _tokenize_splits(splits: Splits, tokenizer, cfg: RunConfig) -> tuple[dict, dict, dict, dict]:
    """Phase 3: each split tokenized once; validation and test batched shortest first.

    Returns the tokenized splits, the evaluation datasets, the order of the texts their
    outputs come in, and (with windows) each evaluation window's text.
    """
    tokenized = {}
    for name in ("train", "validation", "test"):
        tokenized[name] = tokenize_texts(getattr(splits, name), tokenizer, cfg.data)
        _log_windows(name, tokenized[name], len(getattr(splits, name)), cfg)
    eval_ds, eval_order, eval_windows = {}, {}, {}
    for name in ("validation", "test"):  # evaluation order does not matter: sort by length
        ordered, eval_order[name] = sort_by_length(tokenized[name])
        eval_windows[name] = ordered.text_ids
        if ordered.text_ids is not None:  # windows are aggregated back into text order
            eval_order[name] = np.arange(len(getattr(splits, name)))
        eval_ds[name] = make_dataset(ordered, cfg.train.eval_batch_size, tokenizer.pad_token_id or 0,
                                     bucketing=cfg.train.bucketing,
                                     pad_multiple=cfg.train.pad_multiple)
    return tokenized, eval_ds, eval_order, eval_windows


def _fit(model, train_split, pad_id: int, callbacks: list, cfg: RunConfig, folder: RunFolder,
         resuming: bool, steps: int, global_batch: int) -> None:
    """Phase 5: `model.fit` from where a backup left off (or the start).

    The batch plan depends only on (seed, epoch), so a resumed run sees the same batches as an
    uninterrupted one.
    """
    start_epoch, start_step = resume_position(folder.backup, steps) if resuming else (0, 0)
    if resuming:
        log.info("resuming at epoch %d, step %d", start_epoch + 1, start_step + 1)
        _trim_history(folder.history, start_epoch)
    train_ds = make_dataset(train_split, global_batch, pad_id, shuffle=True,
                            seed=cfg.train.seed, bucketing=cfg.train.bucketing,
                            pad_multiple=cfg.train.pad_multiple, epochs=cfg.train.epochs,
                            start_epoch=start_epoch, start_step=start_step,
                            weights=window_weights(train_split))
    options = tf.data.Options()  # each worker keeps its slice of every global batch
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    model.fit(train_ds.with_options(options), epochs=cfg.train.epochs, steps_per_epoch=steps,
              callbacks=callbacks, verbose=1)
    diverged = _find(callbacks, StopOnNaN).bad_step
    if diverged:
        raise TrainingDivergedError(
            f"loss became {diverged[2]} at epoch {diverged[0]}, step {diverged[1]}; training "
            f"stopped. The best checkpoint so far is kept in {folder.checkpoints}. Lower "
            "--learning-rate or raise --warmup-ratio, then run again with --overwrite"
        )


def _save(folder: RunFolder, model, tokenizer, head: TaskHead, metrics: dict, raw: dict,
          test_texts: list[str], history: dict, calibrate: bool) -> None:
    """The chief's last phase: report, head, model in save_pretrained form, then metrics.json."""
    write_run_report(folder, head, metrics, raw, test_texts, history, calibrate)
    head.save(folder.head)
    model.save_pretrained(str(folder.path))
    tokenizer.save_pretrained(str(folder.path))
    write_json_atomic(folder.metrics, metrics)  # written last: marks the run complete
    shutil.rmtree(folder.backup, ignore_errors=True)
    for name in ("validation", "test"):
        print(format_metrics(metrics[name], name))


def _read_data(cfg: RunConfig) -> tuple[RunConfig, Splits, TaskHead]:
    """The splits, the head they call for, and `cfg` with what the data decided: the text
    columns found, the task, and the task's default monitor."""
    splits = load_splits(cfg.data)
    try:
        monitor = monitor_for(splits.labels.task, cfg.train.monitor)
    except ValueError as err:
        raise DataError(str(err)) from err
    cfg = dataclasses.replace(cfg, data=splits.config,
                              train=dataclasses.replace(cfg.train, monitor=monitor))
    head = task_head(splits)
    kind = "text pairs" if cfg.data.is_pair else "texts"
    log.info("data: %s %s, %s outputs %s", kind, splits.sizes(), head.task, list(head.names))
    return cfg, splits, head


def _fine_tune(cfg: RunConfig, strategy: tf.distribute.Strategy, chief: bool,
               start: float) -> RunResult:
    """Phases 1-6 of `run`, under the run's precision policy and distribution strategy."""
    # 1. Data: read, clean and split before touching the run folder, so bad data leaves nothing.
    cfg, splits, head = _read_data(cfg)

    # 2. Model and tokenizer.
    tokenizer = load_tokenizer(cfg.model.name_or_path)
    with strategy.scope():  # variables, optimizer slots and metrics live on every replica
        model = build_model(cfg.model.name_or_path, splits.labels)
    check_vocabulary(model, tokenizer, cfg.model.name_or_path)
    _check_max_length(model, cfg.data.max_length)
    log.info("model: %s (%s; %s)", cfg.model.name_or_path, cfg.model.precision,
             cfg.model.precision_reason)
    folder, resuming = _open_run_folder(cfg, chief, head)
    log.info("run folder: %s%s", folder.path, " (resuming)" if resuming else "")
    global_batch = cfg.train.batch_size * strategy.num_replicas_in_sync
    log.info("distribution: %s", describe(strategy, cfg.train.batch_size))

    # 3. Tokenize once; tf.data pipelines padded per batch (within length buckets by default).
    tokenized, eval_ds, eval_order, eval_windows = _tokenize_splits(splits, tokenizer, cfg)
    trained = as_trained(head, tokenized["train"].labels)  # evaluation keeps raw targets
    tokenized["train"] = dataclasses.replace(tokenized["train"], labels=trained)

    # 4. Optimizer (AdamW, warm-up + linear decay over every step) and compile.
    steps = steps_per_epoch(tokenized["train"], global_batch, cfg.train.bucketing,
                            cfg.train.pad_multiple)
    loss = build_loss(head.task, tokenized["train"].labels, head.num_outputs,
                      cfg.train.class_weights == "auto")
    with strategy.scope():  # the schedule counts global steps
        compile_model(model, build_optimizer(cfg.train, steps * cfg.train.epochs),
                      jit_compile=cfg.train.jit_compile, seed=cfg.train.seed, loss=loss)

    # 5. Fit, with validation metrics, checkpoints and backups in the callbacks.
    callbacks = build_callbacks(cfg.train, eval_ds["validation"], head, folder, steps, resuming,
                                chief, (eval_windows["validation"], cfg.data.aggregate))
    _fit(model, tokenized["train"], tokenizer.pad_token_id or 0, callbacks, cfg, folder, resuming,
         steps, global_batch)

    # 6. Keep the best epoch's weights, evaluate, save.
    if folder.best_weights.exists():
        # A fresh, undistributed copy takes the best weights: distributed variables cannot
        # be assigned from an HDF5 file, and evaluation and saving need no replicas.
        model = build_model(cfg.model.name_or_path, splits.labels)
        model.load_weights(str(folder.best_weights))
    history = _read_history(folder.history)
    head, metrics, raw = evaluate_splits(model, eval_ds, head, splits.sizes(), eval_windows,
                                         cfg.data.aggregate)
    metrics.update(collapse_warnings=_find(callbacks, ValidationMetrics).collapse_warnings,
                   train_examples=len(tokenized["train"]), epochs_run=len(history.get("loss", [])),
                   replicas=strategy.num_replicas_in_sync,
                   seconds_this_process=round(time.monotonic() - start, 1))
    if chief:
        test_texts = [shown_texts(splits.test)[i] for i in eval_order["test"]]
        _save(folder, model, tokenizer, head, metrics, raw, test_texts, history,
              cfg.train.calibrate)
    else:  # other workers trained in a scratch folder; the chief keeps the results
        shutil.rmtree(folder.path, ignore_errors=True)
    return RunResult(folder.path, metrics, history, metrics["seconds_this_process"], chief)


def run(cfg: RunConfig) -> RunResult:
    """Fine-tunes `cfg.model` on `cfg.data` and leaves a complete run folder.

    The SavedModel export is not part of training: `tfbert.serving.export.export_run` (which
    `scripts/train.py` calls after this) writes it from the finished run folder.

    Raises:
        DataError, ModelLoadError, RunFolderError: bad input, reported before any training.
        TrainingDivergedError: the loss became NaN or infinite.
    """
    start = time.monotonic()
    strategy = build_strategy(cfg.train.strategy)  # first: multi-worker sets up collectives
    chief = is_chief(strategy)
    cfg = resolve_config(cfg)
    keras.utils.set_random_seed(cfg.train.seed)
    if cfg.train.deterministic:
        tf.config.experimental.enable_op_determinism()
    with precision_policy(cfg.model.precision):
        return _fine_tune(cfg, strategy, chief, start)
