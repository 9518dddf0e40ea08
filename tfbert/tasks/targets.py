"""The label column read for each problem type: one class, a number, or a set of labels.

`detect_task` is what `--task auto` decides, with the reason it logs: lists or delimited
label strings (or several 0/1 columns) make a multi-label task, numbers that are not all
whole (at least 95 % of the labels being numbers) make a regression, anything else stays
single-label, so existing data behaves as before. A bad label is never a crash: each reader
returns its usable rows and counts, by reason, the rows it could not use; the caller skips
them or, under `--strict`, refuses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tfbert.base.errors import DataError

# `auto` reads a column as a regression target when at least this share of its labels are
# numbers (some not whole): a few typos in a score column are bad labels, not classes.
NUMERIC_SHARE = 0.95
TRUE_VALUES, FALSE_VALUES = {"1", "true", "yes"}, {"0", "false", "no"}


@dataclass(frozen=True)
class TaskChoice:
    task: str
    reason: str


@dataclass
class Targets:
    """What a label column gave: `values` of the usable rows, and the rows set aside by reason.

    Regression: `values` is float64 `[n]`. Multi-label: 0/1 `[n, labels]`, columns in `names`
    order; a row with no label at all is usable ("none of these" is an answer) and counted.
    """

    values: np.ndarray
    usable: np.ndarray  # bool per input row
    names: tuple[str, ...] = ()
    skipped: dict[str, list[int]] = field(default_factory=dict)  # reason -> input rows
    without_label: int = 0

    def describe_skipped(self) -> str:
        return "; ".join(f"{len(rows)} {reason} (rows {', '.join(map(str, rows[:5]))}"
                         f"{' ...' if len(rows) > 5 else ''})" for reason, rows in self.skipped.items())


def detect_task(labels: pd.Series, separator: str | None = None,
                label_columns: Sequence[str] = ()) -> TaskChoice:
    """What `--task auto` makes of the training labels, and why."""
    if len(label_columns) > 1:
        return TaskChoice("multi-label", f"{len(label_columns)} label columns of 0/1")
    present = [v for v in labels if not _is_missing(v)]
    if any(isinstance(v, (list, tuple, np.ndarray)) for v in present):
        return TaskChoice("multi-label", "the labels are lists")
    if separator and any(isinstance(v, str) and separator in v for v in present):
        return TaskChoice("multi-label", f"labels hold the separator {separator!r}")
    numbers = [_number(v) for v in present]
    found = [(v, n) for v, n in zip(present, numbers, strict=True) if n is not None]
    if present and len(found) >= NUMERIC_SHARE * len(present):
        fractions = [v for v, n in found if not float(n).is_integer()]
        if fractions:
            odd = len(present) - len(found)
            return TaskChoice("regression", f"the labels are numbers, {len(fractions)} not whole "
                                            f"(e.g. {fractions[0]!r})"
                                            + (f"; {odd} that are not numbers are set aside"
                                               if odd else ""))
    return TaskChoice("single-label", "one class per text")


def choose_task(asked: str, labels: pd.Series, separator: str | None,
                label_columns: Sequence[str] | None) -> TaskChoice:
    """The task asked for, or (`auto`) the one `detect_task` reads off the training labels."""
    if asked != "auto":
        return TaskChoice(asked, "as asked")
    choice = detect_task(labels, separator, label_columns or ())
    return TaskChoice(choice.task, f"auto: {choice.reason}")


def regression_targets(labels: pd.Series) -> Targets:
    """Numbers from a label column; text, NaN and infinite values are set aside by reason."""
    values = np.zeros(len(labels))
    usable = np.zeros(len(labels), bool)
    skipped: dict[str, list[int]] = {}
    for row, raw in enumerate(labels):
        number = None if _is_missing(raw) else _number(raw)
        reason = ("no label" if _is_missing(raw) else "labels that are not numbers" if number is None
                  else "labels that are NaN or infinite" if not math.isfinite(number) else "")
        if reason:
            skipped.setdefault(reason, []).append(row)
        else:
            values[row], usable[row] = number, True
    return Targets(values[usable], usable, skipped=skipped)


def multilabel_targets(labels: pd.Series | pd.DataFrame, separator: str | None = None,
                       names: Sequence[str] | None = None,
                       names_from: str = "--label-names") -> Targets:
    """Label sets from lists, delimited strings, or (a frame) one 0/1 column per label.

    `names` fixes the labels and their order (`names_from` says where they came from, for the
    message about a label outside them); without it, the labels found, sorted.

    Raises:
        DataError: a label outside `names`, or a 0/1 column holding something else.
    """
    if isinstance(labels, pd.DataFrame):
        return _from_columns(labels)
    sets = [None if _is_missing(v) else _as_set(v, separator) for v in labels]
    found = sorted({name for s in sets if s is not None for name in s})
    order = tuple(names) if names is not None else tuple(found)
    unknown = sorted(set(found) - set(order))
    if unknown:
        raise DataError(f"labels outside {names_from} ({', '.join(order)}): "
                        f"{', '.join(map(repr, unknown[:5]))}")
    column = {name: j for j, name in enumerate(order)}
    usable = np.array([s is not None for s in sets], bool)
    matrix = np.zeros((int(usable.sum()), len(order)), np.uint8)
    for i, s in enumerate(s for s in sets if s is not None):
        matrix[i, [column[name] for name in s]] = 1
    skipped = {"no label": [i for i, s in enumerate(sets) if s is None]}
    return Targets(matrix, usable, order, {k: v for k, v in skipped.items() if v},
                   int((matrix.sum(axis=1) == 0).sum()))


def _from_columns(frame: pd.DataFrame) -> Targets:
    usable = ~frame.map(_is_missing).any(axis=1).to_numpy()
    matrix = np.zeros((int(usable.sum()), frame.shape[1]), np.uint8)
    for j, name in enumerate(frame.columns):
        for i, (row, raw) in enumerate(zip(np.flatnonzero(usable), frame[name][usable], strict=True)):
            bit = _bit(raw)
            if bit is None:
                raise DataError(f"label column {name!r}, row {row}: {raw!r} is not 0 or 1")
            matrix[i, j] = bit
    skipped = {"no label": np.flatnonzero(~usable).tolist()} if (~usable).any() else {}
    return Targets(matrix, usable, tuple(map(str, frame.columns)), skipped,
                   int((matrix.sum(axis=1) == 0).sum()))


def _as_set(value, separator: str | None) -> list[str]:
    if isinstance(value, (list, tuple, np.ndarray)):
        parts = [str(v).strip() for v in value]
    elif separator:
        parts = [part.strip() for part in str(value).split(separator)]
    else:
        parts = [str(value).strip()]
    return sorted({part for part in parts if part})


def _bit(value) -> int | None:
    text = str(value).strip().lower()
    if isinstance(value, (bool, np.bool_)) or text in TRUE_VALUES | FALSE_VALUES:
        return int(text in TRUE_VALUES)
    number = _number(value)
    return int(number) if number in (0, 1) else None


def _number(value) -> float | None:
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _is_missing(value) -> bool:
    if isinstance(value, (list, tuple, np.ndarray)):
        return False
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA
