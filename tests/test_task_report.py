"""The regression and multi-label evaluation reports: their helper tables and the files written."""

from __future__ import annotations

import numpy as np
import pytest

from tfbert.scoring.multilabel import multilabel_metrics
from tfbert.scoring.regression import regression_metrics
from tfbert.scoring.task_report import (
    cooccurrence,
    error_by_length,
    error_by_value,
    f1_by_threshold,
    largest_errors,
    write_multilabel_report,
    write_regression_report,
)


def test_f1_by_threshold_on_a_hand_count():
    truth = np.array([1, 0, 1, 0])
    scores = np.array([0.9, 0.8, 0.3, 0.1])
    f1 = f1_by_threshold(truth, scores, np.array([0.05, 0.3, 0.5, 0.95]))
    # all four called (2 right): 4/6; three called: 4/5; two called (1 right): 2/4; none: 0
    assert f1 == pytest.approx([2 / 3, 0.8, 0.5, 0.0])
    assert f1_by_threshold(np.zeros(3), np.array([0.2, 0.6, 0.9]), np.array([0.1, 0.99])).tolist() \
        == [0.0, 0.0]


def test_cooccurrence_counts_pairs_of_true_labels():
    labels = np.array([[1, 0, 1], [1, 1, 0], [0, 0, 0], [1, 0, 1]])
    counts = cooccurrence(labels)
    assert counts.tolist() == [[3, 1, 2], [1, 1, 0], [2, 0, 2]]
    assert counts.dtype.kind == "i"


def test_error_by_value_uses_distinct_values_when_few():
    rows = error_by_value(np.array([1.0, 1.0, 2.0, 3.0]), np.array([1.5, 0.5, 2.0, 2.0]))
    assert [(r["target"], r["n"], r["mean_prediction"], r["mae"]) for r in rows] == [
        ("1", 2, 1.0, 0.5), ("2", 1, 2.0, 0.0), ("3", 1, 2.0, 1.0)]


def test_error_by_value_uses_deciles_when_many():
    targets = np.arange(100, dtype=float)
    rows = error_by_value(targets, targets + 1)
    assert [r["n"] for r in rows] == [10] * 10
    assert all(r["mae"] == pytest.approx(1.0) for r in rows)
    assert rows[0]["target"] == "0 to 9.9" and rows[0]["mean_prediction"] == pytest.approx(5.5)
    assert rows[-1]["high"] == 99.0


def test_error_by_length_and_largest_errors():
    texts = ["a b", "word " * 150, "c"]
    rows = error_by_length(texts, np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 1.0]))
    assert rows == [{"words": "0-99", "n": 2, "mae": 1.5, "mean_residual": -0.5},
                    {"words": "100-199", "n": 1, "mae": 0.0, "mean_residual": 0.0}]
    worst = largest_errors(["x|y\nz", "b", "c" * 500], np.array([0.0, 0.0, 0.0]),
                           np.array([1.0, 0.1, -3.0]), count=2)
    assert [w["prediction"] for w in worst] == [-3.0, 1.0]
    assert len(worst[0]["text"]) == 300 and worst[0]["text"].endswith("...")
    assert worst[1]["text"] == "x\\|y z"


def test_write_regression_report(tmp_path):
    rng = np.random.default_rng(0)
    targets = rng.uniform(1, 5, size=60)
    predictions = targets + rng.normal(scale=0.5, size=60)
    texts = [f"text {i} | " + "word " * (i * 5) for i in range(60)]
    metrics = regression_metrics(targets, predictions) | {"loss": 0.25}
    history = {"loss": [0.9, 0.4], "val_loss": [0.8, 0.5], "val_rmse": [0.9, 0.6]}
    path = write_regression_report(tmp_path / "rep", "Test regression", metrics, targets,
                                   predictions, texts, history)
    assert path == tmp_path / "rep" / "report.md"
    report = path.read_text(encoding="utf-8")
    assert f"60 examples: RMSE {metrics['rmse']:.4f}, MAE {metrics['mae']:.4f}" in report
    assert f"Pearson {metrics['pearson']:.4f}, Spearman {metrics['spearman']:.4f}" in report
    assert "| 100-199 |" in report and "## The largest errors" in report
    for name in ("scatter.png", "error_by_length.png", "training_curves.png"):
        assert (tmp_path / "rep" / name).stat().st_size > 0


def test_regression_report_says_na_for_an_undefined_correlation(tmp_path):
    targets = np.array([1.0, 2.0, 3.0])
    metrics = regression_metrics(targets, np.full(3, 2.0)) | {"loss": 0.7}
    report = write_regression_report(tmp_path, "Flat", metrics, targets, np.full(3, 2.0),
                                     ["a", "b", "c"]).read_text(encoding="utf-8")
    assert "Pearson n/a, Spearman n/a" in report
    assert not (tmp_path / "training_curves.png").exists()


def test_write_multilabel_report(tmp_path):
    rng = np.random.default_rng(1)
    names = ["sport", "politics", "tech"]
    labels = (rng.uniform(size=(40, 3)) < 0.4).astype(int)
    probabilities = np.clip(labels * 0.6 + rng.uniform(0, 0.4, size=(40, 3)), 0, 1)
    thresholds = [0.5, 0.4, 0.6]
    metrics = multilabel_metrics(labels, probabilities, thresholds, names) | {"loss": 0.3}
    gain = {"micro_f1_tuned": 0.91, "micro_f1_at_0.5": 0.85, "macro_f1_tuned": 0.9,
            "macro_f1_at_0.5": 0.8}
    history = {"loss": [0.6, 0.3], "val_loss": [0.5, 0.35], "val_micro_f1": [0.7, 0.9]}
    texts = ["first | text\nhere"] + [f"text {i}" for i in range(1, 40)]
    path = write_multilabel_report(tmp_path, "Test multi-label", metrics, labels, probabilities,
                                   thresholds, names, texts, history, gain)
    report = path.read_text(encoding="utf-8")
    assert f"40 examples: micro-F1 {metrics['micro_f1']:.4f}, macro-F1 {metrics['macro_f1']:.4f}" \
        in report
    assert "| micro-F1 | 0.9100 | 0.8500 |" in report
    counts = cooccurrence(labels)
    assert f"| sport | {counts[0, 0]} | {counts[0, 1]} | {counts[0, 2]} |" in report
    assert "| first \\| text here |" in report
    for name in ("cooccurrence.png", "threshold_curves.png", "training_curves.png"):
        assert (tmp_path / name).stat().st_size > 0


def test_multilabel_examples_show_none_for_an_empty_label_set(tmp_path):
    labels = np.array([[0, 0], [1, 0]])
    probabilities = np.array([[0.1, 0.2], [0.9, 0.7]])
    metrics = multilabel_metrics(labels, probabilities, [0.5, 0.5], ["a", "b"])
    report = write_multilabel_report(tmp_path, "Tiny", metrics, labels, probabilities, [0.5, 0.5],
                                     ["a", "b"], ["nothing", "both"]).read_text(encoding="utf-8")
    assert "| nothing | (none) | (none) |" in report
    assert "| both | a | a, b |" in report
    assert "loss n/a" in report and "| b | 0.500 | 0.0000 | 0.0000 | 0.0000 | 0 | n/a |" in report
