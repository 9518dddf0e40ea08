"""Loading labelled text: hub data sets, `aclImdb` trees and local files, cut into splits.

Everything becomes a pandas frame with two columns, `text` (str) and `label`, per split
(`train`, `validation`, `test`), plus a `LabelSet` that names the outputs. `label` is a class
id (single-label), a number (regression) or a 0/1 row per label (multi-label).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tfbert.base.errors import DataError
from tfbert.config import DataConfig
from tfbert.sources import read_sources
from tfbert.tables import TYPED
from tfbert.tasks.kinds import MULTI_LABEL, REGRESSION, SINGLE_LABEL
from tfbert.tasks.labels import (
    LabelSet,
    build_label_set,
    encode_labels,
    is_integer_like,
    label_warnings,
    numbers_if_all_are,
)
from tfbert.tasks.targets import choose_task, multilabel_targets, regression_targets

__all__ = ["DataError", "LabelSet", "Splits", "build_label_set", "label_warnings", "load_eval_split",
           "load_splits"]

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
# Pair columns of hub data sets (GLUE and the like), found where there is no `text` column.
GLUE_PAIRS = (("sentence1", "sentence2"), ("premise", "hypothesis"), ("question1", "question2"))


@dataclass(frozen=True)
class Splits:
    """Train, validation and test frames (columns `text`, `label`; `text_pair` for pairs)."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    labels: LabelSet
    config: DataConfig  # as read: with the text columns found (pairs: `text_pair` too)

    def sizes(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in SPLITS}


def find_text_columns(cfg: DataConfig, columns) -> DataConfig:
    """`cfg` with the text columns the data has: as configured, or, where the data has no
    `text` column and none was named, GLUE-style pair columns (sentence1/sentence2, ...)."""
    if cfg.is_pair or cfg.text_column != DataConfig.text_column or cfg.text_column in columns:
        return cfg
    for first, second in GLUE_PAIRS:
        if first in columns and second in columns:
            log.info("text pairs: columns %r and %r (no %r column; --text-column a,b chooses)",
                     first, second, cfg.text_column)
            return dataclasses.replace(cfg, text_column=first, text_pair_column=second)
    return cfg


def _text_columns(cfg: DataConfig) -> tuple[str, ...]:
    """Columns read as text: the configured ones, and the pair columns that may be found."""
    named = (cfg.text_column, cfg.text_pair_column)
    return tuple(c for c in (*named, *(c for pair in GLUE_PAIRS for c in pair)) if c)


def _label_columns(cfg: DataConfig) -> list[str]:
    return list(cfg.label_columns or (cfg.label_column,))


def _select_columns(frame: pd.DataFrame, split: str, cfg: DataConfig) -> pd.DataFrame:
    """The text(s) and label(s) of every usable row: columns `text` (`text_pair`) and `label`,
    or, with several label columns, those columns under their own names."""
    source = frame.attrs.get("source", f"the {split} split")
    label_columns = _label_columns(cfg)
    names = [cfg.text_column, *([cfg.text_pair_column] if cfg.is_pair else []), *label_columns]
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise DataError(
            f"{source}: column {missing[0]!r} not found; columns are {list(map(str, frame.columns))}"
            "; choose them with --text-column (two for pairs: a,b) / --label-column"
            + (" / --label-columns" if cfg.label_columns else "")
        )
    picked = frame[names].copy()
    texts = ["text", "text_pair"] if cfg.is_pair else ["text"]
    picked.columns = texts + (["label"] if cfg.label_columns is None else label_columns)
    if cfg.label_columns is None and not frame.attrs.get(TYPED, True):
        picked["label"] = numbers_if_all_are(picked["label"])  # CSV fields are text: "1" is 1
    usable = np.logical_and.reduce([picked[c].map(lambda t: isinstance(t, str) and bool(t.strip()))
                                    for c in texts])
    # An empty field of delimited label sets is the empty set ("no label"), not a missing label.
    labels = [] if cfg.label_separator else picked.columns[len(texts):]
    bad = ~usable | picked[labels].isna().any(axis=1).to_numpy()
    if bad.any():
        rows = ", ".join(str(i + 1) for i in np.flatnonzero(bad)[:5])
        what = "an empty or missing text of the pair" if cfg.is_pair else "an empty text"
        message = (f"{source}: {int(bad.sum())} rows with {what} or no label "
                   f"(data rows {rows}{' ...' if bad.sum() > 5 else ''})")
        if cfg.strict:
            raise DataError(message + "; fix them or drop --strict to skip them")
        log.warning("%s: dropped", message)
    kept = picked[~bad].reset_index(drop=True)
    kept.attrs["source"] = source
    if kept.empty:
        raise DataError(f"{source}: no usable rows (every text is empty or every label missing)")
    return kept


