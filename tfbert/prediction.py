"""`Prediction`: the one result type of every classifier, a run folder's or an export's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Prediction:
    """One text's predicted label and the probability of every class."""

    text: str
    label: str
    label_id: int
    probabilities: dict[str, float]
    text_pair: str | None = None  # the second text, for a pair model

    @property
    def confidence(self) -> float:
        return self.probabilities[self.label]

    def to_dict(self) -> dict:
        pair = {} if self.text_pair is None else {"text_pair": self.text_pair}
        return {"text": self.text, **pair, "label": self.label, "label_id": self.label_id,
                "probabilities": self.probabilities}


def to_predictions(texts: Sequence[str], probabilities: np.ndarray, label_names: Sequence[str],
                   text_pairs: Sequence[str] | None = None) -> list[Prediction]:
    """Each text (or pair) with its most probable label and the per-class probabilities."""
    results = []
    seconds = text_pairs if text_pairs is not None else [None] * len(texts)
    for text, second, row in zip(texts, seconds, probabilities, strict=True):
        best = int(np.argmax(row))
        results.append(Prediction(text, label_names[best], best,
                                  {name: float(p) for name, p in zip(label_names, row, strict=True)},
                                  second))
    return results


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
