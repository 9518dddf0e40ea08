"""How texts are cut and laid out: one rule for training (the fast tokenizer) and serving (the graph).

`pair_lengths` takes Python ints (training, pair by pair) or int32 tensors (the graph, a batch at
once), written once over `ops` so that the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfbert.codepoints.graph_ops import row_ranks
from tfbert.tokenizers.tokenizer_json import Layout

PAIR_STRATEGIES = ("longest_first", "only_first", "only_second")
PYTHON_OPS = (min, max, lambda condition, a, b: a if condition else b)
GRAPH_OPS = (tf.minimum, tf.maximum, tf.where)


def head_budget(truncation: str, head_tokens: int | None, budget: int) -> int:
    """How many of the `budget` content tokens a too-long text keeps from its start.

    The rest come from its end. "head+tail" keeps a quarter from the start unless told
    otherwise: reviews tend to state their verdict at the end (Sun et al., 2019, kept the
    first 128 and last 382 of 512 tokens for IMDb). The values are the user's, checked once
    by `DataConfig`.
    """
    if truncation == "head":
        return budget
    if truncation == "tail":
        return 0
    return budget // 4 if head_tokens is None else head_tokens


def keep_head_and_tail(ids: list[int], head: int, budget: int) -> list[int]:
    """The first `head` and last `budget - head` ids when there are more than `budget`."""
    if len(ids) <= budget:
        return ids
    return ids[:head] + ids[len(ids) - (budget - head):]


def pair_lengths(first: Any, second: Any, budget: int, strategy: str,
                 ops: tuple = PYTHON_OPS) -> tuple[Any, Any]:
    """How many tokens each text of a pair keeps when together they have `budget` at most.

    `longest_first` is the fast tokenizer's rule (tokenizers' `truncate_encodings`): the longer
    text loses tokens from its end until both fit, and where both are longer than half the
    budget, each keeps half (the longer one, or else the second, the odd token). `only_first` /
    `only_second` cut only that text; where the other one alone is longer than the budget, it is
    cut to the budget too (the fast tokenizer refuses such a pair), so no row ever fails.
    `ops`: min, max and a select, of Python (ints) or TensorFlow (`GRAPH_OPS`, tensors).
    """
    minimum, maximum, where = ops
    if strategy != "longest_first":
        cut, other = (first, second) if strategy == "only_first" else (second, first)
        other = minimum(other, budget)
        cut = minimum(cut, budget - other)
        return (cut, other) if strategy == "only_first" else (other, cut)
    short, long_ = minimum(first, second), maximum(first, second)
    halves = 2 * short > budget  # each is longer than half: the fast tokenizer splits evenly
    short_kept = where(halves, budget // 2, short)
    long_kept = where(halves, budget - budget // 2, minimum(long_, budget - short))
    first_shorter = first <= second
    return where(first_shorter, short_kept, long_kept), where(first_shorter, long_kept, short_kept)


def kept_lengths(counts: tf.Tensor, budget: int, strategy: str | None) -> tf.Tensor:
    """Tokens each text keeps: one text up to the budget; a pair's texts (the first texts, then
    the second ones) as `pair_lengths` says."""
    if strategy is None:
        return tf.minimum(counts, budget)
    half = tf.size(counts) // 2
    return tf.concat(pair_lengths(counts[:half], counts[half:], budget, strategy, GRAPH_OPS), 0)


def lay_out(tokens: tf.Tensor, token_texts: tf.Tensor, kept: tf.Tensor, head_tokens: int,
            layout: Layout, pad_id: int) -> dict[str, tf.Tensor]:
    """Each row's texts cut and put between the post-processor's special tokens, with type ids,
    padded to the longest row (pad id, type id 0, mask 0). Text s of row r is text s * n_rows + r;
    `token_texts` (sorted) says whose each token is; text t keeps `kept[t]` tokens, its first
    min(kept, head_tokens) and the rest from its end."""
    n_texts = tf.size(kept)
    n_rows = n_texts // len(layout.types)
    counts, rank = row_ranks(token_texts, n_texts)
    head = tf.gather(tf.minimum(kept, head_tokens), token_texts)
    dropped = tf.gather(counts - kept, token_texts)  # from just after the head
    keep = (rank < head) | (rank >= head + dropped)
    rows = tf.range(n_rows)
    end, starts, indices, values = tf.zeros([n_rows], tf.int32), [], [], []
    for i, group in enumerate(layout.specials):
        for token_id, type_id in group:
            indices.append(tf.stack([rows, end], 1))
            values.append(tf.tile([[token_id, type_id]], [n_rows, 1]))
            end += 1
        if i < len(layout.types):
            starts.append(end)
            end += kept[i * n_rows:(i + 1) * n_rows]
    position = tf.where(rank < head, rank, rank - dropped) + tf.gather(tf.concat(starts, 0),
                                                                        token_texts)
    text_rows, text_types = tf.tile(rows, [len(layout.types)]), tf.repeat(layout.types, n_rows)
    indices.append(tf.boolean_mask(tf.stack([tf.gather(text_rows, token_texts), position], 1), keep))
    values.append(tf.boolean_mask(tf.stack([tokens, tf.gather(text_types, token_texts)], 1), keep))
    width = tf.maximum(tf.reduce_max(end), layout.n_special)
    laid = tf.tensor_scatter_nd_update(tf.tile([[[pad_id, 0]]], [n_rows, width, 1]),
                                       tf.concat(indices, 0), tf.concat(values, 0))
    return {"input_ids": laid[:, :, 0], "attention_mask": tf.sequence_mask(end, width, tf.int32),
            "token_type_ids": laid[:, :, 1]}


def _spans(offsets: tf.Tensor, starts: tf.Tensor, lengths: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Indices of `lengths[w]` tokens from `offsets[w] + starts[w]`, and the span w of each."""
    spans = tf.ragged.range(offsets + starts, offsets + starts + lengths)
    return spans.flat_values, tf.cast(spans.value_rowids(), tf.int32)