def _read_targets(frame: pd.DataFrame, cfg: DataConfig, task: str,
                  names: tuple[str, ...] | None) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """A regression's numbers or a multi-label task's 0/1 rows as the `label` column.

    Rows whose label cannot be used (text or NaN in a regression target) are dropped and
    counted, or refused under `strict`. Returns the frame and the output names.
    """
    source = frame.attrs.get("source", "the data")
    columns = [c for c in frame.columns if c not in ("text", "text_pair")]
    if task == REGRESSION:
        targets = regression_targets(frame["label"])
        names = (cfg.label_column,)
    else:
        labels = frame[columns] if cfg.label_columns else frame["label"]
        if cfg.label_separator:
            labels = labels.fillna("")
        targets = multilabel_targets(labels, cfg.label_separator, names,
                                     "--label-names" if cfg.label_names else "the train labels")
        names = targets.names
        log.info("%s: %d texts with no label (an answer in a multi-label task)", source,
                 targets.without_label)
    if targets.skipped:
        message = f"{source}: unusable labels: {targets.describe_skipped()} (0-based data rows)"
        if cfg.strict:
            raise DataError(message + "; fix them or drop --strict to skip them")
        log.warning("%s: dropped", message)
    kept = frame.loc[targets.usable, [c for c in frame.columns if c in ("text", "text_pair")]]
    kept = kept.reset_index(drop=True)
    kept["label"] = pd.Series(list(targets.values) if task == MULTI_LABEL else targets.values)
    if kept.empty:
        raise DataError(f"{source}: no row has a usable label ({targets.describe_skipped()})")
    return kept, names


def _encode_labels(frames: dict[str, pd.DataFrame], cfg: DataConfig,
                   class_names: dict) -> tuple[LabelSet, str]:
    """Chooses the task from the train labels and turns every split's labels into its form."""
    train = frames["train"]
    chosen = choose_task(cfg.task, train["label"] if cfg.label_columns is None else train,
                         cfg.label_separator, cfg.label_columns)
    log.info("task: %s (%s)", chosen.task, chosen.reason)
    if chosen.task != SINGLE_LABEL:
        frames["train"], names = _read_targets(train, cfg, chosen.task, cfg.label_names)
        for split in [s for s in frames if s != "train"]:
            frames[split], _ = _read_targets(frames[split], cfg, chosen.task, names)
        return LabelSet(names, chosen.task), chosen.task
    label_names = cfg.label_names or class_names.get(cfg.label_column)
    labels, mapping = build_label_set(train["label"], label_names)
    integer = is_integer_like(train["label"])
    for split, frame in frames.items():
        frame["label"] = encode_labels(frame, split, mapping, integer)
    if frames["train"]["label"].nunique() < 2:
        raise DataError("the train split holds only one class; a classifier needs two or more")
    ids = pd.concat([frame["label"] for frame in frames.values()]).value_counts()
    counts = {name: int(ids.get(i, 0)) for i, name in enumerate(labels.names)}
    log.info("labels: %s", ", ".join(f"{name} {n}" for name, n in counts.items()))
    for message in label_warnings(counts) if label_names is None else []:
        log.warning("%s", message)
    return labels, SINGLE_LABEL


def _stratify_key(frame: pd.DataFrame) -> pd.Series | None:
    if not pd.api.types.is_integer_dtype(frame["label"]):  # a number or a label set: no classes
        return None
    counts = frame["label"].value_counts()
    return frame["label"] if counts.min() >= 2 else None


