"""Evaluation of a finished run on any labelled data: `scripts/evaluate.py`."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from tfbert.base.files import read_json, write_json_atomic
from tfbert.config import PredictConfig
from tfbert.data import DataError, LabelSet, load_eval_split
from tfbert.features import label_array
from tfbert.predict import Classifier
from tfbert.run_report import write_task_report
from tfbert.scoring.report import shown_texts
from tfbert.tasks.evaluation import format_metrics, split_metrics

__all__ = ["evaluate_run", "format_metrics"]

log = logging.getLogger(__name__)


def evaluate_run(run_dir, data_cfg, split: str | None = None, batch_size: int = 64,
                 compute_dtype: str = PredictConfig.compute_dtype) -> dict:
    """Evaluates a finished run on any data, records it in `metrics.json` and writes a report.

    Labels are read as the run's task reads them (`data_cfg` gives the label column(s) and
    separator). The report (report.md and plots) goes to `<run>/evaluations/<data>-<split>/`;
    `compute_dtype` is what the forward pass computes in (`PredictConfig`).
    """
    classifier = Classifier.from_run(run_dir, batch_size=batch_size, compute_dtype=compute_dtype)
    labels = LabelSet(classifier.label_names, classifier.task)
    frame = load_eval_split(data_cfg, labels, split)
    pairs = list(frame["text_pair"]) if "text_pair" in frame.columns else None
    if (pairs is not None) != classifier.is_pair:
        raise DataError(f"the run classifies {'pairs of texts' if classifier.is_pair else 'one text'}"
                        f" but the data gives {'pairs' if pairs is not None else 'one text'} "
                        "per row; name the text column(s) with --text-column (a,b for pairs)")
    logits = classifier.predict_logits(list(frame["text"]), pairs)
    targets = label_array(frame["label"])
    metrics = split_metrics(classifier.head, logits, targets)
    metrics_path = Path(run_dir) / "metrics.json"
    recorded = read_json(metrics_path) if metrics_path.exists() else {}
    key = f"{' '.join(data_cfg.sources)}:{split or 'default'}"
    recorded.setdefault("evaluations", {})[key] = metrics
    write_json_atomic(metrics_path, recorded)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", key).strip("-")[-80:]
    temperature = recorded.get("calibration", {}).get("temperature")
    write_task_report(Path(run_dir) / "evaluations" / slug, f"Evaluation on {key}",
                      classifier.head, metrics, logits, targets, shown_texts(frame),
                      temperature=temperature)
    return metrics
