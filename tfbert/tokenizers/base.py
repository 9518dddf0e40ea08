"""InGraphTokenizer: the pipeline of tokenizer.json's stages that every family shares.

It reproduces a fast tokenizer token for token with core TensorFlow ops only, so stock TF Serving
(no tensorflow_text) takes raw strings. Stages run in the fast tokenizer's order: added tokens in
the raw text, the normalizer, added tokens in the normalized text, the family's pre-tokenizer and
model (`_pre_tokenize`, `_model`), then the cut and the post-processor's layout (`truncation`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf

from tfbert.codepoints.graph_ops import positions, row_ranks, runs, shift_right
from tfbert.codepoints.unicode_tables import UNICODE_END, whitespace_mask
from tfbert.tokenizers.normalizers import NormalizerStep
from tfbert.tokenizers.tokenizer_json import AddedToken, Frame, backend_config, read_layout, require
from tfbert.tokenizers.truncation import PAIR_STRATEGIES, cut_windows, kept_lengths, lay_out


class _AddedPatterns(NamedTuple):
    """Added tokens of one kind (raw or normalized) as the graph matches them."""

    table: tf.Tensor  # code points of each token, padded with -1 (which matches anything)
    starts_with: tf.Tensor  # the code points tokens start with
    strips: tf.Tensor  # [token, (lstrip, rstrip)]
    first_marker: int  # the marker code point of the first token


class InGraphTokenizer(tf.Module):
    """Raw strings -> input_ids / attention_mask / token_type_ids, inside the graph.

    Subclasses give `model_type`, `read_spec`, the normalizer steps, `_pre_tokenize` and `_model`.
    Called on a 1-D tf.string batch (other shapes are flattened), or with `pair` on two of the
    same length (texts, text_pairs), it returns int32 [batch, T] tensors, T being the longest row
    (at most max_length), padded with the pad id and mask 0. A longer text keeps its first
    `head_tokens` tokens and the rest of the budget (max_length minus the special tokens) from its
    end; a pair's texts are cut by `pair_lengths` with strategy `pair` (`pair_truncation`).
    """

    family = "unknown"  # what the model card calls the in-graph tokenizer
    model_type = ""  # the tokenizer.json model.type it copies

    def __init__(self, frame: Frame, max_length: int, head_tokens: int | None = None,
                 pair: str | None = None, normalizers: Sequence[NormalizerStep] = ()) -> None:
        super().__init__()
        if pair not in (None, *PAIR_STRATEGIES):
            raise ValueError(f"a pair is cut by one of {', '.join(PAIR_STRATEGIES)}, not {pair!r}")
        self.is_pair, self.pair_truncation = pair is not None, pair
        self._layout = read_layout(frame.post_processor, self.is_pair)
        if max_length < max(self._layout.n_special, 1):
            raise ValueError(f"max_length must leave room for the {self._layout.n_special} special "
                             f"tokens and a text, got {max_length}")
        self.max_length = int(max_length)
        self.budget = self.max_length - self._layout.n_special  # tokens of the text(s) themselves
        self.set_head_tokens(head_tokens)
        self.windows: tuple[int, int] | None = None  # (stride, max windows): `set_windows`
        self._pad_id = frame.pad_id
        self._normalizers = tuple(normalizers)
        self._raw_patterns = self._patterns(frame.raw_tokens, first_marker=0)
        self._normalized_patterns = self._patterns(frame.normalized_tokens,
                                                   first_marker=len(frame.raw_tokens))
        specs = [tf.TensorSpec([None], tf.string)] * len(self._layout.types)  # texts (, text_pairs)
        self._encode = tf.function(self._encode_batch, input_signature=specs, autograph=False)

    @classmethod
    def from_fast_tokenizer(cls, tokenizer: Any, max_length: int, head_tokens: int | None = None,
                            pair: str | None = None) -> InGraphTokenizer:
        """The in-graph copy of a transformers fast tokenizer of this family.

        Raises UnsupportedTokenizerError for anything the family does not reproduce exactly
        (its module says what). The first build of a family takes a few seconds: every code point
        goes through the real normalizer and pre-tokenizer once (cached afterwards).
        """
        config = backend_config(tokenizer)
        kind = config["model"].get("type")
        require(kind == cls.model_type, f"model is {kind}, not {cls.model_type}")
        return cls(*cls.read_spec(tokenizer, config), max_length, head_tokens, pair)

    @staticmethod
    def read_spec(tokenizer: Any, config: dict[str, Any]) -> tuple[Any, Frame]:
        """What the family's graph needs, read from the fast tokenizer and its JSON form."""
        raise NotImplementedError

    def set_head_tokens(self, head_tokens: int | None) -> None:
        """Tokens a too-long text keeps from its start (None: all of the budget); set before
        the first call, which traces the graph."""
        self.head_tokens = self.budget if head_tokens is None else int(head_tokens)
        if not 0 <= self.head_tokens <= self.budget or (self.is_pair and head_tokens is not None):
            raise ValueError(f"head_tokens must be within 0..{self.budget} (None for a pair), "
                             f"got {head_tokens}")

    def set_windows(self, stride: int, max_windows: int) -> None:
        """Cut every text into overflow windows (`tokenizers.windows`) instead of truncating it;
        set before the first call. The output then has `window_text`: each row's text."""
        if not 0 <= stride < self.budget - self.is_pair or max_windows < 1:
            raise ValueError(f"windows of {self.budget} tokens: stride {stride}, {max_windows}")
        self.windows = (int(stride), int(max_windows))

    @staticmethod
    def _patterns(tokens: Sequence[AddedToken], first_marker: int) -> _AddedPatterns | None:
        if not tokens:
            return None
        table = np.full((len(tokens), max(len(t.content) for t in tokens)), -1, np.int32)
        for i, token in enumerate(tokens):
            table[i, : len(token.content)] = [ord(c) for c in token.content]
        strips = np.array([[t.lstrip, t.rstrip] for t in tokens], bool)
        return _AddedPatterns(tf.constant(table), tf.constant(np.unique(table[:, 0])),
                              tf.constant(strips), UNICODE_END + first_marker)

    def __call__(self, texts: tf.Tensor | Sequence[str],
                 text_pairs: tf.Tensor | Sequence[str] | None = None) -> dict[str, tf.Tensor]:
        if self.is_pair == (text_pairs is None):
            raise TypeError("a pair tokenizer takes texts and text_pairs" if self.is_pair else
                            "a one-text tokenizer takes no text_pairs")
        given = (texts,) if text_pairs is None else (texts, text_pairs)
        return self._encode(*(tf.reshape(tf.convert_to_tensor(t, tf.string), [-1]) for t in given))

    def _encode_batch(self, *texts: tf.Tensor) -> dict[str, tf.Tensor]:
        """The whole batch through every stage at once, as one flat tensor of code points; a
        pair's second texts follow the first ones, as rows of their own."""
        if self.is_pair:
            tf.debugging.assert_equal(tf.size(texts[0]), tf.size(texts[1]),
                                      "texts and text_pairs differ in length")
        texts = tf.concat(texts, 0)
        n_texts = tf.size(texts)
        decoded = tf.strings.unicode_decode(texts, "UTF-8", errors="replace")  # bad bytes: U+FFFD
        chars, rows = decoded.flat_values, tf.cast(decoded.value_rowids(), tf.int32)
        chars, rows = self._mark_added(chars, rows, self._raw_patterns)
        for normalize in self._normalizers:
            chars, rows = normalize(chars, rows)
        chars, rows = self._mark_added(chars, rows, self._normalized_patterns)
        chars, rows, starts = self._pre_tokenize(chars, rows)
        piece = tf.cumsum(tf.cast(starts, tf.int32)) - 1
        piece_rows = tf.boolean_mask(rows, starts)
        if not self.is_pair:  # a pair's cut needs each text's full length, so all is tokenized
            keep = tf.gather(self._reachable(piece_rows, n_texts), piece)
            chars, piece = tf.boolean_mask(chars, keep), tf.boolean_mask(piece, keep)
        tokens, token_piece = self._model(chars, piece, tf.size(piece_rows))
        token_texts = tf.gather(piece_rows, token_piece)
        counts, _ = row_ranks(token_texts, n_texts)
        if self.windows is not None:  # rows become windows; `window_text` says whose
            *cut, window_text = cut_windows(tokens, counts, n_texts // len(self._layout.types),
                                            self.budget, *self.windows, self.is_pair)
            return {**lay_out(*cut, self.budget, self._layout, self._pad_id),
                    "window_text": window_text}
        kept = kept_lengths(counts, self.budget, self.pair_truncation)
        return lay_out(tokens, token_texts, kept, self.head_tokens, self._layout, self._pad_id)

    def _pre_tokenize(self, chars: tf.Tensor, rows: tf.Tensor) -> tuple[tf.Tensor, ...]:
        """The characters the model sees, their rows, and where each piece starts."""
        raise NotImplementedError

    def _model(self, chars: tf.Tensor, piece: tf.Tensor, n_pieces: tf.Tensor) -> tuple[tf.Tensor, ...]:
        """Token ids of the pieces (`piece`: the sorted piece of each character, of n_pieces),
        and the piece of each token."""
        raise NotImplementedError

    def _mark_added(self, chars: tf.Tensor, rows: tf.Tensor,
                    patterns: _AddedPatterns | None) -> tuple[tf.Tensor, tf.Tensor]:
        """Replaces each added-token occurrence by one marker code point past Unicode; one with
        lstrip (rstrip) also takes the whitespace just before (after) it, as the fast tokenizer does."""
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

    def _whitespace_runs(self, chars: tf.Tensor, rows: tf.Tensor) -> tuple[tf.Tensor, ...]:
        """Which characters are whitespace, and where their run (within the row) starts and ends;
        other characters are runs of their own (first = their index, last = index + 1)."""
        space = whitespace_mask(chars)
        joined = space & shift_right(space, False) & (shift_right(rows, -1) == rows)
        run, begins, ends = runs(~joined)
        last = tf.where(space, tf.gather(ends, run), tf.range(tf.size(chars)) + 1)
        return space, tf.gather(begins, run), last

    def _reachable(self, word_rows: tf.Tensor, n_rows: tf.Tensor) -> tf.Tensor:
        """Which words can reach the output: as each gives a token at least, only the first
        head_tokens words and the last budget - head_tokens words of a row can."""
        word_counts, word_rank = row_ranks(word_rows, n_rows)
        if self.windows is not None:  # windows read from the start, up to the last one's end
            stride, max_windows = self.windows
            return word_rank < self.budget + (max_windows - 1) * (self.budget - stride)
        from_end = tf.gather(word_counts, word_rows) - word_rank
        return (word_rank < self.head_tokens) | (from_end <= self.budget - self.head_tokens)
