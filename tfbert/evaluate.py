"""Evaluation: logits over a data set, metrics, the printed table, and `scripts/evaluate.py`."""

from __future__ import annotations

import logging

import numpy as np
import tensorflow as tf

from tfbert.metrics import compute_metrics, cross_entropy

log = logging.getLogger(__name__)


def make_logits_fn(model):
    """A compiled forward pass that returns float32 logits for one batch of features."""

    @tf.function(reduce_retracing=True)
    def logits_fn(features):
        return tf.cast(model(features, training=False).logits, tf.float32)

    return logits_fn


def predict_logits(model, dataset: tf.data.Dataset, logits_fn=None, progress: str | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Runs the model over `(features, labels)` batches; returns (logits, labels) as NumPy.

    `progress` names a progress bar (batches done, time left) for passes long enough to need one.
    """
    logits_fn = logits_fn or make_logits_fn(model)
    all_logits, all_labels = [], []
    bar = None
    if progress:
        from tfbert.keras import keras

        batches = int(dataset.cardinality())
        print(progress, flush=True)
        bar = keras.utils.Progbar(batches if batches >= 0 else None, unit_name="batch")
    for features, labels in dataset:
        all_logits.append(logits_fn(features).numpy())
        all_labels.append(labels.numpy())
        if bar is not None:
            bar.add(1)
    if not all_logits:
        return np.zeros((0, model.config.num_labels), np.float32), np.zeros((0,), np.int64)
    return np.concatenate(all_logits), np.concatenate(all_labels)


def evaluate_logits(logits: np.ndarray, labels: np.ndarray, label_names) -> dict:
    """Metrics for one split, plus its mean loss."""
    metrics = compute_metrics(labels, logits.argmax(axis=-1), label_names)
    metrics["loss"] = cross_entropy(labels, logits)
    return metrics


def format_metrics(metrics: dict, title: str) -> str:
    """A small plain-text table: headline figures, per-class scores, confusion matrix."""
    names = list(metrics["per_class"])
    width = max(10, *(len(n) for n in names))
    lines = [
        f"{title}: {metrics['n_examples']} examples",
        f"  accuracy {metrics['accuracy']:.4f}   macro-F1 {metrics['f1']:.4f}   "
        f"precision {metrics['precision']:.4f}   recall {metrics['recall']:.4f}",
        f"  {'class':<{width}} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}",
    ]
    for name, row in metrics["per_class"].items():
        lines.append(f"  {name:<{width}} {row['precision']:>9.4f} {row['recall']:>9.4f} "
                     f"{row['f1']:>9.4f} {row['support']:>8d}")
    lines.append("  confusion matrix (rows: true, columns: predicted)")
    lines.append("  " + " " * width + "".join(f"{n[:9]:>10}" for n in names))
    for name, row in zip(names, metrics["confusion_matrix"], strict=False):
        lines.append(f"  {name:<{width}}" + "".join(f"{c:>10d}" for c in row))
    return "\n".join(lines)


def evaluate_run(run_dir, data_cfg, split: str | None = None, batch_size: int = 64) -> dict:
    """Evaluates a finished run on any data, records it in `metrics.json` and writes a report.

    The report (report.md and plots) goes to `<run>/evaluations/<data>-<split>/`.
    """
    import re
    from pathlib import Path

    from tfbert.data import LabelSet, load_eval_split
    from tfbert.predict import Classifier
    from tfbert.report import write_report
    from tfbert.run_folder import read_json, write_json_atomic

    classifier = Classifier.from_run(run_dir, batch_size=batch_size)
    frame = load_eval_split(data_cfg, LabelSet(classifier.label_names), split)
    logits = classifier.predict_logits(list(frame["text"]))
    metrics = evaluate_logits(logits, frame["label"].to_numpy(), classifier.label_names)
    metrics_path = Path(run_dir) / "metrics.json"
    recorded = read_json(metrics_path) if metrics_path.exists() else {}
    key = f"{' '.join(data_cfg.sources)}:{split or 'default'}"
    recorded.setdefault("evaluations", {})[key] = metrics
    write_json_atomic(metrics_path, recorded)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", key).strip("-")[-80:]
    temperature = recorded.get("calibration", {}).get("temperature")
    write_report(Path(run_dir) / "evaluations" / slug, f"Evaluation on {key}", metrics, logits,
                 frame["label"].to_numpy(), list(frame["text"]), classifier.label_names,
                 temperature=temperature)
    return metrics
