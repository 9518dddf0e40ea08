"""Keras callbacks for `model.fit`: validation metrics each epoch, the collapse guard, checkpoints."""

from __future__ import annotations

import logging
from pathlib import Path

import tensorflow as tf

from tfbert.config import TrainConfig
from tfbert.evaluate import evaluate_logits, make_logits_fn, predict_logits
from tfbert.keras import keras
from tfbert.metrics import COLLAPSE_ADVICE, detect_collapse

log = logging.getLogger(__name__)


class ValidationMetrics(keras.callbacks.Callback):
    """Evaluates the validation split at each epoch end with scikit-learn metrics.

    Adds `val_loss`, `val_accuracy`, `val_f1`, `val_precision` and `val_recall` to the epoch
    logs, so the callbacks after it (checkpoint, early stopping, CSV, TensorBoard, progress
    bar) all see them. Warns loudly when predictions collapse onto one class.
    """

    def __init__(self, dataset: tf.data.Dataset, label_names: tuple[str, ...]):
        super().__init__()
        self.dataset = dataset
        self.label_names = label_names
        self.collapse_warnings: list[str] = []
        self._logits_fn = None

    def on_train_begin(self, logs=None):
        self._logits_fn = make_logits_fn(self.model)

    def on_epoch_end(self, epoch, logs=None):
        logits, labels = predict_logits(self.model, self.dataset, self._logits_fn)
        metrics = evaluate_logits(logits, labels, self.label_names)
        if logs is not None:
            for key in ("loss", "accuracy", "f1", "precision", "recall"):
                logs[f"val_{key}"] = metrics[key]
        problem = detect_collapse(labels, logits.argmax(axis=-1), len(self.label_names))
        if problem:
            message = f"epoch {epoch + 1}: predictions collapsed: {problem}; {COLLAPSE_ADVICE}"
            self.collapse_warnings.append(message)
            # A leading newline keeps the warning off the progress bar's line.
            log.warning("\n%s\n!!! %s\n%s", "!" * 80, message, "!" * 80)


def build_callbacks(
    cfg: TrainConfig,
    validation: tf.data.Dataset,
    label_names: tuple[str, ...],
    best_weights: Path,
    history_csv: Path,
    log_dir: Path,
) -> list[keras.callbacks.Callback]:
    """Validation metrics first, then everything that reads them."""
    best_weights.parent.mkdir(parents=True, exist_ok=True)
    callbacks = [
        ValidationMetrics(validation, label_names),
        keras.callbacks.ModelCheckpoint(
            str(best_weights), monitor=cfg.monitor, mode=cfg.monitor_mode,
            save_best_only=True, save_weights_only=True, verbose=1,
        ),
        keras.callbacks.CSVLogger(str(history_csv)),
        keras.callbacks.TensorBoard(log_dir=str(log_dir), write_graph=False,
                                    update_freq="epoch", profile_batch=0),
        keras.callbacks.TerminateOnNaN(),
    ]  # Keras appends its progress bar last, so the epoch line shows the val metrics too.
    if cfg.early_stopping_patience:
        callbacks.insert(2, keras.callbacks.EarlyStopping(
            monitor=cfg.monitor, mode=cfg.monitor_mode,
            patience=cfg.early_stopping_patience, verbose=1,
        ))
    return callbacks
