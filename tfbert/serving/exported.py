"""Labelling with an exported SavedModel, as TF Serving would: no transformers, no training code."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfbert.base.errors import ExportError, first_line
from tfbert.config import PredictConfig
from tfbert.prediction import Prediction, check_pairs, to_predictions
from tfbert.tasks.head import TaskHead
from tfbert.tasks.kinds import MULTI_LABEL, REGRESSION, SINGLE_LABEL

TEXT_SIGNATURE = "serving_default"


class ExportedClassifier:
    """The raw-text `serving_default` signature of an export, with its class names and task.

    Texts (or pairs: `is_pair`) go in chunks of `batch_size` (the signature's batch), each chunk
    sorted by length so that its padding stays small. Outputs are the export's: probabilities
    (calibrated if training was), label probabilities with the stored thresholds, or scores.
    """

    def __init__(self, export_dir: str | Path, batch_size: int = PredictConfig.batch_size):
        path = Path(export_dir)
        if not (path / "saved_model.pb").is_file():
            raise ExportError(f"{path} holds no saved_model.pb; pass a version folder such "
                              "as saved_models/<run>/export/classifier/1")
        loaded = _load(path)
        signature = loaded.signatures.get(TEXT_SIGNATURE)
        if signature is None:
            raise no_signature_error(path, loaded.signatures)
        _, inputs = signature.structured_input_signature
        if set(inputs) not in ({"text"}, {"text", "text_pair"}):
            raise ExportError(f"{path}: {TEXT_SIGNATURE} takes {sorted(inputs)}, not raw text; "
                              "this needs an export with the raw-text signature")
        self.is_pair = "text_pair" in inputs
        self._loaded, self._signature = loaded, signature  # keep the object alive
        self.batch_size = batch_size
        outputs = signature.structured_outputs
        self._output = "score" if "score" in outputs else "probabilities"
        width = 1 if self._output == "score" else int(outputs["probabilities"].shape[-1])
        names = getattr(loaded, "label_names", None)
        self.label_names = (tuple(n.decode() for n in names.numpy()) if names is not None
                            else tuple(f"class {i}" for i in range(width)))
        length = getattr(loaded, "max_length", None)
        self.max_length = int(length.numpy()) if length is not None else None
        windows = getattr(loaded, "max_windows", None)  # exports before windows have none
        self.max_windows = int(windows.numpy()) if windows is not None else 1
        self.windowed = "windows" in outputs  # reads long texts whole; says in how many windows
        self.last_windows: np.ndarray | None = None  # windows per text of the last call
        self.head = _head_of(loaded, outputs, self.label_names)
        self.task = self.head.task

    def predict_outputs(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None,
                        on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """Probabilities `[len(texts), labels]`, or scores `[len(texts), 1]`, in input order.

        A pair export reads `texts[i]` with `text_pairs[i]`. `on_batch(n)` is called after each
        signature call with its number of texts (progress).
        """
        check_pairs(texts, text_pairs, self.is_pair)
        result = np.zeros((len(texts), len(self.label_names)), np.float32)
        lengths = [len(t) + (len(text_pairs[i]) if text_pairs is not None else 0)
                   for i, t in enumerate(texts)]
        order = np.argsort(lengths, kind="stable")
        windows = np.zeros(len(texts), np.int64)
        for start in range(0, len(texts), self.batch_size):
            rows = order[start:start + self.batch_size]
            inputs = {"text": tf.constant([texts[i] for i in rows], tf.string)}
            if text_pairs is not None:
                inputs["text_pair"] = tf.constant([text_pairs[i] for i in rows], tf.string)
            answer = self._signature(**inputs)
            result[rows] = answer[self._output].numpy().reshape(len(rows), -1)
            if self.windowed:
                windows[rows] = answer["windows"].numpy()
            if on_batch is not None:
                on_batch(len(rows))
        self.last_windows = windows if self.windowed else None
        return result

    def predict_proba(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None,
                      on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """Class (or label) probabilities, shape `[len(texts), labels]`."""
        if self.task == REGRESSION:
            raise ValueError("a regression export serves scores, not probabilities: use "
                             "predict_outputs or predict")
        return self.predict_outputs(texts, text_pairs, on_batch)

    def predict(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None
                ) -> list[Prediction]:
        """Each text's (or pair's) answer, in input order, as `Classifier.predict` gives it."""
        outputs = self.predict_outputs(texts, text_pairs)
        return to_predictions(texts, outputs, self.head, text_pairs, self.last_windows)


def _head_of(loaded, outputs: dict, names: tuple[str, ...]) -> TaskHead:
    """The task an export serves, read off its outputs, with its stored thresholds."""
    if "score" in outputs:
        return TaskHead(REGRESSION, names)
    if "labels_mask" in outputs:
        return TaskHead(MULTI_LABEL, names, thresholds=tuple(
            float(t) for t in loaded.thresholds.numpy()))
    return TaskHead(SINGLE_LABEL, names)


def no_signature_error(path, signatures) -> ExportError:
    return ExportError(f"{path} has no {TEXT_SIGNATURE!r} signature (it has "
                       f"{sorted(signatures) or 'none'}); export the run with scripts/export.py")


def no_variables_error(path) -> ExportError:
    return ExportError(f"{path} has no variables/ folder: the export is incomplete; export the "
                       "run again (scripts/export.py --run ...)")


def _load(path: Path):
    """The SavedModel at `path`; an incomplete or damaged one is an `ExportError`, not a trace."""
    if not (path / "variables").is_dir():
        raise no_variables_error(path)
    try:
        return tf.saved_model.load(str(path))
    except Exception as err:  # noqa: BLE001 (protobuf, checkpoint and op errors alike)
        raise ExportError(f"{path} cannot be loaded as a SavedModel ({first_line(err)}); export the "
                          "run again (scripts/export.py --run ...)") from err
