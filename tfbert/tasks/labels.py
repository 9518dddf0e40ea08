"""Labels: the classes of a data set, the raw label -> id mapping, and what looks like a mistake."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tfbert.base.errors import DataError
from tfbert.tasks.kinds import MULTI_LABEL, REGRESSION, SINGLE_LABEL


@dataclass(frozen=True)
class LabelSet:
    """The head's outputs, in id order: `names[i]` is the class (or label) of output `i`.

    A multi-label task names its labels; a regression has one output named after its target.
    """

    names: tuple[str, ...]
    task: str = SINGLE_LABEL

    def __post_init__(self) -> None:
        if self.task == SINGLE_LABEL and len(self.names) < 2:
            raise DataError(f"only one class found ({list(self.names)}); a classifier needs two or more")
        if self.task == MULTI_LABEL and not self.names:
            raise DataError("no label found in any label set of the train split")
        if self.task == REGRESSION and len(self.names) != 1:
            raise DataError(f"a regression has one target, got {list(self.names)}")

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.names))

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}

    def __len__(self) -> int:
        return len(self.names)


def is_integer_like(values: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(values):
        return False
    if pd.api.types.is_integer_dtype(values):
        return True
    if pd.api.types.is_float_dtype(values):
        return bool(np.all(np.mod(values.to_numpy(), 1) == 0))
    return False


def build_label_set(
    train_labels: pd.Series, label_names: tuple[str, ...] | None
) -> tuple[LabelSet, dict]:
    """Decides the class names and the raw-value -> id mapping from the training labels.

    Integer labels keep their value as id when they are 0..K-1 (or named by `label_names`);
    other integers and strings are numbered in sorted order, or in `label_names` order.
    """
    integer = is_integer_like(train_labels)
    if not integer and not all(isinstance(v, str) for v in train_labels):
        kinds = sorted({type(v).__name__ for v in train_labels})
        raise DataError(f"labels mix types ({', '.join(kinds)}); use all integers or all strings")
    present = sorted({int(v) for v in train_labels} if integer else set(train_labels))
    if label_names is not None:
        if integer:
            outside = [v for v in present if not 0 <= v < len(label_names)]
            if outside:
                raise DataError(
                    f"label ids {outside} fall outside --label-names {list(label_names)} "
                    f"(ids 0..{len(label_names) - 1})"
                )
            return LabelSet(tuple(label_names)), {i: i for i in range(len(label_names))}
        unknown = [v for v in present if v not in label_names]
        if unknown:
            raise DataError(f"labels {unknown} are not in --label-names {list(label_names)}")
        return LabelSet(tuple(label_names)), {name: i for i, name in enumerate(label_names)}
    if integer and present == list(range(len(present))):
        return LabelSet(tuple(str(v) for v in present)), {v: v for v in present}
    return LabelSet(tuple(str(v) for v in present)), {v: i for i, v in enumerate(present)}


def label_warnings(counts: dict[str, int], splits: int = 3) -> list[str]:
    """Flags labels that look like mistakes rather than classes, given each class's row count.

    Rare: fewer than max(2, 1 % of the rows) examples, or at most one per split. Variants:
    labels equal up to case and surrounding spaces. Stray numbers: number-like labels among
    text labels.

    Args:
        counts: rows per class name, over every split read.
        splits: the number of splits the rows are cut into.

    Returns:
        One message per finding; empty when nothing looks wrong.
    """
    total, found = sum(counts.values()), []
    rare = [f"{name!r} ({n})" for name, n in counts.items() if n < max(2, total / 100) or n <= splits]
    if rare:
        found.append(f"classes with very few examples (of {total} rows): {', '.join(rare)}; if "
                     "they are typos or stray values, fix them, or name the real classes with "
                     "--label-names so that any other label stops the run")
    variants: dict[str, list[str]] = {}
    for name in counts:
        variants.setdefault(name.strip().casefold(), []).append(name)
    for names in (v for v in variants.values() if len(v) > 1):
        spelled = ", ".join(f"{n!r} ({counts[n]})" for n in names)
        found.append(f"labels {spelled} differ only in case or surrounding spaces; "
                     "likely one class: make the spellings the same")
    numeric = [n for n in counts if re.fullmatch(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*", n)]
    if numeric and len(numeric) < len(counts):
        found.append(f"number-like labels among text labels: "
                     f"{', '.join(f'{n!r} ({counts[n]})' for n in numeric)}; likely stray values")
    return found


def encode_labels(frame: pd.DataFrame, split: str, mapping: dict, integer: bool) -> pd.Series:
    """Maps raw labels to ids; every label must be one of the known classes."""
    raw = frame["label"]
    keys = raw.map(int) if integer and is_integer_like(raw) else raw
    ids = keys.map(mapping)
    unknown = sorted({str(v) for v in keys[ids.isna()]})
    if unknown:
        shown = ", ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else "")
        first_row = int(np.flatnonzero(ids.isna().to_numpy())[0]) + 1
        raise DataError(
            f"{frame.attrs.get('source', f'the {split} split')}: labels outside the known classes "
            f"({', '.join(map(str, mapping))}): {shown} (first at usable row {first_row}); fix "
            "the labels or list every class with --label-names"
        )
    return ids.astype(np.int64)


def numbers_if_all_are(values: pd.Series) -> pd.Series:
    """Text labels that all read as numbers become numbers, as a CSV reader infers them."""
    present = values.dropna()
    try:
        numbers = pd.to_numeric(present)
    except (ValueError, TypeError):
        return values
    converted = values.astype(object).copy()
    converted[present.index] = numbers
    return converted.astype(numbers.dtype) if len(present) == len(values) else converted