def cut_windows(tokens: tf.Tensor, counts: tf.Tensor, n_rows: tf.Tensor,
                budget: int, stride: int, max_windows: int, pair: bool = False
                ) -> tuple[tf.Tensor, ...]:
    """Each row's overflow windows (`windows.window_starts`), at most `max_windows`, for `lay_out`:
    their tokens, texts (window w's is w; with `pair`, its second is n_windows + w), lengths,
    and rows. `counts`: tokens per text (with `pair`, the first texts, then the second ones;
    tokens sorted by text). A second text too long to keep whole leaves the first `stride + 1`
    tokens (in-process such a pair is refused)."""
    offsets = tf.cumsum(counts, exclusive=True)
    first = counts[:n_rows]
    second = tf.minimum(counts[n_rows:], budget - stride - 1) if pair else tf.zeros_like(first)
    room = budget - second  # the first text's tokens per window
    step = room - stride
    needed = (first - room + step - 1) // step + 1
    per_row = tf.where(first <= room, 1, tf.minimum(needed, max_windows))
    window_row = tf.repeat(tf.range(n_rows), per_row)
    rank = tf.range(tf.size(window_row)) - tf.gather(tf.cumsum(per_row, exclusive=True), window_row)
    starts = rank * tf.gather(step, window_row)
    lengths = tf.minimum(tf.gather(room, window_row), tf.gather(first, window_row) - starts)
    taken, texts = _spans(tf.gather(offsets, window_row), starts, lengths)
    if not pair:
        return tf.gather(tokens, taken), texts, lengths, window_row
    seconds = tf.gather(second, window_row)  # from the start of the row's second text
    more, more_texts = _spans(tf.gather(offsets[n_rows:], window_row), tf.zeros_like(seconds),
                              seconds)
    return (tf.gather(tokens, tf.concat([taken, more], 0)),
            tf.concat([texts, tf.size(window_row) + more_texts], 0),
            tf.concat([lengths, seconds], 0), window_row)
