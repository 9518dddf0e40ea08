"""Probability calibration: expected calibration error and temperature scaling (pure NumPy/SciPy)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

from tfbert.scoring.metrics import cross_entropy, softmax


def reliability_bins(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> dict:
    """Confidence vs accuracy in equal-width confidence bins (the reliability diagram's data)."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Right-closed bins, so confidence 1.0 falls in the last one.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    conf_sum = np.bincount(index, weights=confidence, minlength=bins)
    correct_sum = np.bincount(index, weights=correct.astype(float), minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"edges": edges, "counts": counts,
                "confidence": np.where(counts > 0, conf_sum / counts, np.nan),
                "accuracy": np.where(counts > 0, correct_sum / counts, np.nan)}


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Mean |accuracy - confidence| over confidence bins, weighted by how many examples each holds."""
    if len(labels) == 0:
        return 0.0
    table = reliability_bins(probabilities, labels, bins)
    used = table["counts"] > 0
    gaps = np.abs(table["accuracy"][used] - table["confidence"][used])
    return float((gaps * table["counts"][used]).sum() / len(labels))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T minimising the cross-entropy of softmax(logits / T) on held-out data.

    One scalar cannot change which class wins, so accuracy is untouched; only confidence moves.
    """
    logits = np.asarray(logits, dtype=np.float64)
    result = minimize_scalar(lambda log_t: cross_entropy(labels, logits / np.exp(log_t)),
                             bounds=(-3.0, 3.0), method="bounded")
    return float(np.exp(result.x))


def calibrate(logits: np.ndarray, labels: np.ndarray) -> dict:
    """Fits a temperature and reports ECE and loss before and after, as JSON-ready floats."""
    temperature = fit_temperature(logits, labels)
    before, after = softmax(logits), softmax(logits / temperature)
    return {"temperature": temperature,
            "ece_before": expected_calibration_error(before, labels),
            "ece_after": expected_calibration_error(after, labels),
            "loss_before": cross_entropy(labels, logits),
            "loss_after": cross_entropy(labels, logits / temperature)}
