"""Where labelled texts come from: a hub data set, an `aclImdb` tree, or local files by split."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd

from tfbert.base.errors import DataError
from tfbert.config import TABLE_TYPES
from tfbert.tables import Utf8Counter, read_table

log = logging.getLogger(__name__)

SPLIT_ALIASES = {
    "train": "train", "training": "train",
    "validation": "validation", "valid": "validation", "val": "validation", "dev": "validation",
    "test": "test", "testing": "test",
}


def _read_file(path: Path, strict: bool, text_columns: tuple[str, ...]) -> pd.DataFrame:
    """One local file of labelled texts, read by the product's one reader (`tfbert.tables`)."""
    suffix = path.suffix.lower()
    if suffix not in TABLE_TYPES:
        raise DataError(f"{path}: unknown file type {suffix or '(none)'}; "
                        f"use one of {', '.join(TABLE_TYPES)}")
    utf8 = Utf8Counter()
    frame = read_table(path, strict, text_columns, utf8)
    if utf8.count:
        log.warning("%s: replaced %d invalid UTF-8 byte sequences with U+FFFD", path, utf8.count)
    if utf8.bad_lines:
        log.warning("%s: skipped %d malformed JSON lines (file lines %s); --strict makes them "
                    "an error", path, len(utf8.bad_lines), str(utf8.bad_lines[:5])[1:-1])
    return frame


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
                rows.append((file.read_bytes().decode("utf-8", errors="replace"), label))
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
    sources: tuple[str, ...], strict: bool = False, text_columns: tuple[str, ...] = ("text",)
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
        frames[split] = _read_file(path, strict, text_columns)
        frames[split].attrs["source"] = str(path)
    return frames, {}
