"""Loading labelled text: hub data sets, `aclImdb` trees and local files, cut into splits.

Everything becomes a pandas frame with two columns, `text` (str) and `label` (int id), per
split (`train`, `validation`, `test`), plus a `LabelSet` that names the ids.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tfbert.config import TABLE_TYPES, DataConfig
from tfbert.errors import DataError

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
SPLIT_ALIASES = {
    "train": "train", "training": "train",
    "validation": "validation", "valid": "validation", "val": "validation", "dev": "validation",
    "test": "test", "testing": "test",
}


@dataclass(frozen=True)
class LabelSet:
    """The classes, in id order: `names[i]` is the label of id `i`."""

    names: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.names) < 2:
            raise DataError(f"only one class found ({list(self.names)}); a classifier needs two or more")

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.names))

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class Splits:
    """Train, validation and test frames (columns `text`, `label`) and their labels."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    labels: LabelSet

    def sizes(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in SPLITS}


# ---------------------------------------------------------------------------- reading sources


def decode_utf8(data: bytes) -> tuple[str, int]:
    """Decodes UTF-8, replacing each invalid byte sequence with U+FFFD; returns the count too."""
    bad = 0

    def count_and_replace(error: UnicodeDecodeError) -> tuple[str, int]:
        nonlocal bad
        bad += 1
        return "\ufffd", error.end

    codecs.register_error("tfbert.count_replace", count_and_replace)
    return data.decode("utf-8", errors="tfbert.count_replace"), bad


