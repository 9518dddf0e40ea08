"""Scores of a regression head (one number per text): its errors and how well it ranks texts.

RMSE and MAE are in the target's own unit (stars, points); Pearson says how linear the
relation is, Spearman how well the order of texts is kept, which is what a ranking by
predicted score needs. A correlation is undefined (None) when either side is constant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import pearsonr, spearmanr

from tfbert.base.errors import DataError


@dataclass(frozen=True)
class Standardisation:
    """Targets are trained as (y - mean) / scale and predictions mapped back, so the head's
    outputs start near the scale its initialisation expects whatever the target's unit."""

    mean: float = 0.0
    scale: float = 1.0

    @classmethod
    def fit(cls, targets: Sequence[float]) -> Standardisation:
        values = _finite(targets, "targets")
        scale = float(values.std()) if len(values) > 1 else 0.0
        return cls(float(values.mean()) if len(values) else 0.0, scale if scale > 0 else 1.0)

    def apply(self, targets: Sequence[float]) -> np.ndarray:
        return (np.asarray(targets, dtype=np.float64) - self.mean) / self.scale

    def undo(self, outputs: Sequence[float]) -> np.ndarray:
        return np.asarray(outputs, dtype=np.float64) * self.scale + self.mean


def regression_metrics(targets: Sequence[float], predictions: Sequence[float]) -> dict:
    """MSE, RMSE, MAE, Pearson and Spearman of predictions against targets (JSON-ready).

    Raises:
        DataError: the two differ in length, or hold NaN or infinite values.
    """
    y, p = _finite(targets, "targets"), _finite(predictions, "predictions")
    if len(y) != len(p):
        raise DataError(f"{len(y)} targets but {len(p)} predictions")
    if not len(y):
        return {"n_examples": 0, "mse": None, "rmse": None, "mae": None, "pearson": None,
                "spearman": None}
    error = p - y
    mse = float(np.mean(error ** 2))
    return {
        "n_examples": int(len(y)),
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mae": float(np.mean(np.abs(error))),
        "pearson": _correlation(pearsonr, y, p),
        "spearman": _correlation(spearmanr, y, p),
    }


def _correlation(statistic, y: np.ndarray, p: np.ndarray) -> float | None:
    if len(y) < 2 or np.ptp(y) == 0 or np.ptp(p) == 0:
        return None
    return float(statistic(y, p)[0])


def _finite(values: Sequence[float], what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    bad = np.flatnonzero(~np.isfinite(array))
    if len(bad):
        raise DataError(f"{len(bad)} {what} are NaN or infinite (first at row {int(bad[0])})")
    return array
