"""Tokenization with the model's fast tokenizer and the `tf.data` input pipeline.

Texts are tokenized once with `datasets.Dataset.map(batched=True)` and truncated, never padded
up front; batches are padded per batch, optionally within length buckets.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import tensorflow as tf

from tfbert.tokenizers.truncation import head_budget, keep_head_and_tail, pair_lengths
from tfbert.tokenizers.windows import encode_windows


@dataclass(frozen=True)
class TokenizedSplit:
    """Token ids of one split, stored ragged: `values[offsets[i]:offsets[i+1]]` per key, and
    its labels (`features.label_array`).

    Cut into windows (`long_text="windows"`), each row is a window: `text_ids[i]` is the text
    it belongs to, `labels[i]` that text's label, and `capped` counts the texts whose windows
    past `max_windows` were dropped.
    """

    columns: dict[str, tuple[np.ndarray, np.ndarray]]
    labels: np.ndarray
    text_ids: np.ndarray | None = None
    capped: int = 0

    def __len__(self) -> int:
        return len(self.labels)

    def lengths(self) -> np.ndarray:
        _, offsets = next(iter(self.columns.values()))
        return np.diff(offsets)


def _bare_backend(tokenizer):
    """A copy of the fast tokenizer's Rust backend with no truncation or padding of its own.

    transformers leaves the last call's truncation set on the backend it shares.
    """
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.no_truncation()
    backend.no_padding()
    return backend


def encode_pairs(tokenizer, texts: list[str], text_pairs: list[str], max_length: int,
                 strategy: str = "longest_first", backend=None) -> dict[str, list[list[int]]]:
    """Pairs encoded as the fast tokenizer encodes them: each text on its own, cut by
    `pair_lengths` (for longest_first, the fast tokenizer's own rule), then the post-processor's
    pair template (`[CLS] A [SEP] B [SEP]`, `<s> A </s></s> B </s>`, ...) and its type ids."""
    backend = backend or _bare_backend(tokenizer)
    if backend.post_processor is None:  # no template: nothing says how the two are joined
        raise ValueError("the tokenizer has no post-processor, which says how two texts are "
                         "joined; pairs need one (BERT-family tokenizers have it)")
    budget = max_length - tokenizer.num_special_tokens_to_add(pair=True)
    ids, types = [], []
    firsts = backend.encode_batch(list(texts), add_special_tokens=False)
    seconds = backend.encode_batch(list(text_pairs), add_special_tokens=False)
    for first, second in zip(firsts, seconds, strict=True):
        kept = pair_lengths(len(first.ids), len(second.ids), budget, strategy)
        first.truncate(kept[0])
        second.truncate(kept[1])
        whole = backend.post_process(first, second, add_special_tokens=True)
        ids.append(whole.ids)
        types.append(whole.type_ids)
    return {"input_ids": ids, "attention_mask": [[1] * len(row) for row in ids],
            "token_type_ids": types}


def _batch_encoder(tokenizer, max_length: int, truncation: str, head_tokens: int | None,
                   pair: bool):
    """The function that tokenizes one batch of rows (`text`, and `text_pair` for pairs)."""
    keys = list(tokenizer.model_input_names)
    if pair:
        backend = _bare_backend(tokenizer)
        strategy = "longest_first" if truncation == "head" else truncation
        return lambda batch: {key: value for key, value in encode_pairs(
            tokenizer, batch["text"], batch["text_pair"], max_length, strategy, backend).items()
            if key in keys}
    budget = max_length - tokenizer.num_special_tokens_to_add()
    head = head_budget(truncation, head_tokens, budget)

    def encode(batch: dict) -> dict:
        if head == budget:  # the fast tokenizer truncates in Rust
            encoded = tokenizer(batch["text"], truncation=True, max_length=max_length)
            return {key: encoded[key] for key in keys}
        pieces = tokenizer(batch["text"], add_special_tokens=False, verbose=False)["input_ids"]
        rows = [keep_head_and_tail(ids, head, budget) for ids in pieces]
        encoded = {"input_ids": [tokenizer.build_inputs_with_special_tokens(r) for r in rows]}
        encoded["attention_mask"] = [[1] * len(ids) for ids in encoded["input_ids"]]
        encoded["token_type_ids"] = [tokenizer.create_token_type_ids_from_sequences(r) for r in rows]
        return {key: encoded[key] for key in keys}

    return encode


def _window_encoder(tokenizer, max_length: int, windows: tuple[int, int], pair: bool):
    """The function that cuts one batch of rows into windows, with each window's text index."""
    stride, max_windows = windows

    def encode(batch: dict, indices: list[int]) -> dict:
        found = encode_windows(tokenizer, batch["text"], batch["text_pair"] if pair else None,
                               max_length, stride, max_windows)
        owners = np.asarray(indices, dtype=np.int64)[found.text_ids]
        capped = np.isin(found.text_ids, found.capped)
        return {**found.encoded, "text_id": owners, "capped": capped}

    return encode


def tokenize_frame(
    frame: pd.DataFrame, tokenizer, max_length: int, batch_size: int = 1000,
    show_progress: bool = True, truncation: str = "head", head_tokens: int | None = None,
    windows: tuple[int, int] | None = None,
) -> TokenizedSplit:
    """Tokenizes `frame.text` (and `frame.text_pair`, for pairs) through `datasets.Dataset.map`
    in batches: truncated, never padded.

    `truncation` says which `max_length` tokens a longer text keeps: its start ("head"), its
    end ("tail") or both ("head+tail", `head_tokens` from the start); for a pair, which text
    loses tokens ("head" or "longest_first", "only_first", "only_second"). With `windows`
    (stride, max windows) nothing is cut: every text becomes its overflow windows.
    """
    import datasets

    pair = "text_pair" in frame.columns
    texts = ["text", "text_pair"] if pair else ["text"]
    dataset = datasets.Dataset.from_pandas(frame[[*texts, "label"]], preserve_index=False)
    if windows is None:
        encode, extra = _batch_encoder(tokenizer, max_length, truncation, head_tokens, pair), {}
    else:  # one row per window: the text columns and labels go, each window's text id comes
        encode = _window_encoder(tokenizer, max_length, windows, pair)
        texts, extra = [*texts, "label"], {"with_indices": True}
    if not show_progress:
        datasets.disable_progress_bars()
    try:
        # An in-memory dataset has no cache: a given fingerprint spares hashing `encode` (its
        # tokenizer pickled with dill), which took time per call and swallowed a Ctrl-C.
        dataset = dataset.map(encode, batched=True, batch_size=batch_size, remove_columns=texts,
                              desc="Tokenizing", new_fingerprint=uuid.uuid4().hex, **extra)
    finally:
        datasets.enable_progress_bars()
    table = dataset.data.table  # map() writes a fresh table: row order is the frame order
    columns = {}
    for key in tokenizer.model_input_names:
        lists = table.column(key).combine_chunks()
        columns[key] = (lists.flatten().to_numpy().astype(np.int32),
                        lists.offsets.to_numpy().astype(np.int64))
    labels = label_array(frame["label"])
    if windows is None:
        return TokenizedSplit(columns=columns, labels=labels)
    text_ids = table.column("text_id").to_numpy().astype(np.int64)
    capped = len(np.unique(text_ids[table.column("capped").to_numpy(zero_copy_only=False)]))
    return TokenizedSplit(columns, labels[text_ids], text_ids, capped)


def tokenize_texts(frame: pd.DataFrame, tokenizer, data, show_progress: bool = True
                   ) -> TokenizedSplit:
    """`tokenize_frame` as a run's `DataConfig` says: truncated, or cut into windows."""
    windows = (data.stride, data.max_windows) if data.windowed else None
    return tokenize_frame(frame, tokenizer, data.max_length, show_progress=show_progress,
                          truncation=data.truncation, head_tokens=data.head_tokens,
                          windows=windows)


def window_weights(split: TokenizedSplit) -> np.ndarray | None:
    """Training weights that make every text count once in the loss, however many windows it
    has: 1/windows of its text, scaled to average 1 so the loss keeps its size."""
    if split.text_ids is None:
        return None
    windows = np.bincount(split.text_ids)[split.text_ids].astype(np.float64)
    weights = 1.0 / windows
    return (weights * len(weights) / weights.sum()).astype(np.float32)


def label_array(labels: pd.Series) -> np.ndarray:
    """Class ids as int32; numbers (regression) as float32; label sets as float32 `[n, labels]`."""
    if len(labels) and isinstance(labels.iloc[0], np.ndarray):
        return np.stack(labels.to_list()).astype(np.float32)
    if pd.api.types.is_float_dtype(labels):
        return np.asarray(labels, dtype=np.float32)
    return np.asarray(labels, dtype=np.int32)


def plan_batches(
    lengths: np.ndarray, batch_size: int, shuffle: bool, seed: int, epoch: int,
    bucketing: bool, pad_multiple: int,
) -> list[np.ndarray]:
    """Which examples form each batch of one epoch, as index arrays, in batch order.

    The plan depends only on (seed, epoch), never on what ran before: a run resumed at any
    step sees exactly the batches an uninterrupted run would. With bucketing, batches are
    drawn from one length bucket (`pad_multiple` tokens wide), examples shuffled within it and
    the batches shuffled across buckets; bucket sizes do not depend on the seed, so every epoch
    has the same number of batches.

    Bucketing without shuffling (evaluation, labelling) orders the examples by bucket and cuts
    full batches across bucket edges: only the last batch is short. Cutting per bucket would
    leave a short batch of a random size in every bucket, so a long labelling job kept meeting
    new (rows, width) shapes, and its memory grew with them (docs/labelling.md).
    """
    n = len(lengths)
    rng = np.random.default_rng([seed, epoch])
    if not bucketing:
        order = rng.permutation(n) if shuffle else np.arange(n)
        return [order[i:i + batch_size] for i in range(0, n, batch_size)]
    buckets = (np.maximum(lengths, 1) - 1) // pad_multiple
    if not shuffle:
        order = np.argsort(buckets, kind="stable")
        return [order[i:i + batch_size] for i in range(0, n, batch_size)]
    batches = []
    for bucket in np.unique(buckets):
        members = rng.permutation(np.flatnonzero(buckets == bucket))
        batches += [members[i:i + batch_size] for i in range(0, len(members), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def make_dataset(
    split: TokenizedSplit,
    batch_size: int,
    pad_token_id: int,
    shuffle: bool = False,
    seed: int = 0,
    bucketing: bool = False,
    pad_multiple: int = 16,
    epochs: int = 1,
    start_epoch: int = 0,
    start_step: int = 0,
    weights: np.ndarray | None = None,
) -> tf.data.Dataset:
    """`(features, labels)` batches for epochs `start_epoch..epochs-1`, from `start_step` on;
    `(features, labels, weights)` when each row has a training weight (`window_weights`).

    Each batch is padded to its own longest text (dynamic padding); with bucketing, lengths
    are rounded up to a multiple of `pad_multiple`, so only a few shapes reach the model.
    Without shuffling, batches keep the split's order (sort it by length for inference).
    """
    plan = [batch for epoch in range(start_epoch, epochs)
            for batch in plan_batches(split.lengths(), batch_size, shuffle, seed, epoch,
                                      bucketing, pad_multiple)][start_step:]
    sizes = np.array([len(b) for b in plan], dtype=np.int64)
    flat = np.concatenate(plan) if plan else np.zeros((0,), np.int64)
    batches = tf.RaggedTensor.from_row_lengths(flat, sizes)
    columns = {key: tf.RaggedTensor.from_row_splits(values, offsets)
               for key, (values, offsets) in split.columns.items()}
    labels = tf.constant(split.labels)  # int32 ids, float32 targets or float32 label rows
    row_weights = None if weights is None else tf.constant(weights, tf.float32)
    multiple = pad_multiple if bucketing else 1

    def gather(indices: tf.Tensor):
        rows = {key: tf.gather(column, indices) for key, column in columns.items()}
        longest = tf.reduce_max(rows["input_ids"].row_lengths())
        width = (longest + multiple - 1) // multiple * multiple
        features = {key: rt.to_tensor(default_value=pad_token_id if key == "input_ids" else 0,
                                      shape=tf.stack([tf.shape(indices, tf.int64)[0], width]))
                    for key, rt in rows.items()}
        if row_weights is None:
            return features, tf.gather(labels, indices)
        return features, tf.gather(labels, indices), tf.gather(row_weights, indices)

    dataset = tf.data.Dataset.from_tensor_slices(batches)
    dataset = dataset.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def steps_per_epoch(split: TokenizedSplit, batch_size: int, bucketing: bool, pad_multiple: int) -> int:
    """Batches in one training epoch; the same for every epoch and seed."""
    return len(plan_batches(split.lengths(), batch_size, True, 0, 0, bucketing, pad_multiple))


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
    text_ids = None if split.text_ids is None else split.text_ids[order]
    return TokenizedSplit(columns, split.labels[order], text_ids, split.capped), order


def padding_efficiency(batches: tf.data.Dataset | Iterable[tuple[int, int]]) -> float:
    """Real tokens divided by computed (padded) tokens; 0.0 when there are none.

    Args:
        batches: a batched dataset of `(features, labels)`, read for one pass, or the
            `(real, computed)` token counts of batches recorded elsewhere (say, by another
            library's data collator), so every padding figure is worked out the same way.
    """
    if isinstance(batches, tf.data.Dataset):
        masks = (features["attention_mask"].numpy() for features, _ in batches)
        batches = ((int(mask.sum()), mask.size) for mask in masks)
    real = computed = 0
    for batch_real, batch_computed in batches:
        real += batch_real
        computed += batch_computed
    return real / computed if computed else 0.0
