"""The problem types by name, and the validation metrics each puts in the Keras logs.

Plain constants (no NumPy, no TensorFlow), so configuration and argument parsing read them cheaply.
"""

from __future__ import annotations

SINGLE_LABEL, MULTI_LABEL, REGRESSION = "single-label", "multi-label", "regression"
TASKS = ("auto", SINGLE_LABEL, MULTI_LABEL, REGRESSION)
# transformers' `config.problem_type` for each: what a saved model says it was trained for.
PROBLEM_TYPES = {SINGLE_LABEL: "single_label_classification",
                 MULTI_LABEL: "multi_label_classification", REGRESSION: "regression"}

# The validation metrics each type logs every epoch (as `val_<name>`); the first is the default
# `--monitor`: macro-F1 for classes, micro-F1 for label sets, RMSE for a number (Pearson is
# undefined while the predictions are still constant).
MONITORS = {
    SINGLE_LABEL: ("val_f1", "val_accuracy", "val_precision", "val_recall", "val_loss"),
    MULTI_LABEL: ("val_micro_f1", "val_macro_f1", "val_subset_accuracy", "val_map", "val_loss"),
    REGRESSION: ("val_rmse", "val_mae", "val_pearson", "val_spearman", "val_loss"),
}
ALL_MONITORS = tuple(dict.fromkeys(m for names in MONITORS.values() for m in names))
LOWER_IS_BETTER = frozenset({"val_loss", "val_rmse", "val_mae"})


def task_of(problem_type: str | None) -> str:
    """The task a saved model config names; older runs (no problem type) are single-label."""
    for task, name in PROBLEM_TYPES.items():
        if name == problem_type:
            return task
    return SINGLE_LABEL


def monitor_for(task: str, monitor: str) -> str:
    """`monitor` ("auto": the task's default) checked against what the task logs.

    Raises:
        ValueError: the metric is not one the task computes.
    """
    if monitor == "auto":
        return MONITORS[task][0]
    if monitor not in MONITORS[task]:
        raise ValueError(f"--monitor {monitor} is not computed for a {task} task; "
                         f"choose one of {', '.join(MONITORS[task])}")
    return monitor
