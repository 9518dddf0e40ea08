"""`Prediction`: the one result type of every classifier, a run folder's or an export's, and
the answer columns a labelled file gets, for each problem type."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tfbert.tasks.head import TaskHead
from tfbert.tasks.kinds import MULTI_LABEL, REGRESSION


@dataclass(frozen=True)
class Prediction:
    """One text's answer: a class (`label`, `label_id`), a label set (`labels`) or a `score`.

    `probabilities` holds every class's (single-label) or every label's own (multi-label)
    probability; a regression has none. `windows`: how many windows a model that reads long
    texts as windows read this text in (None for one that truncates).
    """

    text: str
    label: str | None
    label_id: int | None
    probabilities: dict[str, float]
    text_pair: str | None = None  # the second text, for a pair model
    labels: tuple[str, ...] | None = None
    score: float | None = None
    windows: int | None = None

    @property
    def confidence(self) -> float | None:
        return None if self.label is None else self.probabilities[self.label]

    def to_dict(self) -> dict:
        pair = {} if self.text_pair is None else {"text_pair": self.text_pair}
        windows = {} if self.windows is None else {"windows": self.windows}
        if self.score is not None:
            return {"text": self.text, **pair, "score": self.score, **windows}
        if self.labels is not None:
            return {"text": self.text, **pair, "labels": list(self.labels),
                    "probabilities": self.probabilities, **windows}
        return {"text": self.text, **pair, "label": self.label, "label_id": self.label_id,
                "probabilities": self.probabilities, **windows}


def to_predictions(texts: Sequence[str], outputs: np.ndarray, head: TaskHead,
                   text_pairs: Sequence[str] | None = None,
                   windows: np.ndarray | None = None) -> list[Prediction]:
    """Each text (or pair) with its answer; `outputs` are a classifier's `predict_outputs`,
    `windows` its `last_windows` (windowed models)."""
    if windows is not None:
        return [dataclasses.replace(p, windows=int(w)) for p, w in zip(
            to_predictions(texts, outputs, head, text_pairs), windows, strict=True)]
    seconds = text_pairs if text_pairs is not None else [None] * len(texts)
    if head.task == REGRESSION:
        return [Prediction(text, None, None, {}, second, score=float(row[0]))
                for text, second, row in zip(texts, seconds, outputs, strict=True)]
    if head.task == MULTI_LABEL:
        chosen = head.label_mask(outputs)
        return [Prediction(text, None, None, _named(head.names, row), second,
                           labels=tuple(n for n, on in zip(head.names, mask, strict=True) if on))
                for text, second, row, mask in zip(texts, seconds, outputs, chosen, strict=True)]
    results = []
    for text, second, row in zip(texts, seconds, outputs, strict=True):
        best = int(np.argmax(row))
        results.append(Prediction(text, head.names[best], best, _named(head.names, row), second))
    return results


def _named(names: Sequence[str], row: np.ndarray) -> dict[str, float]:
    return {name: float(p) for name, p in zip(names, row, strict=True)}


def answer_columns(head: TaskHead, outputs: np.ndarray) -> dict[str, object]:
    """The columns a labelled file gets for these outputs, in order (`labelling.columns`):
    `label`, `label_id` and `prob_<class>`; `labels` (a list) and `prob_<label>`; or `score`."""
    if head.task == REGRESSION:
        return {"score": np.asarray(outputs, np.float32).reshape(-1)}
    if head.task == MULTI_LABEL:
        chosen = head.label_mask(outputs)
        names = np.asarray(head.names, dtype=object)
        columns = {"labels": [list(names[mask]) for mask in chosen]}
    else:
        best = outputs.argmax(axis=-1) if len(outputs) else np.zeros((0,), np.int64)
        columns = {"label": np.asarray(head.names, dtype=object)[best],
                   "label_id": best.astype(np.int32)}
    for i, name in enumerate(head.names):
        columns[f"prob_{name}"] = np.asarray(outputs)[:, i] if len(outputs) else np.zeros(0, np.float32)
    return columns


def check_pairs(texts: Sequence[str], text_pairs: Sequence[str] | None, is_pair: bool) -> None:
    """Refuses one text where the model reads pairs, pairs where it reads one text, and
    lists of different lengths."""
    if isinstance(texts, str) or isinstance(text_pairs, str):
        raise TypeError("pass a list of texts, not one string")
    if is_pair and text_pairs is None:
        raise ValueError("this model classifies pairs of texts: pass text_pairs too")
    if not is_pair and text_pairs is not None:
        raise ValueError("this model classifies one text at a time: text_pairs are not read")
    if text_pairs is not None and len(text_pairs) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(text_pairs)} text_pairs")
