"""The data every row sees: one shuffled draw of a file, cut into a training pool and a held-out sample."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tfbert.data import build_label_set, read_sources


def load_sample(path: str | Path, seed: int, train_size: int, eval_size: int
                ) -> tuple[pd.DataFrame, pd.DataFrame, tuple[str, ...]]:
    """The shuffled data cut into a training pool and a held-out sample.

    Shuffling comes first because files such as the shared IMDb copy are sorted by label.

    Returns:
        (train frame, eval frame, label names), frames with columns `text` and `label` (int id).
    Raises:
        ValueError: `path` is not a file, lacks `text` or `label`, or has too few rows.
    """
    if not Path(path).is_file():
        raise ValueError(f"--data {path}: not a file (the benchmark reads one CSV/JSONL/parquet file)")
    frames, _ = read_sources((str(path),))
    frame = next(iter(frames.values()))
    missing = {"text", "label"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: needs columns text and label (missing {sorted(missing)})")
    frame = frame[["text", "label"]].dropna()
    labels, mapping = build_label_set(frame["label"], None)
    integer = all(isinstance(k, int) for k in mapping)
    frame = frame.assign(label=frame["label"].map(lambda v: mapping[int(v) if integer else v]))
    if len(frame) < train_size + eval_size:
        raise ValueError(f"{path} has {len(frame)} rows; train_size + eval_size needs "
                         f"{train_size + eval_size}")
    shuffled = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    train = shuffled.iloc[:train_size].reset_index(drop=True)
    held_out = shuffled.iloc[train_size:train_size + eval_size].reset_index(drop=True)
    return train, held_out, labels.names


def write_sample(train: pd.DataFrame, held_out: pd.DataFrame, labels: tuple[str, ...], folder: Path
                 ) -> dict:
    """Writes the sample for the workers, which read it back with `worker.read_sample`.

    Drawn once here, the sample is the same in every row, and the PyTorch worker needs no tfbert.
    Returns the spec's `sample` entry: both parquet files and the label names.
    """
    folder.mkdir(parents=True, exist_ok=True)
    sample = {"train": str(folder / "train.parquet"), "eval": str(folder / "eval.parquet"),
              "labels": list(labels)}
    train.to_parquet(sample["train"], index=False)
    held_out.to_parquet(sample["eval"], index=False)
    return sample
