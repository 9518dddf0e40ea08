"""Keras callbacks for `model.fit`: validation metrics each epoch, the collapse guard, checkpoints."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import tensorflow as tf

from tfbert.base.files import read_json, write_json_atomic
from tfbert.base.keras import keras
from tfbert.config import TrainConfig
from tfbert.predict import make_logits_fn, predict_logits
from tfbert.run_folder import RunFolder
from tfbert.scoring.metrics import COLLAPSE_ADVICE, detect_collapse
from tfbert.tasks.evaluation import epoch_logs, split_metrics
from tfbert.tasks.head import TaskHead
from tfbert.tasks.kinds import SINGLE_LABEL
from tfbert.tasks.windows import per_text

log = logging.getLogger(__name__)


class ValidationMetrics(keras.callbacks.Callback):
    """Evaluates the validation split at each epoch end with scikit-learn metrics.

    Adds the task's `val_*` metrics (`tasks.kinds.MONITORS`: accuracy and F1 for classes,
    micro/macro-F1 and mAP for label sets, RMSE, MAE and correlations for a number) to the
    epoch logs, so the callbacks after it (checkpoint, early stopping, CSV, TensorBoard,
    progress bar) all see them. Warns loudly when predictions collapse onto one class.
    """

    def __init__(self, dataset: tf.data.Dataset, head: TaskHead, text_ids=None,
                 aggregate: str = "mean-logits"):
        super().__init__()
        self.dataset = dataset
        self.head = head
        self.text_ids = text_ids  # with windows: each window's text, so metrics count texts
        self.aggregate = aggregate
        self.collapse_warnings: list[str] = []
        self._logits_fn = None

    def on_train_begin(self, logs=None):
        # Under a distribution strategy (fit runs callbacks in its scope) the fast encoder's
        # weight copies would become distributed variables: multi-worker ones are initialised
        # by a collective broadcast, which has no bfloat16 kernel. Those runs validate through
        # the model's own layers; one-device runs (the default strategy) take the fast path.
        self._logits_fn = make_logits_fn(self.model, fast=not tf.distribute.has_strategy())

    def on_epoch_end(self, epoch, logs=None):
        if not _finite_loss(logs):  # diverged: no metrics, so no checkpoint of broken weights
            return
        self._logits_fn.refresh()  # the fast encoder's copy of the weights, as trained so far
        logits, labels = predict_logits(self.model, self.dataset, self._logits_fn)
        logits, labels = per_text(self.head.task, logits, labels, self.text_ids, self.aggregate)
        metrics = split_metrics(self.head, logits, labels)
        if logs is not None:
            logs.update(epoch_logs(self.head.task, metrics))
        if self.head.task != SINGLE_LABEL:
            return
        problem = detect_collapse(labels, logits.argmax(axis=-1), len(self.head.names))
        if problem:
            message = f"epoch {epoch + 1}: predictions collapsed: {problem}; {COLLAPSE_ADVICE}"
            self.collapse_warnings.append(message)
            # A leading newline keeps the warning off the progress bar's line.
            log.warning("\n%s\n!!! %s\n%s", "!" * 80, message, "!" * 80)


class StopOnNaN(keras.callbacks.TerminateOnNaN):
    """Stops training at the first NaN/Inf loss and remembers where it happened."""

    def __init__(self):
        super().__init__()
        self.bad_step: tuple[int, int, float] | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)) and self.bad_step is None:
            self.bad_step = (self._epoch + 1, batch + 1, float(loss))
        super().on_batch_end(batch, logs)


class ResumableBackup(keras.callbacks.BackupAndRestore):
    """BackupAndRestore that also backs up at every epoch end when saving every N steps.

    Keras saves either per epoch or per N steps; a run killed just after an epoch should not
    repeat the tail of it, so the epoch end is always a backup point. An epoch's last step is
    backed up only there, after the epoch's other callbacks (checkpoint, history): a backup at
    the last batch marked the epoch done when a full disk then failed its checkpoint, and the
    resumed run had neither its best weights nor its history.
    """

    def __init__(self, backup_dir: Path, steps_per_epoch: int, save_every_steps: int):
        super().__init__(str(backup_dir), save_freq=save_every_steps or "epoch",
                         delete_checkpoint=False)
        self.steps_per_epoch = steps_per_epoch

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.steps_per_epoch - 1:
            self._batches_count = 0  # the epoch end backs this step up; count afresh from it
        elif _finite_loss(logs):  # never back up weights that already diverged
            super().on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if _finite_loss(logs):
            self._backup(epoch=epoch, batch=self.steps_per_epoch - 1)


class AtomicCheckpoint(keras.callbacks.ModelCheckpoint):
    """Keras' best-weights checkpoint, written under a temporary name and renamed into place.

    A full disk (or a kill) mid-write left a truncated best.weights.h5 that the resumed run
    could not load at its end.
    """

    def _save_handler(self, filepath: str) -> None:
        path = Path(filepath)
        tmp = path.with_name(f".{path.name.removesuffix('.weights.h5')}.tmp.weights.h5")
        try:
            super()._save_handler(str(tmp))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def resume_position(backup_dir: Path, steps_per_epoch: int) -> tuple[int, int]:
    """(epoch, step) at which a run backed up in `backup_dir` continues; (0, 0) if none.

    Mirrors how Keras' BackupAndRestore reads its own checkpoint, so the input pipeline can
    start at the very batch the restored model expects next.
    """
    latest = tf.train.latest_checkpoint(str(backup_dir / "chief"))
    if latest is None:
        return 0, 0
    epoch = int(tf.train.load_variable(latest, "ckpt_saved_epoch/.ATTRIBUTES/VARIABLE_VALUE"))
    batch = int(tf.train.load_variable(latest, "ckpt_saved_batch/.ATTRIBUTES/VARIABLE_VALUE"))
    if epoch < 0 or batch < 0:
        return 0, 0
    return (epoch + 1, 0) if batch >= steps_per_epoch - 1 else (epoch, batch + 1)


def _finite_loss(logs) -> bool:
    loss = (logs or {}).get("loss")
    return loss is None or math.isfinite(float(loss))


class TrainingProgress(keras.callbacks.Callback):
    """Keeps best-metric tracking and early-stopping patience across a resume.

    Keras resets these at `on_train_begin`; this callback runs after the ones it restores and
    saves their state at every epoch end, before the backup is written.
    """

    def __init__(self, path: Path, checkpoint, early_stopping, validation: ValidationMetrics,
                 write: bool = True):
        super().__init__()
        self.path = path
        self.write = write  # only the chief writes; other workers read the chief's state
        self.checkpoint = checkpoint
        self.early_stopping = early_stopping
        self.validation = validation

    def on_train_begin(self, logs=None):
        if not self.path.exists():
            return
        state = read_json(self.path)
        self.checkpoint.best = state["checkpoint_best"]
        if self.early_stopping is not None:
            self.early_stopping.best = state["early_stopping_best"]
            self.early_stopping.wait = state["early_stopping_wait"]
        self.validation.collapse_warnings = state["collapse_warnings"]

    def on_epoch_end(self, epoch, logs=None):
        if not self.write:
            return
        es = self.early_stopping
        write_json_atomic(self.path, {
            "epoch": epoch + 1,
            "checkpoint_best": float(self.checkpoint.best),
            "early_stopping_best": None if es is None else float(es.best),
            "early_stopping_wait": None if es is None else int(es.wait),
            "collapse_warnings": self.validation.collapse_warnings,
        })


def build_callbacks(
    cfg: TrainConfig,
    validation: tf.data.Dataset,
    head: TaskHead,
    folder: RunFolder,
    steps_per_epoch: int,
    resuming: bool,
    chief: bool = True,
    windows: tuple = (None, "mean-logits"),
) -> list[keras.callbacks.Callback]:
    """Validation metrics first, then everything that reads them; resume state last.

    `windows`: the validation windows' text ids (None without windows) and the aggregate.
    """
    folder.best_weights.parent.mkdir(parents=True, exist_ok=True)
    metrics = ValidationMetrics(validation, head, *windows)
    checkpoint = AtomicCheckpoint(
        str(folder.best_weights), monitor=cfg.monitor, mode=cfg.monitor_mode,
        save_best_only=True, save_weights_only=True, verbose=1,
    )
    early_stopping = None
    if cfg.early_stopping_patience:
        early_stopping = keras.callbacks.EarlyStopping(
            monitor=cfg.monitor, mode=cfg.monitor_mode,
            patience=cfg.early_stopping_patience, verbose=1,
        )
    callbacks = [
        StopOnNaN(),
        metrics,
        checkpoint,
        *([early_stopping] if early_stopping else []),
        keras.callbacks.CSVLogger(str(folder.history), append=resuming),
        keras.callbacks.TensorBoard(log_dir=str(folder.logs), write_graph=False,
                                    update_freq="epoch", profile_batch=0),
        TrainingProgress(folder.progress, checkpoint, early_stopping, metrics, write=chief),
        ResumableBackup(folder.backup, steps_per_epoch, cfg.save_every_steps),
    ]  # Keras appends its progress bar last, so the epoch line shows the val metrics too.
    return callbacks
