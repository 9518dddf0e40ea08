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

    @property
    def confidence(self) -> float:
        return self.probabilities[self.label]

    def to_dict(self) -> dict:
        return {"text": self.text, "label": self.label, "label_id": self.label_id,
                "probabilities": self.probabilities}


def to_predictions(texts: Sequence[str], probabilities: np.ndarray,
                   label_names: Sequence[str]) -> list[Prediction]:
    """Pairs each text with its most probable label and the per-class probabilities."""
    results = []
    for text, row in zip(texts, probabilities, strict=True):
        best = int(np.argmax(row))
        results.append(Prediction(text, label_names[best], best,
                                  {name: float(p) for name, p in zip(label_names, row, strict=True)}))
    return results
