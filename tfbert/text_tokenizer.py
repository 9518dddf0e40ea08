"""What every in-graph tokenizer shares; the families: wordpiece.py, byte_level_bpe.py, unigram.py.

An in-graph tokenizer reproduces a Hugging Face fast tokenizer token for token with core
TensorFlow ops only, so a SavedModel can take raw strings in stock TensorFlow Serving (which lacks
tensorflow_text's ops). This module holds what does not depend on the model: added tokens, the
post-processor's special tokens, the head+tail cut of training and the padded output.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

UNICODE_END = 0x110000  # one past the last code point; added tokens get markers from here on
SURROGATES = range(0xD800, 0xE000)  # never in decoded text
BLOCK_BITS = 7  # code point tables are split into blocks of 128 so identical blocks are shared
BLOCK = 1 << BLOCK_BITS
STATE_SHIFT = 22  # trie keys are state * 2**22 + code point (markers are below 2**22)
NO_TOKEN = -1


class UnsupportedTokenizerError(ValueError):
    """The fast tokenizer does something no in-graph tokenizer reproduces exactly."""


# Rust's char::is_whitespace, what an added token's lstrip / rstrip eats next to it.
_WHITESPACE = (*range(0x9, 0xE), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028,
               0x2029, 0x202F, 0x205F, 0x3000)


@dataclasses.dataclass(frozen=True)
class AddedToken:
    """A token the fast tokenizer matches in the text before pre-tokenization."""

    content: str
    id: int
    lstrip: bool = False  # also eats the whitespace just before it
    rstrip: bool = False  # ... and just after it


@dataclasses.dataclass(frozen=True)
class Frame:
    """What every family needs besides its model: special and added tokens."""

    prefix_ids: tuple[int, ...]  # what the post-processor puts before the text ([CLS], <s>)
    suffix_ids: tuple[int, ...]  # ... and after it ([SEP], </s>)
    pad_id: int
    raw_tokens: tuple[AddedToken, ...]  # added tokens matched in the raw text
    normalized_tokens: tuple[AddedToken, ...]  # added tokens matched after normalization


def require(condition: bool, message: str) -> None:
    if not condition:
        raise UnsupportedTokenizerError(message)


def _template_ids(post: dict[str, Any], side: list[dict[str, Any]]) -> tuple[int, ...]:
    ids = []
    for piece in side:
        require("SpecialToken" in piece, "post-processor has more than one sequence")
        special = piece["SpecialToken"]
        require(special["type_id"] == 0, "post-processor gives special tokens a type id")
        ids += post["special_tokens"][special["id"]]["ids"]
    return tuple(int(i) for i in ids)


def _special_ids(post: dict[str, Any] | None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Ids the post-processor puts before and after one sequence."""
    if post is None:
        return (), ()
    if post["type"] == "Sequence":  # e.g. ByteLevel (offsets only) then a template
        wrapping = [p for p in post["processors"] if p["type"] != "ByteLevel"]
        require(len(wrapping) <= 1, "post-processor sequence adds tokens twice")
        return _special_ids(wrapping[0] if wrapping else None)
    if post["type"] in ("BertProcessing", "RobertaProcessing"):
        return (int(post["cls"][1]),), (int(post["sep"][1]),)
    require(post["type"] == "TemplateProcessing", f"unsupported post-processor {post['type']}")
    single = post["single"]
    sequences = [i for i, p in enumerate(single) if "Sequence" in p]
    require(len(sequences) == 1, "post-processor template is not one sequence")
    at = sequences[0]
    require(single[at]["Sequence"]["type_id"] == 0, "post-processor gives the text a type id")
    return _template_ids(post, single[:at]), _template_ids(post, single[at + 1:])


def _added_tokens(config: dict[str, Any]) -> tuple[list[AddedToken], list[AddedToken]]:
    """Added tokens split into those matched in the raw text and those matched once normalized."""
    raw, normalized = [], []
    for token in config.get("added_tokens") or []:
        content = token["content"]
        require(not token.get("single_word"), f"added token {content!r} uses single_word")
        if not content:
            continue
        strips = token.get("lstrip") or token.get("rstrip")
        edges = (ord(content[0]), ord(content[-1]))
        require(not (strips and set(edges) & set(_WHITESPACE)),
                 f"added token {content!r} strips whitespace and has some at its edge")
        added = AddedToken(content, int(token["id"]), bool(token.get("lstrip")),
                           bool(token.get("rstrip")))
        (normalized if token.get("normalized") else raw).append(added)
    return raw, normalized


