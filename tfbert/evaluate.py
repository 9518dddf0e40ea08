"""Evaluation: metrics of a split from its logits, the printed table, and `scripts/evaluate.py`."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from tfbert.base.files import read_json, write_json_atomic
from tfbert.data import DataError, LabelSet, load_eval_split
from tfbert.predict import Classifier
from tfbert.scoring.metrics import compute_metrics, cross_entropy
from tfbert.scoring.report import shown_texts, write_report

log = logging.getLogger(__name__)


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
    classifier = Classifier.from_run(run_dir, batch_size=batch_size)
    frame = load_eval_split(data_cfg, LabelSet(classifier.label_names), split)
    pairs = list(frame["text_pair"]) if "text_pair" in frame.columns else None
    if (pairs is not None) != classifier.is_pair:
        raise DataError(f"the run classifies {'pairs of texts' if classifier.is_pair else 'one text'}"
                        f" but the data gives {'pairs' if pairs is not None else 'one text'} "
                        "per row; name the text column(s) with --text-column (a,b for pairs)")
    logits = classifier.predict_logits(list(frame["text"]), pairs)
    metrics = evaluate_logits(logits, frame["label"].to_numpy(), classifier.label_names)
    metrics_path = Path(run_dir) / "metrics.json"
    recorded = read_json(metrics_path) if metrics_path.exists() else {}
    key = f"{' '.join(data_cfg.sources)}:{split or 'default'}"
    recorded.setdefault("evaluations", {})[key] = metrics
    write_json_atomic(metrics_path, recorded)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", key).strip("-")[-80:]
    temperature = recorded.get("calibration", {}).get("temperature")
    write_report(Path(run_dir) / "evaluations" / slug, f"Evaluation on {key}", metrics, logits,
                 frame["label"].to_numpy(), shown_texts(frame), classifier.label_names,
                 temperature=temperature)
    return metrics
