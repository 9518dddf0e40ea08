"""Calibration maths, the evaluation report, and a calibrated run's export."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tfbert.scoring.calibration import calibrate, expected_calibration_error, fit_temperature
from tfbert.scoring.metrics import compute_metrics, softmax
from tfbert.scoring.report import accuracy_by_length, confident_mistakes, write_report


def _overconfident(n=2000, seed=0):
    """Labels drawn from softmax(z); the model reports 3 * z: right on average, far too sure."""
    rng = np.random.default_rng(seed)
    true_logits = rng.normal(size=(n, 2)) * 1.5
    labels = np.array([rng.choice(2, p=p) for p in softmax(true_logits)])
    return 3.0 * true_logits, labels


def test_ece_is_zero_for_perfect_confidence_and_large_for_overconfidence():
    probs = np.array([[0.25, 0.75]] * 4)
    assert expected_calibration_error(probs, np.array([1, 1, 1, 0])) == pytest.approx(0.0)
    assert expected_calibration_error(probs, np.array([0, 0, 0, 0])) == pytest.approx(0.75)


def test_temperature_recovers_the_overconfidence_and_keeps_predictions():
    logits, labels = _overconfident()
    temperature = fit_temperature(logits, labels)
    assert 2.4 < temperature < 3.6
    result = calibrate(logits, labels)
    assert result["ece_after"] < result["ece_before"] / 2
    assert result["loss_after"] < result["loss_before"]
    assert (softmax(logits / temperature).argmax(1) == logits.argmax(1)).all()


def test_accuracy_by_length_and_confident_mistakes():
    texts = ["short text"] * 3 + ["word " * 150] * 2
    correct = np.array([True, False, True, True, True])
    rows = accuracy_by_length(texts, correct)
    assert rows == [{"words": "0-99", "n": 3, "accuracy": pytest.approx(2 / 3)},
                    {"words": "100-199", "n": 2, "accuracy": 1.0}]
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.99, 0.01]])
    mistakes = confident_mistakes(["a", "b", "c", "d" * 500], np.array([1, 1, 1, 1]), probs,
                                  ["neg", "pos"])
    assert [m["confidence"] for m in mistakes] == [0.99, 0.9, 0.6]
    assert mistakes[0]["text"].endswith("...") and len(mistakes[0]["text"]) == 300


def test_write_report_makes_markdown_and_plots(tmp_path):
    logits, labels = _overconfident(200)
    names = ("negative", "positive")
    metrics = compute_metrics(labels, logits.argmax(1), names) | {"loss": 0.5}
    texts = [f"review number {i} " + "word " * (i % 400) for i in range(200)]
    history = {"loss": [0.7, 0.5], "val_loss": [0.6, 0.55], "val_accuracy": [0.7, 0.8],
               "val_f1": [0.69, 0.79]}
    path = write_report(tmp_path, "Test set report", metrics, logits, labels, texts, names,
                        history, temperature=3.0)
    report = path.read_text()
    for png in ("confusion_matrix.png", "training_curves.png", "reliability.png",
                "accuracy_by_length.png"):
        assert (tmp_path / png).stat().st_size > 1000
        assert f"({png})" in report
    assert "Expected calibration error" in report and "With temperature 3.000" in report
    assert report.count("- **") == 10  # ten most confident mistakes


def test_calibrated_run_serves_calibrated_probabilities(tiny_model_dir, toy_data_dir, tmp_path):
    import tensorflow as tf

    from tfbert.cli.train import train_and_export
    from tfbert.config import DataConfig, ModelConfig, OutputConfig, RunConfig, TrainConfig

    result = train_and_export(RunConfig(
        data=DataConfig(sources=(str(toy_data_dir),), max_length=32),
        model=ModelConfig(name_or_path=str(tiny_model_dir)),
        train=TrainConfig(epochs=2, batch_size=16, learning_rate=5e-3, warmup_ratio=0.0,
                          calibrate=True),
        output=OutputConfig(output_dir=str(tmp_path), run_name="calibrated"),
    ))
    calibration = json.loads((result.run_dir / "metrics.json").read_text())["calibration"]
    assert set(calibration) >= {"temperature", "ece_before", "ece_after", "test_ece_before",
                                "test_ece_after"}
    assert (result.run_dir / "report.md").exists()
    export = result.run_dir / "export" / "classifier"
    assert f"{calibration['temperature']:.4g}" in (export / "README.md").read_text()
    served = tf.saved_model.load(str(export / "1")).signatures["serving_default"](
        text=tf.constant(["the film was good", "awful"]))
    np.testing.assert_allclose(served["probabilities"].numpy(),
                               softmax(served["logits"].numpy() / calibration["temperature"]),
                               atol=1e-5)
