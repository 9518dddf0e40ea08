"""InGraphTokenizer: the pipeline of tokenizer.json's stages that every family shares.

An in-graph tokenizer reproduces a Hugging Face fast tokenizer token for token with core
TensorFlow ops only, so a SavedModel can take raw strings in stock TensorFlow Serving (which lacks
tensorflow_text's ops). The stages run in the fast tokenizer's order: added tokens matched in the
raw text, the normalizer, added tokens matched in the normalized text, the pre-tokenizer and the
model (one family each: `_pre_tokenize`, `_model`), then the post-processor's special tokens with
the head+tail cut of training, and padding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from tfbert.tokenizers.graph_ops import positions, row_ranks, runs, shift_right
from tfbert.tokenizers.normalizers import NormalizerStep
from tfbert.tokenizers.tokenizer_json import AddedToken, Frame
from tfbert.tokenizers.unicode_tables import UNICODE_END, WHITESPACE


class _AddedPatterns(NamedTuple):
    """Added tokens of one kind (raw or normalized) as the graph matches them."""

    table: tf.Tensor  # code points of each token, padded with -1
    starts_with: tf.Tensor  # the code points tokens start with
    strips: tf.Tensor  # [token, (lstrip, rstrip)]
    first_marker: int  # the marker code point of the first token


def _pattern_table(patterns: Sequence[str]) -> np.ndarray:
    """Code points of each pattern, padded with -1 (which matches anything)."""
    width = max(len(p) for p in patterns)
    table = np.full((len(patterns), width), -1, np.int32)
    for i, pattern in enumerate(patterns):
        table[i, : len(pattern)] = [ord(c) for c in pattern]
    return table


class InGraphTokenizer(tf.Module):
    """Raw strings -> input_ids / attention_mask / token_type_ids, inside the graph.

    Subclasses give the normalizer steps, `_pre_tokenize` and `_model`; this class matches added
    tokens, keeps what can reach the output and wraps each row in the post-processor's special
    tokens. Calling it takes a 1-D tf.string batch (other shapes are flattened) and returns int32
    [batch, T] tensors, T being the longest encoded text (at most max_length), padded with the pad
    id and mask 0. A longer text keeps its first `head_tokens` tokens and fills the rest of the
    budget (max_length minus the special tokens) from its end (None: all from the start, as the
    fast tokenizer truncates).
    """

    family = "unknown"  # what the model card calls the in-graph tokenizer

    def __init__(self, frame: Frame, max_length: int, head_tokens: int | None = None,
                 normalizers: Sequence[NormalizerStep] = (), name: str | None = None) -> None:
        super().__init__(name=name)
        self._prefix_ids, self._suffix_ids = frame.prefix_ids, frame.suffix_ids
        n_special = len(frame.prefix_ids) + len(frame.suffix_ids)
        if max_length < max(n_special, 1):
            raise ValueError(f"max_length must leave room for the {n_special} special tokens and "
                             f"a text, got {max_length}")
        self.max_length = int(max_length)
        self.budget = self.max_length - n_special  # tokens of the text itself
        self.set_head_tokens(head_tokens)
        self._pad_id = frame.pad_id
        self._normalizers = tuple(normalizers)
        self._raw_patterns = self._patterns(frame.raw_tokens, first_marker=0)
        self._normalized_patterns = self._patterns(frame.normalized_tokens,
                                                   first_marker=len(frame.raw_tokens))
        self._whitespace = tf.constant(WHITESPACE, tf.int32)
        self._encode = tf.function(
            self._encode_batch,
            input_signature=[tf.TensorSpec([None], tf.string)],
            autograph=False,
        )

    def set_head_tokens(self, head_tokens: int | None) -> None:
        """Tokens a too-long text keeps from its start (None: all of the budget); set before
        the first call, which traces the graph."""
        self.head_tokens = self.budget if head_tokens is None else int(head_tokens)
        if not 0 <= self.head_tokens <= self.budget:
            raise ValueError(f"head_tokens must be within 0..{self.budget}, got {head_tokens}")

    @staticmethod
    def _patterns(tokens: Sequence[AddedToken], first_marker: int) -> _AddedPatterns | None:
        if not tokens:
            return None
        table = _pattern_table([t.content for t in tokens])
        strips = np.array([[t.lstrip, t.rstrip] for t in tokens], bool)
        return _AddedPatterns(tf.constant(table), tf.constant(np.unique(table[:, 0])),
                              tf.constant(strips), UNICODE_END + first_marker)

    def __call__(self, texts: tf.Tensor | Sequence[str]) -> dict[str, tf.Tensor]:
        texts = tf.reshape(tf.convert_to_tensor(texts, tf.string), [-1])
        return self._encode(texts)

    def _encode_batch(self, texts: tf.Tensor) -> dict[str, tf.Tensor]:
        """The whole batch through every stage at once, as one flat tensor of code points."""
        n_rows = tf.shape(texts)[0]
        decoded = tf.strings.unicode_decode(texts, "UTF-8", errors="replace")  # bad bytes: U+FFFD
        chars, rows = decoded.flat_values, tf.cast(decoded.value_rowids(), tf.int32)
        chars, rows = self._mark_added(chars, rows, self._raw_patterns)
        for normalize in self._normalizers:
            chars, rows = normalize(chars, rows)
        chars, rows = self._mark_added(chars, rows, self._normalized_patterns)
        chars, rows, starts = self._pre_tokenize(chars, rows)
        piece = tf.cumsum(tf.cast(starts, tf.int32)) - 1
        piece_rows = tf.boolean_mask(rows, starts)
        keep = tf.gather(self._reachable(piece_rows, n_rows), piece)
        tokens, token_piece = self._model(tf.boolean_mask(chars, keep),
                                          tf.boolean_mask(piece, keep), tf.size(piece_rows))
        return self._assemble(tokens, tf.gather(piece_rows, token_piece), n_rows)

    def _pre_tokenize(self, chars: tf.Tensor, rows: tf.Tensor
                      ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """The characters the model sees, their rows, and where each piece starts."""
        raise NotImplementedError

    def _model(self, chars: tf.Tensor, piece: tf.Tensor, n_pieces: tf.Tensor
               ) -> tuple[tf.Tensor, tf.Tensor]:
        """Token ids of the pieces (`piece`: the sorted piece of each character, of n_pieces),
        and the piece of each token."""
        raise NotImplementedError

    def _mark_added(self, chars: tf.Tensor, rows: tf.Tensor,
                    patterns: _AddedPatterns | None) -> tuple[tf.Tensor, tf.Tensor]:
        """Replaces each added-token occurrence by one marker code point past Unicode.

        A token with lstrip (rstrip) also takes the whitespace just before (after) it, as the
        fast tokenizer does.
        """
        if patterns is None:
            return chars, rows
        patterns, starts_with, strips, first_marker = patterns
        width = patterns.shape[1]
        n = tf.size(chars)
        candidates = positions(tf.reduce_any(chars[:, None] == starts_with[None, :], 1))
        spans = candidates[:, None] + tf.range(width)[None, :]
        window = tf.gather(tf.concat([chars, tf.fill([width], -1)], 0), spans)
        window_rows = tf.gather(tf.concat([rows, tf.fill([width], -1)], 0), spans)
        window = tf.where(window_rows == tf.gather(rows, candidates)[:, None], window, -1)
        equal = (window[None] == patterns[:, None, :]) | (patterns[:, None, :] < 0)
        hits = tf.reduce_all(equal, axis=2)  # [pattern, candidate]
        found = tf.reduce_any(hits, 0)
        starts = tf.boolean_mask(candidates, found)
        which = tf.boolean_mask(tf.argmax(tf.cast(hits, tf.int32), 0, tf.int32), found)
        ends = starts + tf.gather(tf.reduce_sum(tf.cast(patterns >= 0, tf.int32), 1), which)
        space, first, last = self._whitespace_runs(chars, rows)
        previous = tf.maximum(starts - 1, 0)
        lstrip = tf.gather(strips[:, 0], which) & (starts > 0) & tf.gather(space, previous)
        lstrip &= tf.gather(rows, previous) == tf.gather(rows, starts)
        before = tf.gather(first, previous)
        following = tf.minimum(ends, n - 1)
        rstrip = tf.gather(strips[:, 1], which) & (ends < n) & tf.gather(space, following)
        rstrip &= tf.gather(rows, following) == tf.gather(rows, starts)
        after = tf.gather(last, following)
        span_start = tf.where(lstrip, before, starts)
        span_end = tf.where(rstrip, after, ends)
        edges = tf.concat([span_start, starts, starts + 1, span_end], 0)
        ones = tf.ones_like(starts)
        delta = tf.math.unsorted_segment_sum(tf.concat([ones, -ones, ones, -ones], 0), edges, n + 1)
        inside = tf.cumsum(delta)[:n] > 0
        chars = tf.tensor_scatter_nd_update(chars, starts[:, None], first_marker + which)
        return tf.boolean_mask(chars, ~inside), tf.boolean_mask(rows, ~inside)

    def _whitespace_runs(
        self, chars: tf.Tensor, rows: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Which characters are whitespace, and where their run (within the row) starts and ends.

        Other characters are runs of their own: first = their index, last = index + 1.
        """
        space = tf.reduce_any(chars[:, None] == self._whitespace[None, :], 1)
        joined = space & shift_right(space, False) & (shift_right(rows, -1) == rows)
        run, begins, ends = runs(~joined)
        last = tf.where(space, tf.gather(ends, run), tf.range(tf.size(chars)) + 1)
        return space, tf.gather(begins, run), last

    def _reachable(self, word_rows: tf.Tensor, n_rows: tf.Tensor) -> tf.Tensor:
        """Which words can reach the output, when each gives at least one token.

        Only the first head_tokens words and the last budget - head_tokens words of a row can.
        """
        word_counts, word_rank = row_ranks(word_rows, n_rows)
        from_end = tf.gather(word_counts, word_rows) - word_rank
        return (word_rank < self.head_tokens) | (from_end <= self.budget - self.head_tokens)

    def _assemble(
        self, tokens: tf.Tensor, token_rows: tf.Tensor, n_rows: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        """Special tokens around each row's tokens, cut to max_length, padded to the longest row.

        A row with `drop` tokens too many loses the ones just after its first head_tokens.
        """
        counts, rank = row_ranks(token_rows, n_rows)
        drop = tf.gather(tf.maximum(counts - self.budget, 0), token_rows)
        in_head = rank < self.head_tokens
        keep = in_head | (rank >= self.head_tokens + drop)
        n_prefix, n_suffix = len(self._prefix_ids), len(self._suffix_ids)
        position = tf.where(in_head, rank, rank - drop) + n_prefix
        lengths = tf.minimum(counts, self.budget) + n_prefix + n_suffix
        width = tf.maximum(tf.reduce_max(lengths), n_prefix + n_suffix)
        row_ids = tf.range(n_rows)
        indices = [tf.boolean_mask(tf.stack([token_rows, position], 1), keep)]
        values = [tf.boolean_mask(tokens, keep)]
        for i, token_id in enumerate(self._prefix_ids):
            indices.append(tf.stack([row_ids, tf.fill([n_rows], i)], 1))
            values.append(tf.fill([n_rows], token_id))
        for i, token_id in enumerate(self._suffix_ids):
            indices.append(tf.stack([row_ids, lengths - n_suffix + i], 1))
            values.append(tf.fill([n_rows], token_id))
        input_ids = tf.tensor_scatter_nd_update(
            tf.fill([n_rows, width], self._pad_id), tf.concat(indices, 0), tf.concat(values, 0)
        )
        attention_mask = tf.sequence_mask(lengths, width, tf.int32)
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "token_type_ids": tf.zeros_like(input_ids),
        }
