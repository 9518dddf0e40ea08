"""Tokenization with the model's fast tokenizer and the `tf.data` input pipeline.

Texts are tokenized once with `datasets.Dataset.map(batched=True)` and truncated, never padded;
each batch is padded only to its own longest sequence (dynamic padding).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import tensorflow as tf


@dataclass(frozen=True)
class TokenizedSplit:
    """Token ids of one split, stored ragged: `values[offsets[i]:offsets[i+1]]` per key."""

    columns: dict[str, tuple[np.ndarray, np.ndarray]]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def lengths(self) -> np.ndarray:
        _, offsets = next(iter(self.columns.values()))
        return np.diff(offsets)


def tokenize_frame(
    frame: pd.DataFrame, tokenizer, max_length: int, batch_size: int = 1000,
    show_progress: bool = True,
) -> TokenizedSplit:
    """Tokenizes `frame.text` in batches through `datasets.Dataset.map` (truncation, no padding)."""
    import datasets

    dataset = datasets.Dataset.from_pandas(frame[["text", "label"]], preserve_index=False)
    keys = list(tokenizer.model_input_names)

    def encode(batch: dict) -> dict:
        encoded = tokenizer(batch["text"], truncation=True, max_length=max_length)
        return {key: encoded[key] for key in keys}

    if not show_progress:
        datasets.disable_progress_bars()
    try:
        dataset = dataset.map(encode, batched=True, batch_size=batch_size,
                              remove_columns=["text"], desc="Tokenizing")
    finally:
        datasets.enable_progress_bars()
    table = dataset.data.table  # map() writes a fresh table: row order is the frame order
    columns = {}
    for key in keys:
        lists = table.column(key).combine_chunks()
        columns[key] = (lists.flatten().to_numpy().astype(np.int32),
                        lists.offsets.to_numpy().astype(np.int64))
    return TokenizedSplit(columns=columns, labels=np.asarray(frame["label"], dtype=np.int32))


def make_dataset(
    split: TokenizedSplit,
    batch_size: int,
    pad_token_id: int,
    shuffle: bool = False,
    seed: int | None = None,
    shuffle_buffer: int = 10_000,
) -> tf.data.Dataset:
    """Builds `(features, labels)` batches padded to the longest sequence of each batch."""
    features = {
        key: tf.RaggedTensor.from_row_splits(values, offsets)
        for key, (values, offsets) in split.columns.items()
    }
    dataset = tf.data.Dataset.from_tensor_slices((features, split.labels))
    if shuffle:
        # A fresh order every epoch; the seed makes the sequence of orders repeatable.
        dataset = dataset.shuffle(min(shuffle_buffer, len(split)), seed=seed,
                                  reshuffle_each_iteration=True)
    padding = {key: tf.constant(pad_token_id if key == "input_ids" else 0, tf.int32)
               for key in split.columns}
    # Slices of a ragged tensor carry a RaggedTensorSpec that padded_batch refuses; passing
    # them through a map turns them into plain 1-D tensors.
    dataset = dataset.map(lambda f, y: (dict(f), y))
    dataset = dataset.padded_batch(batch_size, padding_values=(padding, tf.constant(0, tf.int32)))
    return dataset.prefetch(tf.data.AUTOTUNE)


def padding_efficiency(dataset: tf.data.Dataset) -> float:
    """Real tokens divided by computed tokens over one pass of a batched dataset."""
    real = computed = 0
    for features, _ in dataset:
        mask = features["attention_mask"].numpy()
        real += int(mask.sum())
        computed += mask.size
    return real / max(computed, 1)
