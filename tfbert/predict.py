"""Prediction: the compiled forward pass, and `Classifier.from_run(dir).predict(texts)`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from tfbert.config import DataConfig, PredictConfig
from tfbert.encoder.module import build_fast_encoder
from tfbert.encoder.weights import COMPUTE_DTYPES, UnsupportedArchitectureError, read_weights
from tfbert.features import make_dataset, sort_by_length, tokenize_texts
from tfbert.model import build_model, load_tokenizer, output_names, resolve_compute_dtype
from tfbert.prediction import Prediction, check_pairs, to_predictions
from tfbert.run_folder import open_run_folder
from tfbert.scoring.metrics import softmax
from tfbert.tasks.head import TaskHead, sigmoid
from tfbert.tasks.kinds import MULTI_LABEL, REGRESSION, task_of
from tfbert.tasks.windows import aggregate_windows

log = logging.getLogger(__name__)


class LogitsFunction:
    """A compiled forward pass: one batch of features -> float32 logits.

    It runs the fast encoder (`tfbert.encoder`) in `compute_dtype` where that covers the model's
    architecture, and the model's own Keras layers otherwise. The fast encoder holds a copy of
    the weights: `refresh()` copies them again after the model trained on. `fast=False` keeps
    the model's own layers (the reference the fast encoder is tested against).
    """

    def __init__(self, model, compute_dtype: str | None = None, fast: bool = True):
        self.model = model
        self.compute_dtype = compute_dtype or _keras_compute_dtype(model)
        self.encoder = None
        if fast and self.compute_dtype in COMPUTE_DTYPES:
            try:
                self.encoder = build_fast_encoder(model, self.compute_dtype)
            except UnsupportedArchitectureError as err:
                log.info("fast encoder not used (%s): the model's own layers run", err)
        forward = self.encoder or (lambda features: model(features, training=False).logits)
        self._compiled = tf.function(lambda features: tf.cast(forward(features), tf.float32),
                                     reduce_retracing=True)

    @property
    def fast(self) -> bool:
        return self.encoder is not None

    def refresh(self) -> None:
        """Copies the model's current weights into the fast encoder (nothing to do without one)."""
        if self.encoder is not None:
            self.encoder.load(read_weights(self.model))

    def __call__(self, features: dict) -> tf.Tensor:
        return self._compiled(features)


def _keras_compute_dtype(model) -> str:
    policy = getattr(model, "dtype_policy", None)
    return getattr(policy, "compute_dtype", None) or "float32"


def make_logits_fn(model, compute_dtype: str | None = None, fast: bool = True) -> LogitsFunction:
    """The compiled forward pass of `model`, in `compute_dtype` (default: its Keras policy's)."""
    return LogitsFunction(model, compute_dtype, fast)


def _steady_input_options() -> tf.data.Options:
    """tf.data without its autotuner, for inference.

    With autotuning on, a pass over 256 IMDb reviews at 512 tokens took 20.5 s in most runs and
    11 s in the others (the same batches, materialised first: 10.8 s every time; AMD EPYC Zen 4,
    2 cores). Batches are cheap to make here, so nothing is lost without it.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def predict_logits(model, dataset: tf.data.Dataset, logits_fn=None, progress: str | None = None,
                   on_batch: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Runs the model over `(features, labels)` batches; returns (logits, labels) as NumPy.

    `progress` names a progress bar (batches done, time left) for passes long enough to need one;
    `on_batch` is told the number of texts of each batch done (a caller's own progress line).
    """
    logits_fn = logits_fn or make_logits_fn(model)
    dataset = dataset.with_options(_steady_input_options())
    all_logits, all_labels = [], []
    bar = None
    if progress:
        from tfbert.base.keras import keras

        batches = int(dataset.cardinality())
        print(progress, flush=True)
        bar = keras.utils.Progbar(batches if batches >= 0 else None, unit_name="batch")
    for features, labels in dataset:
        all_logits.append(logits_fn(features).numpy())
        all_labels.append(labels.numpy())
        if bar is not None:
            bar.add(1)
        if on_batch is not None:
            on_batch(len(all_logits[-1]))
    if not all_logits:
        return np.zeros((0, model.config.num_labels), np.float32), np.zeros((0,), np.int64)
    return np.concatenate(all_logits), np.concatenate(all_labels)