def read_frame(tokenizer: Any, config: dict[str, Any]) -> Frame:
    """Special and added tokens of a fast tokenizer, from its JSON form `config`."""
    prefix, suffix = _special_ids(config.get("post_processor"))
    raw, normalized = _added_tokens(config)
    normalizer = tokenizer.backend_tokenizer.normalizer
    if normalizer is not None:  # "normalized" tokens are looked for in normalized form
        normalized = [dataclasses.replace(t, content=normalizer.normalize_str(t.content))
                      for t in normalized]
        normalized = [t for t in normalized if t.content]
    _check_no_overlap([t.content for t in raw])
    _check_no_overlap([t.content for t in normalized])
    pad_id = tokenizer.pad_token_id
    return Frame(prefix, suffix, 0 if pad_id is None else int(pad_id), tuple(raw),
                 tuple(normalized))


def backend_config(tokenizer: Any) -> dict[str, Any]:
    """The JSON form of a transformers fast tokenizer; refuses slow (Python) tokenizers."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    require(backend is not None, "not a fast (Rust-backed) tokenizer")
    return json.loads(backend.to_str())


def two_level(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shares identical blocks: value[cp] = data[index[cp >> B] * 2**B + cp % 2**B]."""
    blocks = values.reshape(-1, BLOCK)
    unique, index = np.unique(blocks, axis=0, return_inverse=True)
    return index.reshape(-1).astype(np.int32), unique.reshape(-1).astype(np.int32)


