"""The end of a run: the head it trained (task, standardisation, tuned thresholds), each
evaluation split's metrics, and the test report for the run's task."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from tfbert.data import Splits
from tfbert.predict import make_logits_fn, predict_logits
from tfbert.run_folder import RunFolder
from tfbert.scoring.multilabel import tune_thresholds
from tfbert.scoring.regression import Standardisation
from tfbert.tasks.evaluation import split_metrics, threshold_gain
from tfbert.tasks.head import TaskHead, sigmoid
from tfbert.tasks.kinds import MULTI_LABEL, REGRESSION, SINGLE_LABEL
from tfbert.tasks.windows import per_text

log = logging.getLogger(__name__)


def task_head(splits: Splits) -> TaskHead:
    """The head a run trains: a regression target standardised on train when asked."""
    labels = splits.labels
    if labels.task == REGRESSION and splits.config.standardise:
        fitted = Standardisation.fit(splits.train["label"].to_numpy())
        log.info("regression target %r: mean %.4g, standard deviation %.4g (trained as z-scores)",
                 labels.names[0], fitted.mean, fitted.scale)
        return TaskHead(REGRESSION, labels.names, fitted.mean, fitted.scale)
    return TaskHead(labels.task, labels.names)


def evaluate_splits(model, datasets: dict, head: TaskHead, sizes: dict,
                    windows: dict | None = None, aggregate: str = "mean-logits"
                    ) -> tuple[TaskHead, dict, dict]:
    """Metrics per split and the raw (logits, labels) of its texts behind them.

    With `windows` (per split, each window's text), window outputs are first aggregated into
    their texts' by `aggregate`.

    A multi-label head first gets its thresholds, tuned on validation to maximise each
    label's F1; the gain over 0.5 is recorded per split under `thresholds`.
    """
    logits_fn = make_logits_fn(model)
    raw = {}
    for name, dataset in datasets.items():
        title = f"Evaluating the {name} split ({sizes[name]} texts)"
        logits, labels = predict_logits(model, dataset, logits_fn, progress=title)
        raw[name] = per_text(head.task, logits, labels, (windows or {}).get(name), aggregate)
    if head.task == MULTI_LABEL:
        logits, labels = raw["validation"]
        tuned = tune_thresholds(labels, sigmoid(logits))
        head = TaskHead(MULTI_LABEL, head.names, thresholds=tuple(float(t) for t in tuned))
    metrics = {name: split_metrics(head, *pair) for name, pair in raw.items()}
    if head.task == MULTI_LABEL:
        metrics["thresholds"] = {name: threshold_gain(head, *pair) for name, pair in raw.items()}
        for name, gain in metrics["thresholds"].items():
            log.info("%s micro-F1: %.4f with tuned thresholds, %.4f at 0.5", name,
                     gain["micro_f1_tuned"], gain["micro_f1_at_0.5"])
    return head, metrics, raw


def _calibrated_temperature(metrics: dict, raw: dict) -> float:
    """Fits a softmax temperature on validation and records the test ECE before and after."""
    from tfbert.scoring.calibration import calibrate, expected_calibration_error
    from tfbert.scoring.metrics import softmax

    calibration = calibrate(*raw["validation"])
    temperature = calibration["temperature"]
    logits, labels = raw["test"]
    calibration["test_ece_before"] = expected_calibration_error(softmax(logits), labels)
    calibration["test_ece_after"] = expected_calibration_error(softmax(logits / temperature),
                                                               labels)
    metrics["calibration"] = calibration
    log.info("calibration: temperature %.3f, test ECE %.4f -> %.4f", temperature,
             calibration["test_ece_before"], calibration["test_ece_after"])
    return temperature


def write_task_report(folder: Path, title: str, head: TaskHead, metrics: dict,
                      logits: np.ndarray, labels: np.ndarray, texts: list[str],
                      history: dict | None = None, temperature: float | None = None,
                      gain: dict | None = None) -> Path:
    """report.md and its plots for one split, in the form of the head's task."""
    from tfbert.scoring import report, task_report

    if head.task == REGRESSION:
        return task_report.write_regression_report(folder, title, metrics, labels,
                                                   head.scores(logits), texts, history)
    if head.task == MULTI_LABEL:
        return task_report.write_multilabel_report(folder, title, metrics, labels, sigmoid(logits),
                                                   head.thresholds, head.names, texts, history, gain)
    return report.write_report(folder, title, metrics, logits, labels, texts, head.names, history,
                               temperature)


def write_run_report(folder: RunFolder, head: TaskHead, metrics: dict, raw: dict,
                     test_texts: list[str], history: dict, calibrate: bool) -> None:
    """report.md for the test split, in the task's form; a temperature first, if asked."""
    single_label = head.task == SINGLE_LABEL
    temperature = _calibrated_temperature(metrics, raw) if calibrate and single_label else None
    gain = metrics.get("thresholds", {}).get("test")
    path = write_task_report(folder.path, "Test set report", head, metrics["test"], *raw["test"],
                             test_texts, history, temperature, gain)
    if calibrate and not single_label:
        log.warning("--calibrate fits a softmax temperature: single-label runs only; skipped")
    log.info("report: %s", path)


def as_trained(head: TaskHead, labels: np.ndarray) -> np.ndarray:
    """Training labels as the loss sees them: a regression target standardised."""
    return head.standardise(labels) if head.task == REGRESSION else labels
