"""What a trained head means: its task, its output names, and how raw outputs become answers.

Saved as `head.json` in the run folder and read by prediction, evaluation and the export, so
all three turn logits into the same answers: class probabilities (softmax), a score
(the standardised output mapped back to the target's unit), or label probabilities (sigmoid)
and the label set their per-label thresholds select.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tfbert.base.files import write_json_atomic
from tfbert.tasks.kinds import MULTI_LABEL, PROBLEM_TYPES, REGRESSION, SINGLE_LABEL, TASKS

DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class TaskHead:
    """The task and its output names (classes, labels, or the one target's name).

    `mean` and `scale` undo a regression target's standardisation; `thresholds` are the
    multi-label decision thresholds, one per label (0.5 until tuned on validation).
    """

    task: str
    names: tuple[str, ...]
    mean: float = 0.0
    scale: float = 1.0
    thresholds: tuple[float, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.task not in TASKS[1:]:
            raise ValueError(f"task must be one of {', '.join(TASKS[1:])}, got {self.task!r}")
        if self.task == REGRESSION and len(self.names) != 1:
            raise ValueError(f"a regression head has one output, got names {list(self.names)}")
        if not self.scale > 0:
            raise ValueError(f"scale must be positive, got {self.scale}")
        if self.task == MULTI_LABEL and not self.thresholds:
            object.__setattr__(self, "thresholds", (DEFAULT_THRESHOLD,) * len(self.names))
        if self.thresholds and len(self.thresholds) != len(self.names):
            raise ValueError(f"{len(self.thresholds)} thresholds for {len(self.names)} labels")

    @property
    def problem_type(self) -> str:
        return PROBLEM_TYPES[self.task]

    @property
    def num_outputs(self) -> int:
        return len(self.names)

    def scores(self, logits: np.ndarray) -> np.ndarray:
        """A regression head's predictions in the target's unit, shape `[n]`."""
        return np.asarray(logits, np.float64)[:, 0] * self.scale + self.mean

    def standardise(self, targets: np.ndarray) -> np.ndarray:
        """Targets as the regression head is trained on them."""
        return ((np.asarray(targets, np.float64) - self.mean) / self.scale).astype(np.float32)

    def label_mask(self, probabilities: np.ndarray) -> np.ndarray:
        """Multi-label: which labels each text gets, `[n, labels]` bool."""
        return np.asarray(probabilities) >= np.asarray(self.thresholds, np.float32)[None, :]

    def to_dict(self) -> dict:
        return {"task": self.task, "names": list(self.names), "mean": self.mean,
                "scale": self.scale, "thresholds": list(self.thresholds)}

    def save(self, path: str | Path) -> None:
        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> TaskHead:
        with open(path, encoding="utf-8") as handle:
            values = json.load(handle)
        return cls(values["task"], tuple(values["names"]), float(values.get("mean", 0.0)),
                   float(values.get("scale", 1.0)), tuple(values.get("thresholds", ())))


def single_label_head(names: Sequence[str]) -> TaskHead:
    """The head of a run saved before problem types existed: classes, softmax."""
    return TaskHead(SINGLE_LABEL, tuple(names))


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, np.float64)))