class VocabTrie(tf.Module):
    """The vocabulary as a character trie in a hash table, walked from many positions at once.

    Keys are state * 2**22 + code point; state 0 is the root. Added tokens are reached from the
    root by one marker code point each (`UNICODE_END + i`), and `continuation` is the state that
    spells `prefix` ("##"), where WordPiece's non-initial pieces start.
    """

    def __init__(self, vocab: dict[str, int], marker_ids: Sequence[int], prefix: str = ""):
        super().__init__()
        children: dict[int, int] = {}
        tokens = [NO_TOKEN]

        def walk(code_points: Any) -> int:
            state = 0
            for cp in code_points:
                key = (state << STATE_SHIFT) | cp
                if key not in children:
                    children[key] = len(tokens)
                    tokens.append(NO_TOKEN)
                state = children[key]
            return state

        for piece, token_id in vocab.items():
            tokens[walk(map(ord, piece))] = token_id
        for i, token_id in enumerate(marker_ids):
            tokens[walk([UNICODE_END + i])] = token_id
        self.continuation = walk(map(ord, prefix))
        keys = np.fromiter(children.keys(), np.int64, len(children))
        states = np.fromiter(children.values(), np.int32, len(children))
        self._next = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(keys, states), default_value=-1)
        self._token = tf.constant(np.array(tokens, np.int32))

    def advance(self, at: tf.Tensor, state: tf.Tensor, chars: tf.Tensor
                ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Moves each walk (started at `at`, now in `state`) on by its next character.

        Walks the trie has no edge for are dropped. Returns the surviving starts and states and
        the token id each new state spells (-1 for none).
        """
        keys = tf.cast(state, tf.int64) * (1 << STATE_SHIFT) + tf.cast(chars, tf.int64)
        state = self._next.lookup(keys)
        moved = state >= 0
        at, state = tf.boolean_mask(at, moved), tf.boolean_mask(state, moved)
        return at, state, tf.gather(self._token, state)


def _check_no_overlap(patterns: Sequence[str]) -> None:
    """Added tokens must not overlap in any text, so that every occurrence is a match."""
    for a in patterns:
        for b in patterns:
            require(a == b or a not in b, f"added token {a!r} is inside {b!r}")
            borders = any(a.endswith(b[:i]) for i in range(1, min(len(a), len(b))))
            require(not borders, f"added tokens {a!r} and {b!r} can overlap")


def _pattern_table(patterns: Sequence[str]) -> np.ndarray:
    """Code points of each pattern, padded with -1 (which matches anything)."""
    width = max(len(p) for p in patterns)
    table = np.full((len(patterns), width), -1, np.int32)
    for i, pattern in enumerate(patterns):
        table[i, : len(pattern)] = [ord(c) for c in pattern]
    return table


def shift_right(values: tf.Tensor, fill: Any) -> tf.Tensor:
    """values moved one place right, `fill` first; same length."""
    return tf.concat([[fill], values], 0)[: tf.size(values)]


def code_point_chunks(size: int = 1 << 16) -> Iterator[np.ndarray]:
    """Every Unicode scalar value (surrogates left out), in arrays of at most `size`, for
    probing a tokenizer component on all of them in a few long calls."""
    for first in range(0, UNICODE_END, size):
        cps = np.array([cp for cp in range(first, min(first + size, UNICODE_END))
                        if cp not in SURROGATES])
        if len(cps):
            yield cps


def shift_left(values: tf.Tensor, fill: Any) -> tf.Tensor:
    """values moved one place left, `fill` last; same length."""
    return tf.concat([values[1:], [fill]], 0)


def segment_links(chars: tf.Tensor, rows: tf.Tensor) -> tf.Tensor:
    """Whether each character continues the text of the one before it: same row, and neither is
    an added-token marker (pre-tokenizers work on the text between added tokens)."""
    text = chars < UNICODE_END
    return (shift_right(rows, -1) == rows) & text & shift_right(text, False)


def insert_before(chars: tf.Tensor, rows: tf.Tensor, flags: tf.Tensor, char: int
                  ) -> tuple[tf.Tensor, tf.Tensor]:
    """`char` put before every flagged character, in the same row."""
    source = tf.repeat(tf.range(tf.size(chars)), 1 + tf.cast(flags, tf.int32))
    second = tf.concat([[False], source[1:] == source[:-1]], 0)[: tf.size(source)]
    inserted = shift_left(second, False)  # the first copy of a doubled character
    return tf.where(inserted, char, tf.gather(chars, source)), tf.gather(rows, source)


def every_other_in_runs(flags: tf.Tensor) -> tf.Tensor:
    """The 1st, 3rd, 5th ... of each run of consecutive flags: where a pair that can overlap
    itself ("a a a") is taken left to right without overlap."""
    run_start = flags & ~shift_right(flags, False)
    run = tf.cumsum(tf.cast(run_start, tf.int32)) - 1
    first = tf.concat([tf.cast(tf.where(run_start)[:, 0], tf.int32), [0]], 0)
    return flags & ((tf.range(tf.size(flags)) - tf.gather(first, tf.maximum(run, 0))) % 2 == 0)


def utf8_bytes(chars: tf.Tensor, spelled: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Each `spelled` code point as its UTF-8 bytes, one element per byte; the others as they are.

    Returns the index in `chars` each element comes from, and its value.
    """
    width = 1 + tf.add_n([tf.cast(chars >= limit, tf.int32) for limit in (0x80, 0x800, 0x10000)])
    width = tf.where(spelled, width, 1)
    source = tf.repeat(tf.range(tf.size(chars)), width)
    k = tf.range(tf.size(source)) - tf.gather(tf.cumsum(width, exclusive=True), source)
    char, n = tf.gather(chars, source), tf.gather(width, source)
    lead = tf.gather(tf.constant([0, 0, 0xC0, 0xE0, 0xF0]), n)
    shifted = tf.bitwise.right_shift(char, 6 * (n - 1 - k))
    byte = tf.where(k == 0, tf.bitwise.bitwise_or(lead, shifted),
                    0x80 | tf.bitwise.bitwise_and(shifted, 0x3F))
    return source, tf.where(n == 1, char, byte)


def _row_ranks(rows: tf.Tensor, n_rows: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Per-row counts of sorted row ids, and each element's index within its row."""
    counts = tf.math.unsorted_segment_sum(tf.ones_like(rows), rows, n_rows)
    first = tf.cumsum(counts, exclusive=True)
    return counts, tf.range(tf.size(rows)) - tf.gather(first, rows)


class InGraphTokenizer(tf.Module):
    """Raw strings -> input_ids / attention_mask / token_type_ids, inside the graph.

    Subclasses turn code points into token ids (`_encode_batch`); this class matches added
    tokens, keeps what can reach the output and wraps each row in the post-processor's special
    tokens. Calling it takes a 1-D tf.string batch (other shapes are flattened) and returns int32
    [batch, T] tensors, T being the longest encoded text (at most max_length), padded with the pad
    id and mask 0. A longer text keeps its first `head_tokens` tokens and fills the rest of the
    budget (max_length minus the special tokens) from its end (None: all from the start, as the
    fast tokenizer truncates).
    """

    family = "unknown"  # what the model card calls the in-graph tokenizer

    def __init__(self, frame: Frame, max_length: int, head_tokens: int | None = None,
                 name: str | None = None) -> None:
        super().__init__(name=name)
        self._prefix_ids, self._suffix_ids = frame.prefix_ids, frame.suffix_ids
        n_special = len(frame.prefix_ids) + len(frame.suffix_ids)
        if max_length < max(n_special, 1):
            raise ValueError(f"max_length must leave room for the {n_special} special tokens and "
                             f"a text, got {max_length}")
        self.max_length = int(max_length)
        self.budget = self.max_length - n_special  # tokens of the text itself
        self.head_tokens = self.budget if head_tokens is None else int(head_tokens)
        if not 0 <= self.head_tokens <= self.budget:
            raise ValueError(f"head_tokens must be within 0..{self.budget}, got {head_tokens}")
        self._pad_id = frame.pad_id
        self._raw_patterns = self._patterns(frame.raw_tokens)
        self._normalized_patterns = self._patterns(frame.normalized_tokens)
        self._whitespace = tf.constant(_WHITESPACE, tf.int32)
        self._encode = tf.function(
            self._encode_batch,
            input_signature=[tf.TensorSpec([None], tf.string)],
            autograph=False,
        )

    @staticmethod
    def _patterns(tokens: Sequence[AddedToken]) -> tuple[tf.Tensor, ...] | None:
        """Pattern table of added tokens, the code points they start with, and their strips."""
        if not tokens:
            return None
        table = _pattern_table([t.content for t in tokens])
        strips = np.array([[t.lstrip, t.rstrip] for t in tokens], bool)
        return tf.constant(table), tf.constant(np.unique(table[:, 0])), tf.constant(strips)

    def __call__(self, texts: tf.Tensor | Sequence[str]) -> dict[str, tf.Tensor]:
        texts = tf.reshape(tf.convert_to_tensor(texts, tf.string), [-1])
        return self._encode(texts)

    def _encode_batch(self, texts: tf.Tensor) -> dict[str, tf.Tensor]:
        raise NotImplementedError

    @staticmethod
    def _decode(texts: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Code points of every text, flat, with their row; invalid UTF-8 becomes U+FFFD."""
        decoded = tf.strings.unicode_decode(texts, "UTF-8", errors="replace")
        return decoded.flat_values, tf.cast(decoded.value_rowids(), tf.int32)

    def _mark_added(
        self,
        chars: tf.Tensor,
        rows: tf.Tensor,
        patterns: tuple[tf.Tensor, ...] | None,
        first_marker: int,
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Replaces each added-token occurrence by one marker code point past Unicode.

        A token with lstrip (rstrip) also takes the whitespace just before (after) it, as the
        fast tokenizer does.
        """
        if patterns is None:
            return chars, rows
        patterns, starts_with, strips = patterns
        width = patterns.shape[1]
        n = tf.size(chars)
        candidates = tf.where(tf.reduce_any(chars[:, None] == starts_with[None, :], 1))
        candidates = tf.cast(candidates[:, 0], tf.int32)
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
        markers = UNICODE_END + first_marker + which
        chars = tf.tensor_scatter_nd_update(chars, starts[:, None], markers)
        return tf.boolean_mask(chars, ~inside), tf.boolean_mask(rows, ~inside)

    def _whitespace_runs(
        self, chars: tf.Tensor, rows: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Which characters are whitespace, and where their run (within the row) starts and ends.

        Other characters are runs of their own: first = their index, last = index + 1.
        """
        space = tf.reduce_any(chars[:, None] == self._whitespace[None, :], 1)
        joined = space & shift_right(space, False) & (shift_right(rows, -1) == rows)
        run = tf.cumsum(tf.cast(~joined, tf.int32)) - 1
        begins = tf.cast(tf.where(~joined)[:, 0], tf.int32)
        ends = tf.concat([begins[1:], [tf.size(chars)]], 0)
        first = tf.gather(begins, run)
        last = tf.where(space, tf.gather(ends, run), tf.range(tf.size(chars)) + 1)
        return space, first, last

    def _reachable(self, word_rows: tf.Tensor, n_rows: tf.Tensor) -> tf.Tensor:
        """Which words can reach the output, when each gives at least one token.

        Only the first head_tokens words and the last budget - head_tokens words of a row can.
        """
        word_counts, word_rank = _row_ranks(word_rows, n_rows)
        from_end = tf.gather(word_counts, word_rows) - word_rank
        return (word_rank < self.head_tokens) | (from_end <= self.budget - self.head_tokens)

    def _assemble(
        self, tokens: tf.Tensor, token_rows: tf.Tensor, n_rows: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        """Special tokens around each row's tokens, cut to max_length, padded to the longest row.

        A row with `drop` tokens too many loses the ones just after its first head_tokens.
        """
        counts, rank = _row_ranks(token_rows, n_rows)
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