def _cut(frame: pd.DataFrame, size: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Splits off `size` rows, stratified by label where every class has two rows or more."""
    from sklearn.model_selection import train_test_split

    if size >= len(frame):
        return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True), frame.iloc[:0]
    try:
        taken, rest = train_test_split(
            frame, train_size=size, random_state=seed, stratify=_stratify_key(frame)
        )
    except ValueError:  # too few rows per class for stratification at this size
        taken, rest = train_test_split(frame, train_size=size, random_state=seed)
    return taken.reset_index(drop=True), rest.reset_index(drop=True)


def _count(size: float | int, total: int) -> int:
    return int(size) if float(size) >= 1 else max(1, round(float(size) * total))


def load_splits(cfg: DataConfig) -> Splits:
    """Reads the sources and returns cleaned, labelled, stratified train/validation/test splits.

    Logs each class's row count. When the classes come from the data (no --label-names, no
    hub class names), `label_warnings` findings (rare classes, case variants, stray numbers)
    are logged as warnings, also under `strict`: the data is used as given, and --label-names
    is the strict form for labels (a label outside it is an error).

    Raises:
        DataError: unreadable or missing data, missing columns, unusable labels, empty splits.
    """
    raw, class_names = read_sources(cfg.sources, cfg.strict, _text_columns(cfg))
    if "train" not in raw:
        raise DataError(f"no train split found in {' '.join(cfg.sources)} (splits: {sorted(raw)})")
    cfg = find_text_columns(cfg, raw["train"].columns)
    frames = {split: _select_columns(frame, split, cfg) for split, frame in raw.items()}
    labels, task = _encode_labels(frames, cfg, class_names)
    cfg = dataclasses.replace(cfg, task=task)  # the run saves the task it chose

    # Carve missing splits from train, seeded, before any subsetting so they never overlap.
    how = ", stratified by class" if task == SINGLE_LABEL else " at random"
    train = frames["train"]
    if "test" not in frames:
        n_test = cfg.test_size or _count(0.1, len(train))
        frames["test"], train = _cut(train, n_test, cfg.seed)
        log.info("no test split: took %d rows from train%s", len(frames["test"]), how)
    if "validation" not in frames:
        frames["validation"], train = _cut(train, _count(cfg.val_size, len(train)), cfg.seed)
        log.info("no validation split: took %d rows from train%s", len(frames["validation"]), how)
    elif float(cfg.val_size) >= 1:
        frames["validation"], _ = _cut(frames["validation"], int(cfg.val_size), cfg.seed)

    if cfg.train_size:
        train, _ = _cut(train, cfg.train_size, cfg.seed)
    test = frames["test"]
    if cfg.test_size and len(test) > cfg.test_size:
        test, _ = _cut(test, cfg.test_size, cfg.seed)
    splits = Splits(train=train, validation=frames["validation"], test=test, labels=labels,
                    config=cfg)
    for name, size in splits.sizes().items():
        if size == 0:
            raise DataError(f"the {name} split is empty after cleaning; add data or lower the sizes")
    return splits


def load_eval_split(cfg: DataConfig, labels: LabelSet, split: str | None = None) -> pd.DataFrame:
    """One split of any source, labelled with a trained model's classes (for evaluation);
    `labels.task` says how a label is read (`cfg` gives its columns and separator).

    `split=None` takes `test` when present, else the only split there is.
    """
    raw, _ = read_sources(cfg.sources, cfg.strict, _text_columns(cfg))
    if split is None:
        if "test" in raw:
            split = "test"
        elif len(raw) == 1:
            split = next(iter(raw))
        else:
            raise DataError(f"several splits found ({sorted(raw)}); choose one with --split")
    if split not in raw:
        raise DataError(f"no {split} split in {' '.join(cfg.sources)} (splits: {sorted(raw)})")
    frame = _select_columns(raw[split], split, find_text_columns(cfg, raw[split].columns))
    if labels.task != SINGLE_LABEL:
        frame, _ = _read_targets(frame, cfg, labels.task, labels.names)
    else:
        integer = is_integer_like(frame["label"])
        mapping = {i: i for i in range(len(labels))} if integer else labels.label2id
        frame["label"] = encode_labels(frame, split, mapping, integer)
    if cfg.test_size and len(frame) > cfg.test_size:
        frame, _ = _cut(frame, cfg.test_size, cfg.seed)
    return frame