class Classifier:
    """A fine-tuned model and its tokenizer, ready to label texts (or pairs of texts).

    `head` says what the outputs mean (class, label set or score); without one, the model
    config's `problem_type` decides, with no standardisation and thresholds of 0.5.
    `compute_dtype` ("auto", "float32", "bfloat16") is what the forward pass computes in;
    `fast_encoder=False` runs the model's own transformers layers instead of the fast encoder.
    """

    def __init__(self, model, tokenizer, data: DataConfig,
                 batch_size: int = PredictConfig.batch_size, temperature: float = 1.0,
                 head: TaskHead | None = None, compute_dtype: str = PredictConfig.compute_dtype,
                 fast_encoder: bool = True):
        self.model = model
        self.temperature = temperature
        self.tokenizer = tokenizer
        self.data = data  # how texts are cut: the run's own settings
        self.is_pair = data.is_pair
        self.batch_size = batch_size
        self.label_names = output_names(model)
        self.head = head or TaskHead(task_of(model.config.problem_type), self.label_names)
        self.task = self.head.task
        self.last_windows: np.ndarray | None = None  # windows per text of the last call
        dtype, why = resolve_compute_dtype(compute_dtype)
        self._logits_fn = make_logits_fn(model, dtype, fast_encoder)
        log.info("predicting in %s (%s), %s", dtype, why,
                 "fast encoder" if self._logits_fn.fast else "the model's own layers")

    @property
    def compute_dtype(self) -> str:
        return self._logits_fn.compute_dtype

    @property
    def windowed(self) -> bool:
        """Reads a long text whole, as windows (the run's `--long-text windows`)."""
        return self.data.windowed

    @property
    def uses_fast_encoder(self) -> bool:
        return self._logits_fn.fast

    @classmethod
    def from_run(cls, run_dir: str | Path, batch_size: int = PredictConfig.batch_size,
                 compute_dtype: str = PredictConfig.compute_dtype) -> Classifier:
        """Loads the model saved by `scripts/train.py`.

        Texts are cut as in training (the run's `DataConfig`), and probabilities use the
        temperature `--calibrate` fitted (if any), so they equal the export's (computed in
        the same dtype).
        """
        folder = open_run_folder(run_dir)
        model = build_model(str(folder.path))
        head = folder.task_head(output_names(model))
        return cls(model, load_tokenizer(str(folder.path)), folder.config().data, batch_size,
                   folder.temperature(), head, compute_dtype)

    def predict_logits(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None,
                       on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """Float32 logits, shape `[len(texts), num_labels]`; `on_batch` as in `predict_logits`
        (with windows it counts windows, not texts).

        A pair model reads `texts[i]` with `text_pairs[i]`. A run trained on windows reads
        each text as its windows and aggregates their logits (`last_windows` then holds how
        many windows each text of the call had).
        """
        check_pairs(texts, text_pairs, self.is_pair)
        if len(texts) == 0:
            self.last_windows = np.zeros(0, np.int64) if self.windowed else None
            return np.zeros((0, len(self.label_names)), np.float32)
        frame = pd.DataFrame({"text": list(texts), "label": 0})
        if text_pairs is not None:
            frame.insert(1, "text_pair", list(text_pairs))
        # Long enough to want progress bars, unless the caller shows its own through `on_batch`.
        many = on_batch is None and len(texts) > 10_000
        tokenized = tokenize_texts(frame, self.tokenizer, self.data, show_progress=many)
        # Neighbours in length order share batches with little padding; undo the order after.
        ordered, order = sort_by_length(tokenized)
        dataset = make_dataset(ordered, self.batch_size, self.tokenizer.pad_token_id or 0,
                               bucketing=True)
        progress = f"Classifying {len(texts)} texts" if many else None
        logits, _ = predict_logits(self.model, dataset, self._logits_fn, progress, on_batch)
        restored = np.empty_like(logits)
        restored[order] = logits
        if tokenized.text_ids is None:
            return restored
        self.last_windows = np.bincount(tokenized.text_ids, minlength=len(texts))
        return aggregate_windows(self.task, restored, tokenized.text_ids, self.data.aggregate,
                                 len(texts))

    def predict_outputs(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None,
                        on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """What the export serves, `[len(texts), outputs]`: class probabilities (softmax),
        label probabilities (sigmoid), or a regression's score in the target's unit.

        `on_batch(n)` is called after each model batch with its number of texts, so a long call
        can show progress.
        """
        logits = self.predict_logits(texts, text_pairs, on_batch)
        if self.task == REGRESSION:
            return self.head.scores(logits).astype(np.float32)[:, None]
        if self.task == MULTI_LABEL:
            return sigmoid(logits).astype(np.float32)
        return softmax(logits / self.temperature)

    def predict_proba(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None,
                      on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """Class (or label) probabilities, shape `[len(texts), num_labels]`."""
        if self.task == REGRESSION:
            raise ValueError("a regression model gives scores, not probabilities: use "
                             "predict_outputs or predict")
        return self.predict_outputs(texts, text_pairs, on_batch)

    def predict(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None
                ) -> list[Prediction]:
        """Each text's (or pair's) answer, in input order: a class with every class's
        probability, a label set with each label's, or a score."""
        outputs = self.predict_outputs(texts, text_pairs)
        return to_predictions(texts, outputs, self.head, text_pairs, self.last_windows)
