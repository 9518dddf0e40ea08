"""BERT's WordPiece (BertNormalizer, BertPreTokenizer, WordPiece model) in core TensorFlow ops.

Every Unicode rule is read out of the fast tokenizer at build time: its normalizer and
pre-tokenizer are run on each code point to fill small per-code-point tables, and its vocabulary
becomes a character trie. The graph then only decodes UTF-8, looks code points up, and walks the
trie from all word positions at once.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import tensorflow as tf

from tfbert.text_tokenizer import (
    BLOCK,
    BLOCK_BITS,
    SURROGATES,
    UNICODE_END,
    Frame,
    InGraphTokenizer,
    VocabTrie,
    backend_config,
    code_point_chunks,
    read_frame,
    require,
    shift_right,
    two_level,
)

_OTHER, _SPACE, _ISOLATED = 0, 1, 2  # what the pre-tokenizer does with a character
_IDENTITY, _SPACED = 0, 1  # normalization codes below the first pool entry
_POOL_BASE = 2


@dataclasses.dataclass(frozen=True)
class _Spec:
    """What the WordPiece graph needs to know about a fast tokenizer, read from its JSON form."""

    vocab: dict[str, int]
    unk_id: int
    prefix: str
    max_word_chars: int


def _read_spec(tokenizer: Any) -> tuple[_Spec, Frame]:
    config = backend_config(tokenizer)
    model = config["model"]
    require(model.get("type") == "WordPiece", f"model is {model.get('type')}, not WordPiece")
    normalizer = config.get("normalizer") or {}
    require(normalizer.get("type") == "BertNormalizer", "normalizer is not BertNormalizer")
    pre = config.get("pre_tokenizer") or {}
    require(pre.get("type") == "BertPreTokenizer", "pre-tokenizer is not BertPreTokenizer")
    vocab = {str(k): int(v) for k, v in model["vocab"].items()}
    require(model["unk_token"] in vocab, "the unknown token is not in the vocabulary")
    # lstrip / rstrip need no work here: BertPreTokenizer drops that whitespace anyway.
    spec = _Spec(
        vocab=vocab,
        unk_id=vocab[model["unk_token"]],
        prefix=model.get("continuing_subword_prefix") or "",
        max_word_chars=int(model.get("max_input_chars_per_word", 100)),
    )
    return spec, read_frame(tokenizer, config)


def _normalized_forms(normalizer: Any) -> dict[int, str]:
    """Every code point the normalizer changes, with what it becomes (possibly nothing).

    BertNormalizer works character by character, so these single-character results compose.
    The one exception is the canonical reordering inside NFD (strip_accents), which only moves
    combining marks that stripping then drops, except for a few rare Mc musical/Indic signs.
    """
    changed = {}
    normalize = normalizer.normalize_str
    for cp in range(UNICODE_END):
        if cp in SURROGATES:
            continue
        char = chr(cp)
        out = normalize(char)
        if out != char:
            changed[cp] = out
    return changed


def _split_classes(pre_tokenizer: Any) -> np.ndarray:
    """What the pre-tokenizer does with each code point: keep, split on (space) or isolate.

    Code points are fed as "c0xc1xc2x..." in long batches. A kept character joins its x
    neighbours, punctuation comes back as a piece of its own at an even offset, and a space is
    covered by no piece at all. Runs of kept characters make one piece, so this is fast.
    """
    classes = np.full(UNICODE_END, _OTHER, np.int32)
    for cps in code_point_chunks():
        pieces = pre_tokenizer.pre_tokenize_str("".join(f"{chr(cp)}x" for cp in cps))
        spans = np.array([span for _, span in pieces]).reshape(-1, 2)
        coverage = np.zeros(2 * len(cps) + 1, np.int32)
        np.add.at(coverage, spans[:, 0], 1)
        np.add.at(coverage, spans[:, 1], -1)
        covered = np.cumsum(coverage)[: 2 * len(cps) : 2] > 0
        classes[cps[~covered]] = _SPACE
        alone = spans[(spans[:, 1] - spans[:, 0] == 1) & (spans[:, 0] % 2 == 0), 0] // 2
        classes[cps[alone]] = _ISOLATED
    return classes


_TABLE_CACHE: dict[str, tuple[np.ndarray, ...]] = {}


def _unicode_tables(backend: Any, n_markers: int) -> tuple[np.ndarray, ...]:
    """Per-code-point tables, plus room for `n_markers` added-token markers past Unicode.

    Each entry packs a normalization code (identity, " c ", or 2 + a pool entry) with the
    pre-tokenizer class of the code point: value = code * 4 + class. Markers are isolated and
    left as they are. The slow part is cached by configuration.
    """
    config = json.loads(backend.to_str())
    key = json.dumps([config["normalizer"], config["pre_tokenizer"]], sort_keys=True)
    if key not in _TABLE_CACHE:
        _TABLE_CACHE[key] = _code_point_values(backend)
    values, pool_flat, pool_start, pool_len = _TABLE_CACHE[key]
    size = -(-(UNICODE_END + n_markers) // BLOCK) * BLOCK
    markers = np.full(size - UNICODE_END, _IDENTITY * 4 + _ISOLATED, np.int32)
    index, data = two_level(np.concatenate([values, markers]))
    return index, data, pool_flat, pool_start, pool_len


def _code_point_values(backend: Any) -> tuple[np.ndarray, ...]:
    """Packed value of every code point, and the pool of longer normalized forms."""
    codes = np.full(UNICODE_END, _IDENTITY, np.int32)
    pool: dict[str, int] = {}
    for cp, out in _normalized_forms(backend.normalizer).items():
        if out == f" {chr(cp)} ":
            codes[cp] = _SPACED
        else:
            codes[cp] = _POOL_BASE + pool.setdefault(out, len(pool))
    values = codes * 4 + _split_classes(backend.pre_tokenizer)
    entries = [[ord(c) for c in out] for out in pool]
    pool_len = np.array([len(e) for e in entries], np.int32)
    pool_start = np.concatenate([[0], np.cumsum(pool_len)[:-1]]).astype(np.int32)
    pool_flat = np.array([cp for e in entries for cp in e] + [0], np.int32)  # never empty
    return values, pool_flat, pool_start, pool_len


class BertTextTokenizer(InGraphTokenizer):
    """WordPiece as BERT does it (BertNormalizer, BertPreTokenizer), built by `from_fast_tokenizer`."""

    family = "WordPiece"

    def __init__(
        self,
        spec: _Spec,
        frame: Frame,
        unicode_tables: tuple[np.ndarray, ...],
        max_length: int,
        head_tokens: int | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(frame, max_length, head_tokens, name)
        self._unk_id, self._max_word_chars = spec.unk_id, spec.max_word_chars
        index, data, pool_flat, pool_start, pool_len = (tf.constant(t) for t in unicode_tables)
        self._block_index, self._block_data = index, data
        self._pool_flat, self._pool_start, self._pool_len = pool_flat, pool_start, pool_len
        added = frame.raw_tokens + frame.normalized_tokens
        self._trie = VocabTrie(spec.vocab, [token.id for token in added], spec.prefix)
        self._first_normalized_marker = len(frame.raw_tokens)

    @classmethod
    def from_fast_tokenizer(
        cls, tokenizer: Any, max_length: int, head_tokens: int | None = None
    ) -> BertTextTokenizer:
        """Reads vocabulary, options and Unicode rules out of a transformers fast tokenizer.

        Raises UnsupportedTokenizerError for anything but BertNormalizer + BertPreTokenizer +
        WordPiece. Takes a few seconds (1.1 M code points are run through the normalizer and
        pre-tokenizer; the result is cached per configuration).
        """
        spec, frame = _read_spec(tokenizer)
        n_markers = len(frame.raw_tokens) + len(frame.normalized_tokens)
        return cls(spec, frame, _unicode_tables(tokenizer.backend_tokenizer, n_markers),
                   max_length, head_tokens)

    def _encode_batch(self, texts: tf.Tensor) -> dict[str, tf.Tensor]:
        n_rows = tf.shape(texts)[0]
        chars, rows = self._decode(texts)
        chars, rows = self._mark_added(chars, rows, self._raw_patterns, 0)
        chars, rows = self._normalize(chars, rows)
        chars, rows = self._mark_added(chars, rows, self._normalized_patterns,
                                       self._first_normalized_marker)
        chars, starts, word_long, word_rows = self._split_words(chars, rows, n_rows)
        tokens, token_rows = self._wordpiece(chars, starts, word_long, word_rows)
        return self._assemble(tokens, token_rows, n_rows)

    def _lookup(self, chars: tf.Tensor) -> tf.Tensor:
        """Packed table value (normalization code * 4 + split class) of each code point."""
        block = tf.gather(self._block_index, tf.bitwise.right_shift(chars, BLOCK_BITS))
        offset = tf.bitwise.bitwise_and(chars, BLOCK - 1)
        return tf.gather(self._block_data, block * BLOCK + offset)

    def _normalize(self, chars: tf.Tensor, rows: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Replaces each code point by its normalized form: none, itself, " c " or a pool entry."""
        code = tf.bitwise.right_shift(self._lookup(chars), 2)
        entry = tf.maximum(code - _POOL_BASE, 0)
        counts = tf.where(code == _IDENTITY, 1, tf.gather(self._pool_len, entry))
        counts = tf.where(code == _SPACED, 3, counts)
        source = tf.repeat(tf.range(tf.size(chars)), counts)
        offset = tf.range(tf.size(source)) - tf.gather(tf.cumsum(counts, exclusive=True), source)
        code, char = tf.gather(code, source), tf.gather(chars, source)
        pooled_at = tf.gather(self._pool_start, tf.gather(entry, source)) + offset
        pooled = tf.gather(self._pool_flat, tf.where(code >= _POOL_BASE, pooled_at, 0))
        spaced = tf.where(offset == 1, char, ord(" "))
        out = tf.where(code == _IDENTITY, char, tf.where(code == _SPACED, spaced, pooled))
        return out, tf.gather(rows, source)

    def _split_words(
        self, chars: tf.Tensor, rows: tf.Tensor, n_rows: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        """Pre-tokenizes: drops spaces, isolates punctuation, keeps the words that can be kept.

        Words that cannot reach the output are dropped. Words longer than
        max_input_chars_per_word become [UNK]; only their first character is kept.
        """
        split_class = tf.bitwise.bitwise_and(self._lookup(chars), 3)
        space, isolated = split_class == _SPACE, split_class == _ISOLATED
        after_break = (shift_right(rows, -1) != rows) | shift_right(space | isolated, True)
        starts = ~space & (after_break | isolated)
        chars, rows, starts = (tf.boolean_mask(t, ~space) for t in (chars, rows, starts))
        word = tf.cumsum(tf.cast(starts, tf.int32)) - 1
        word_start = tf.cast(tf.where(starts)[:, 0], tf.int32)
        word_len = tf.concat([word_start[1:], [tf.size(chars)]], 0) - word_start
        word_rows = tf.gather(rows, word_start)
        kept_words = self._reachable(word_rows, n_rows)
        word_long = word_len > self._max_word_chars
        first_char = tf.range(tf.size(chars)) == tf.gather(word_start, word)
        keep = tf.gather(kept_words, word)
        keep &= first_char | ~tf.gather(word_long, word)
        return (
            tf.boolean_mask(chars, keep),
            tf.boolean_mask(starts, keep),
            tf.boolean_mask(word_long, kept_words),
            tf.boolean_mask(word_rows, kept_words),
        )

    def _wordpiece(
        self, chars: tf.Tensor, starts: tf.Tensor, word_long: tf.Tensor, word_rows: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Greedy longest-match-first pieces of every word; a word that cannot be split is [UNK]."""
        here = tf.range(tf.size(chars))
        word = tf.cumsum(tf.cast(starts, tf.int32)) - 1
        word_start = tf.cast(tf.where(starts)[:, 0], tf.int32)
        word_end = tf.concat([word_start[1:], [tf.size(chars)]], 0)
        origin = tf.gather(word_start, word)
        best_len, best_id = self._longest_matches(
            chars,
            first=here == origin,
            alive=~tf.gather(word_long, word),
            remaining=tf.gather(word_end, word) - here,
        )
        reached = self._greedy_path(
            best_len, tf.concat([here, word_end], 0), tf.concat([origin, word_start], 0)
        )
        on_path, complete = reached[: tf.size(chars)], reached[tf.size(chars) :]
        whole = tf.gather(complete, word)
        emit = tf.where(whole, on_path, here == origin)
        ids = tf.where(whole, best_id, self._unk_id)
        return tf.boolean_mask(ids, emit), tf.boolean_mask(tf.gather(word_rows, word), emit)

    def _longest_matches(
        self, chars: tf.Tensor, first: tf.Tensor, alive: tf.Tensor, remaining: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Length and id of the longest vocabulary piece starting at every character.

        All start positions walk the trie together, one character per step; a walk stops when
        the trie has no edge for its next character or its word ends.
        """
        at = tf.cast(tf.where(alive)[:, 0], tf.int32)
        state = tf.where(tf.gather(first, at), 0, self._trie.continuation)
        best_len = tf.zeros_like(chars)
        best_id = tf.fill(tf.shape(chars), self._unk_id)

        def step(depth, at, state, best_len, best_id):
            at, state, token = self._trie.advance(at, state, tf.gather(chars, at + depth))
            is_token = token >= 0
            hit = tf.boolean_mask(at, is_token)[:, None]
            best_len = tf.tensor_scatter_nd_update(
                best_len, hit, tf.fill([tf.shape(hit)[0]], depth + 1)
            )
            best_id = tf.tensor_scatter_nd_update(best_id, hit, tf.boolean_mask(token, is_token))
            more = depth + 1 < tf.gather(remaining, at)
            at, state = tf.boolean_mask(at, more), tf.boolean_mask(state, more)
            return depth + 1, at, state, best_len, best_id

        _, _, _, best_len, best_id = tf.while_loop(
            lambda depth, at, *_: tf.size(at) > 0,
            step,
            (tf.constant(0), at, state, best_len, best_id),
            shape_invariants=(
                tf.TensorShape([]),
                tf.TensorShape([None]),
                tf.TensorShape([None]),
                best_len.shape,
                best_id.shape,
            ),
        )
        return best_len, best_id

    def _greedy_path(
        self, best_len: tf.Tensor, targets: tf.Tensor, origins: tf.Tensor
    ) -> tf.Tensor:
        """Whether each target lies on the greedy chain of pieces started at its origin.

        From position p the chain jumps to p + best_len[p] (or to a sink past the end when no
        piece starts there). Jumps of 2**k pieces are built by doubling, and each target is
        approached from its origin by the largest jumps that do not overshoot it.
        """
        n = tf.size(best_len)
        sink = n + 1
        jump = tf.where(best_len > 0, tf.range(n) + best_len, sink)
        jumps = [tf.concat([jump, [sink, sink]], 0)]
        for _ in range(self._max_word_chars.bit_length() - 1):
            jumps.append(tf.gather(jumps[-1], jumps[-1]))
        position = origins
        for jump in reversed(jumps):
            landing = tf.gather(jump, position)
            position = tf.where(landing <= targets, landing, position)
        return position == targets