def _check_field_counts(path: Path, text: str, sep: str) -> None:
    """Refuses rows whose field count differs from the header's, naming their file lines.

    Without this, pandas takes an extra first-row field for an index column and shifts every
    column: texts become labels and the run fails later with a message that misleads.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    expected, ragged, line = None, [], 1
    try:
        for row in reader:
            if row and not (len(row) == 1 and not row[0].strip()):  # pandas skips blank lines
                if expected is None:
                    expected = len(row)
                elif len(row) != expected:
                    ragged.append((line, len(row)))
            line = reader.line_num + 1  # where the next record starts
    except csv.Error:  # e.g. a field beyond the csv module's size limit: leave it to pandas
        return
    if ragged:
        what = "a tab" if sep == "\t" else "a comma"
        shown = ", ".join(f"line {n} has {k}" for n, k in ragged[:5]) + (" ..." if len(ragged) > 5 else "")
        raise DataError(
            f"{path}: {len(ragged)} rows do not have the header's {expected} fields ({shown}; file "
            f"line numbers); put double quotes around texts that contain {what} or fix those lines"
        )


def _read_table(path: Path, strict: bool, text_column: str = "text") -> pd.DataFrame:
    """Reads one local file by its suffix; text files are decoded as UTF-8 with replacement."""
    suffix = path.suffix.lower()
    if suffix not in TABLE_TYPES:
        raise DataError(
            f"{path}: unknown file type {suffix or '(none)'}; use one of {', '.join(TABLE_TYPES)}"
        )
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        text, bad = decode_utf8(path.read_bytes())
        if bad:
            if strict:
                raise DataError(f"{path}: {bad} invalid UTF-8 byte sequences; re-save the file "
                                "as UTF-8 or drop --strict to replace them")
            log.warning("%s: replaced %d invalid UTF-8 byte sequences with U+FFFD", path, bad)
        if not text.strip():
            raise DataError(f"{path}: the file is empty")
        if suffix in (".csv", ".tsv"):
            sep = "\t" if suffix == ".tsv" else ","
            _check_field_counts(path, text, sep)
            # Only an empty field is missing: a review reading "NA" or "NULL" is still a review.
            # The text column stays text: a review reading "0" is not the number 0.
            return pd.read_csv(io.StringIO(text), sep=sep, keep_default_na=False, na_values=[""],
                               index_col=False, dtype={text_column: str})
        if suffix == ".jsonl":
            return pd.read_json(io.StringIO(text), lines=True)
        try:
            return pd.read_json(io.StringIO(text))
        except ValueError:  # a .json file holding one object per line
            return pd.read_json(io.StringIO(text), lines=True)
    except pd.errors.EmptyDataError as err:
        raise DataError(f"{path}: the file is empty") from err
    except (ValueError, OSError, pd.errors.ParserError) as err:
        raise DataError(f"{path}: cannot be read as {suffix[1:]} ({err})") from err


def _read_aclimdb(root: Path) -> dict[str, pd.DataFrame]:
    """Reads the official `aclImdb` layout: `<split>/{neg,pos}/<id>_<rating>.txt`."""
    frames = {}
    for split in ("train", "test"):
        rows = []
        for label in ("neg", "pos"):
            folder = root / split / label
            if not folder.is_dir():
                continue
            for file in sorted(folder.glob("*.txt")):
                rows.append((decode_utf8(file.read_bytes())[0], label))
        if rows:
            frames[split] = pd.DataFrame(rows, columns=["text", "label"])
    return frames


def _is_aclimdb(root: Path) -> bool:
    return (root / "train" / "pos").is_dir() and (root / "train" / "neg").is_dir()


def _split_of(path: Path) -> str | None:
    """`train.csv` -> train, `imdb_dev.jsonl` -> validation, `reviews.csv` -> None."""
    for part in reversed(re.split(r"[._\-]", path.stem.lower())):
        if part in SPLIT_ALIASES:
            return SPLIT_ALIASES[part]
    return None


def _files_in(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for file in sorted(folder.iterdir()):
        split = _split_of(file)
        if file.suffix.lower() in TABLE_TYPES and split is not None:
            if split in found:
                raise DataError(
                    f"{folder}: both {found[split].name} and {file.name} look like the {split} "
                    "split; name the files with --data train=... test=..."
                )
            found[split] = file
    return found


def _resolve_local(sources: tuple[str, ...]) -> dict[str, Path] | Path | None:
    """Maps the sources to files per split, an aclImdb root, or None for a hub name."""
    explicit = [s for s in sources if "=" in s]
    if explicit and len(explicit) != len(sources):
        raise DataError("mix of split=path and plain items in --data; use one form")
    if explicit:
        files = {}
        for item in explicit:
            name, _, raw_path = item.partition("=")
            split = SPLIT_ALIASES.get(name.strip().lower())
            if split is None:
                raise DataError(f"--data {item}: unknown split {name!r}; use train, validation or test")
            files[split] = Path(raw_path)
        return files
    if len(sources) > 1:
        files = {}
        for raw_path in sources:
            split = _split_of(Path(raw_path))
            if split is None or split in files:
                raise DataError(
                    f"--data {raw_path}: cannot tell which split this file is; "
                    "write it as train=PATH, validation=PATH or test=PATH"
                )
            files[split] = Path(raw_path)
        return files
    path = Path(sources[0])
    if path.is_dir():
        if _is_aclimdb(path):
            return path
        if _is_aclimdb(path / "aclImdb"):
            return path / "aclImdb"
        files = _files_in(path)
        if not files:
            raise DataError(
                f"{path}: no aclImdb tree (train/pos, train/neg) and no files named "
                f"train/validation/test with a suffix in {', '.join(TABLE_TYPES)}"
            )
        return files
    if path.exists() or path.suffix.lower() in TABLE_TYPES or "\\" in sources[0]:
        return {_split_of(path) or "train": path}
    looks_like_path = sources[0].startswith((".", "/", "~")) or sources[0].count("/") > 1
    if looks_like_path:
        raise DataError(f"data path {sources[0]} does not exist")
    return None


def _read_hub(name: str) -> tuple[dict[str, pd.DataFrame], dict[str, tuple[str, ...]]]:
    """Loads a hub data set; also returns the class names of ClassLabel columns."""
    import datasets

    try:
        loaded = datasets.load_dataset(name)
    except Exception as err:  # the hub client raises many types; all mean "not loadable"
        raise DataError(
            f"cannot load data set {name!r} from the hub ({type(err).__name__}: {err}); "
            "offline, pass a local folder or files with --data"
        ) from err
    frames, class_names = {}, {}
    for split_name, split in loaded.items():
        split_key = SPLIT_ALIASES.get(split_name)
        if split_key is None:
            continue
        frames[split_key] = split.to_pandas()
        for column, feature in split.features.items():
            if isinstance(feature, datasets.ClassLabel):
                class_names[column] = tuple(feature.names)
    return frames, class_names


def read_sources(
    sources: tuple[str, ...], strict: bool = False, text_column: str = "text"
) -> tuple[dict[str, pd.DataFrame], dict[str, tuple]]:
    """Reads raw frames per split from a hub name, an aclImdb tree or local files."""
    resolved = _resolve_local(sources)
    if resolved is None:
        return _read_hub(sources[0])
    if isinstance(resolved, Path):
        return _read_aclimdb(resolved), {"label": ("neg", "pos")}
    frames = {}
    for split, path in resolved.items():
        if not path.exists():
            raise DataError(f"data file {path} does not exist")
        frames[split] = _read_table(path, strict, text_column)
        frames[split].attrs["source"] = str(path)
    return frames, {}


# ---------------------------------------------------------------------------- labels


def _is_integer_like(values: pd.Series) -> bool:
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
    integer = _is_integer_like(train_labels)
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


def label_warnings(counts: dict[str, int], splits: int = len(SPLITS)) -> list[str]:
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


def _encode_labels(frame: pd.DataFrame, split: str, mapping: dict, integer: bool) -> pd.Series:
    """Maps raw labels to ids; every label must be one of the known classes."""
    raw = frame["label"]
    keys = raw.map(int) if integer and _is_integer_like(raw) else raw
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


# ---------------------------------------------------------------------------- cleaning and cutting


def _select_columns(frame: pd.DataFrame, split: str, cfg: DataConfig) -> pd.DataFrame:
    source = frame.attrs.get("source", f"the {split} split")
    missing = [c for c in (cfg.text_column, cfg.label_column) if c not in frame.columns]
    if missing:
        raise DataError(
            f"{source}: column {missing[0]!r} not found; columns are {list(map(str, frame.columns))}"
            "; choose them with --text-column / --label-column"
        )
    picked = frame[[cfg.text_column, cfg.label_column]].copy()
    picked.columns = ["text", "label"]
    usable = picked["text"].map(lambda t: isinstance(t, str) and bool(t.strip()))
    bad = ~usable | picked["label"].isna()
    if bad.any():
        rows = ", ".join(str(i + 1) for i in np.flatnonzero(bad)[:5])
        message = (f"{source}: {int(bad.sum())} rows with an empty text or no label "
                   f"(data rows {rows}{' ...' if bad.sum() > 5 else ''})")
        if cfg.strict:
            raise DataError(message + "; fix them or drop --strict to skip them")
        log.warning("%s: dropped", message)
    kept = picked[~bad].reset_index(drop=True)
    if kept.empty:
        raise DataError(f"{source}: no usable rows (every text is empty or every label missing)")
    return kept


def _stratify_key(frame: pd.DataFrame) -> pd.Series | None:
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
    raw, class_names = read_sources(cfg.sources, cfg.strict, cfg.text_column)
    if "train" not in raw:
        raise DataError(f"no train split found in {' '.join(cfg.sources)} (splits: {sorted(raw)})")
    frames = {split: _select_columns(frame, split, cfg) for split, frame in raw.items()}

    label_names = cfg.label_names or class_names.get(cfg.label_column)
    labels, mapping = build_label_set(frames["train"]["label"], label_names)
    integer = _is_integer_like(frames["train"]["label"])
    for split, frame in frames.items():
        frame["label"] = _encode_labels(frame, split, mapping, integer)
    if frames["train"]["label"].nunique() < 2:
        raise DataError("the train split holds only one class; a classifier needs two or more")
    ids = pd.concat([frame["label"] for frame in frames.values()]).value_counts()
    counts = {name: int(ids.get(i, 0)) for i, name in enumerate(labels.names)}
    log.info("labels: %s", ", ".join(f"{name} {n}" for name, n in counts.items()))
    for message in label_warnings(counts) if label_names is None else []:
        log.warning("%s", message)

    # Carve missing splits from train, seeded, before any subsetting so they never overlap.
    train = frames["train"]
    if "test" not in frames:
        n_test = cfg.test_size or _count(0.1, len(train))
        frames["test"], train = _cut(train, n_test, cfg.seed)
        log.info("no test split: took %d stratified rows from train", len(frames["test"]))
    if "validation" not in frames:
        frames["validation"], train = _cut(train, _count(cfg.val_size, len(train)), cfg.seed)
        log.info("no validation split: took %d stratified rows from train", len(frames["validation"]))
    elif float(cfg.val_size) >= 1:
        frames["validation"], _ = _cut(frames["validation"], int(cfg.val_size), cfg.seed)

    if cfg.train_size:
        train, _ = _cut(train, cfg.train_size, cfg.seed)
    test = frames["test"]
    if cfg.test_size and len(test) > cfg.test_size:
        test, _ = _cut(test, cfg.test_size, cfg.seed)
    splits = Splits(train=train, validation=frames["validation"], test=test, labels=labels)
    for name, size in splits.sizes().items():
        if size == 0:
            raise DataError(f"the {name} split is empty after cleaning; add data or lower the sizes")
    return splits


def load_eval_split(cfg: DataConfig, labels: LabelSet, split: str | None = None) -> pd.DataFrame:
    """One split of any source, labelled with a trained model's classes (for evaluation).

    `split=None` takes `test` when present, else the only split there is.
    """
    raw, _ = read_sources(cfg.sources, cfg.strict, cfg.text_column)
    if split is None:
        if "test" in raw:
            split = "test"
        elif len(raw) == 1:
            split = next(iter(raw))
        else:
            raise DataError(f"several splits found ({sorted(raw)}); choose one with --split")
    if split not in raw:
        raise DataError(f"no {split} split in {' '.join(cfg.sources)} (splits: {sorted(raw)})")
    frame = _select_columns(raw[split], split, cfg)
    integer = _is_integer_like(frame["label"])
    mapping = {i: i for i in range(len(labels))} if integer else labels.label2id
    frame["label"] = _encode_labels(frame, split, mapping, integer)
    if cfg.test_size and len(frame) > cfg.test_size:
        frame, _ = _cut(frame, cfg.test_size, cfg.seed)
    return frame
