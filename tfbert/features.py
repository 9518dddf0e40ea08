"""Tokenization with the model's fast tokenizer and the `tf.data` input pipeline.

Texts are tokenized once with `datasets.Dataset.map(batched=True)` and truncated, never padded
up front; batches are padded per batch, optionally within length buckets.
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


def _slice_dataset(split: TokenizedSplit) -> tf.data.Dataset:
    features = {
        key: tf.RaggedTensor.from_row_splits(values, offsets)
        for key, (values, offsets) in split.columns.items()
    }
    dataset = tf.data.Dataset.from_tensor_slices((features, split.labels))
    # Slices of a ragged tensor carry a RaggedTensorSpec that padded_batch refuses; passing
    # them through a map turns them into plain 1-D tensors.
    return dataset.map(lambda f, y: (dict(f), y))


def _padding_values(split: TokenizedSplit, pad_token_id: int):
    return ({key: tf.constant(pad_token_id if key == "input_ids" else 0, tf.int32)
             for key in split.columns}, tf.constant(0, tf.int32))


def _round_up(features: dict, labels: tf.Tensor, multiple: int, pad_token_id: int):
    """Pads a batch's length up to a multiple, so few distinct shapes reach the model."""
    length = tf.shape(features["input_ids"])[1]
    extra = (multiple - length % multiple) % multiple
    padded = {key: tf.pad(value, [[0, 0], [0, extra]],
                          constant_values=pad_token_id if key == "input_ids" else 0)
              for key, value in features.items()}
    return padded, labels


def make_dataset(
    split: TokenizedSplit,
    batch_size: int,
    pad_token_id: int,
    shuffle: bool = False,
    seed: int | None = None,
    shuffle_buffer: int = 10_000,
    bucketing: bool = False,
    pad_multiple: int = 16,
) -> tf.data.Dataset:
    """Builds `(features, labels)` batches; no text is padded beyond what its batch needs.

    Without bucketing each batch is padded to its own longest text (dynamic padding). With
    bucketing, training batches are drawn from one length bucket (width `pad_multiple`) after
    a shuffle of all examples, then the batches themselves are shuffled; lengths become
    multiples of `pad_multiple`, so only a few shapes exist. For evaluation, pass a split
    sorted by length (`sort_by_length`) and bucketing only rounds the lengths up.
    """
    dataset = _slice_dataset(split)
    padding = _padding_values(split, pad_token_id)
    if shuffle:
        # A fresh order every epoch; the seed makes the sequence of orders repeatable.
        dataset = dataset.shuffle(min(shuffle_buffer, len(split)), seed=seed,
                                  reshuffle_each_iteration=True)
    if bucketing and shuffle:
        longest = int(split.lengths().max()) if len(split) else pad_multiple
        top = -(-longest // pad_multiple) * pad_multiple
        boundaries = list(range(pad_multiple + 1, top + 2, pad_multiple))
        dataset = dataset.bucket_by_sequence_length(
            lambda features, _: tf.shape(features["input_ids"])[0],
            bucket_boundaries=boundaries,
            bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
            padding_values=padding, pad_to_bucket_boundary=True,
        )
        # Buckets fill at different rates; shuffling whole batches hides which filled first.
        dataset = dataset.shuffle(64, seed=None if seed is None else seed + 1,
                                  reshuffle_each_iteration=True)
    else:
        dataset = dataset.padded_batch(batch_size, padding_values=padding)
        if bucketing:
            dataset = dataset.map(lambda f, y: _round_up(f, y, pad_multiple, pad_token_id))
    return dataset.prefetch(tf.data.AUTOTUNE)


def sort_by_length(split: TokenizedSplit) -> tuple[TokenizedSplit, np.ndarray]:
    """The split reordered shortest first, and the order used (`sorted[i]` = `split[order[i]]`).

    Batches of neighbours in this order carry almost no padding: the fast path for inference.
    """
    order = np.argsort(split.lengths(), kind="stable")
    columns = {}
    for key, (values, offsets) in split.columns.items():
        pieces = [values[offsets[i]:offsets[i + 1]] for i in order]
        lengths = np.array([len(p) for p in pieces], dtype=np.int64)
        new_offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        flat = np.concatenate(pieces) if pieces else values[:0]
        columns[key] = (flat.astype(np.int32), new_offsets)
    return TokenizedSplit(columns=columns, labels=split.labels[order]), order


def padding_efficiency(dataset: tf.data.Dataset) -> float:
    """Real tokens divided by computed tokens over one pass of a batched dataset."""
    real = computed = 0
    for features, _ in dataset:
        mask = features["attention_mask"].numpy()
        real += int(mask.sum())
        computed += mask.size
    return real / max(computed, 1)
