"""Byte-level BPE (GPT-2, RoBERTa) in core TensorFlow ops.

The fast tokenizer splits text with GPT-2's pattern
`'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+`, maps the UTF-8
bytes of each piece to printable characters and merges adjacent symbols by rank. TensorFlow's
RE2 has no look-ahead and its Unicode tables need not be the tokenizer's, so the split is made
from a per-code-point class table (letter, number, whitespace, other) read out of the tokenizer's
own pre-tokenizer, and the pattern's rules become comparisons between neighbours. The merges run
for every piece of the batch at once: each round merges, in every piece, all non-overlapping
occurrences (left to right) of the lowest-ranked pair present. That is what the fast tokenizer's
priority queue does whenever a merge's result only takes part in later-ranked merges, which is
how BPE merges are learned; the build checks it.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np
import tensorflow as tf

from tfbert.codepoints.graph_ops import (
    every_other_in_runs,
    insert_before,
    segment_links,
    shift_left,
    shift_right,
    utf8_bytes,
)
from tfbert.codepoints.unicode_tables import SURROGATES, UNICODE_END, CodePointTable, code_point_chunks
from tfbert.tokenizers.base import InGraphTokenizer
from tfbert.tokenizers.tokenizer_json import Frame, read_frame, require

_LETTER, _NUMBER, _OTHER, _SPACE, _MARKER, _END = 0, 1, 2, 3, 4, 5  # classes of the split
_PROBES = {_OTHER: ("!", "a"), _LETTER: ("a", "1"), _NUMBER: ("1", "a")}  # anchor, separator
_NO_PAIR = np.iinfo(np.int64).max


@dataclasses.dataclass(frozen=True)
class _Spec:
    """What the graph needs to know about a byte-level BPE tokenizer."""

    byte_ids: np.ndarray  # vocabulary id of each byte's symbol (-1: not valid in UTF-8)
    merge_keys: np.ndarray  # left id * id_span + right id, in rank order
    merge_ids: np.ndarray  # id of what each merge makes
    id_span: int
    add_prefix_space: bool


def _byte_symbols(pre_tokenizer: Any) -> dict[int, str]:
    """Which printable character the pre-tokenizer maps each byte of valid UTF-8 to."""
    probes = [*range(0x80), *range(0x80, 0x800, 0x3F)]  # one- and two-byte characters
    probes += [0x800, *range(0x1000, 0x10000, 0x1000)]  # every three-byte lead
    probes += [0x10000, 0x40000, 0x80000, 0xC0000, 0x100000]  # every four-byte lead
    probes += range(0x80, 0xC0)  # every continuation byte, after C2
    symbols: dict[int, str] = {}
    for cp in probes:
        if cp in SURROGATES:
            continue
        mapped = "".join(p for p, _ in pre_tokenizer.pre_tokenize_str(chr(cp)))
        encoded = chr(cp).encode("utf-8")
        require(len(mapped) == len(encoded), "pre-tokenizer does not map one symbol per byte")
        symbols.update(zip(encoded, mapped, strict=True))
    return symbols


def _read_spec(tokenizer: Any, config: dict[str, Any]) -> tuple[_Spec, Frame]:
    from tokenizers import pre_tokenizers

    model = config["model"]
    require(config.get("normalizer") is None, "byte-level BPE with a normalizer")
    pre = config.get("pre_tokenizer") or {}
    require(pre.get("type") == "ByteLevel" and pre.get("use_regex", True),
            "pre-tokenizer is not ByteLevel with GPT-2's pattern")
    require(not model.get("dropout"), "BPE dropout is random")
    for option in ("continuing_subword_prefix", "end_of_word_suffix"):
        require(not model.get(option), f"BPE {option} is set")
    for option in ("byte_fallback", "ignore_merges"):
        require(not model.get(option), f"BPE {option} is on")
    vocab = {str(k): int(v) for k, v in model["vocab"].items()}
    frame = read_frame(tokenizer, config)
    added = frame.raw_tokens + frame.normalized_tokens
    id_span = max([*vocab.values(), *(t.id for t in added)]) + 1
    probe = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    symbols = _byte_symbols(probe)
    byte_ids = np.full(256, -1, np.int64)
    for byte, symbol in symbols.items():
        require(symbol in vocab, f"byte {byte:#x} ({symbol!r}) is not in the vocabulary")
        byte_ids[byte] = vocab[symbol]
    keys, ids = [], []
    made_at: dict[int, int] = {}  # token id -> rank of the merge that makes it
    for rank, merge in enumerate(model.get("merges") or []):
        left, right = merge.split(" ") if isinstance(merge, str) else merge
        require(left in vocab and right in vocab and left + right in vocab,
                f"merge {left!r} {right!r} is outside the vocabulary")
        a, b, made = vocab[left], vocab[right], vocab[left + right]
        require(made_at.get(a, -1) < rank and made_at.get(b, -1) < rank,
                f"merge {left!r} {right!r} ranks before a merge making its parts")
        made_at.setdefault(made, rank)
        keys.append(a * id_span + b)
        ids.append(made)
    require(len(set(keys)) == len(keys), "a merge is listed twice")
    spec = _Spec(byte_ids, np.array(keys, np.int64), np.array(ids, np.int64), id_span,
                 bool(pre.get("add_prefix_space")))
    return spec, frame


@functools.cache
def _split_classes() -> np.ndarray:
    """Class of every code point under GPT-2's pattern, read from the ByteLevel pre-tokenizer.

    For a class with anchor x and separator y, probes "x c x y" are run in long batches: c is of
    the class exactly when "x c x" comes back as one piece. What is in no class is whitespace.
    """
    from tokenizers import pre_tokenizers

    pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    classes = np.full(UNICODE_END, _SPACE, np.int32)
    for cps in code_point_chunks():
        for cls, (anchor, separator) in _PROBES.items():  # most code points are "other"
            text = "".join(f"{anchor}{chr(cp)}{anchor}{separator}" for cp in cps)
            spans = np.array([span for _, span in pre_tokenizer.pre_tokenize_str(text)])
            whole = spans[(spans[:, 0] % 4 == 0) & (spans[:, 1] - spans[:, 0] == 3), 0] // 4
            classes[cps[whole]] = cls
            cps = np.delete(cps, whole)
            if not len(cps):
                break
    return classes


class ByteLevelBpeTokenizer(InGraphTokenizer):
    """GPT-2 / RoBERTa byte-level BPE, built by `from_fast_tokenizer`: ByteLevel pre-tokenization
    (GPT-2's pattern), no normalizer and a plain BPE model; anything else is refused."""

    family = "byte-level BPE"
    model_type = "BPE"
    read_spec = staticmethod(_read_spec)

    def __init__(self, spec: _Spec, frame: Frame, max_length: int, head_tokens: int | None = None,
                 pair: str | None = None) -> None:
        super().__init__(frame, max_length, head_tokens, pair)
        self._split_class = CodePointTable(_split_classes(), beyond=_MARKER)
        self._byte_ids = tf.constant(spec.byte_ids.astype(np.int32))
        self._marker_ids = tf.constant(frame.added_ids or [0], tf.int32)
        self._add_prefix_space = spec.add_prefix_space
        self._id_span = spec.id_span
        ranks = np.arange(len(spec.merge_keys), dtype=np.int64)
        keys = np.append(spec.merge_keys, -1)  # never looked up: a table even without merges
        values = np.append((ranks << 32) | spec.merge_ids, -1)
        self._merges = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(keys, values), default_value=-1)

    def _pre_tokenize(self, chars: tf.Tensor, rows: tf.Tensor
                      ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """ByteLevel: a space before each segment with add_prefix_space, then GPT-2's pattern."""
        if self._add_prefix_space:
            chars, rows = self._prefix_space(chars, rows)
        return chars, rows, self._split(chars, rows)

    def _model(self, chars: tf.Tensor, piece: tf.Tensor, n_pieces: tf.Tensor
               ) -> tuple[tf.Tensor, tf.Tensor]:
        """The bytes of every piece as symbols, merged by rank."""
        symbols, piece = self._bytes(chars, piece)
        return self._merge(symbols, piece, n_pieces)

    def _prefix_space(self, chars: tf.Tensor, rows: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """A space before every segment that does not start with one (add_prefix_space)."""
        first = ~segment_links(chars, rows) & (chars < UNICODE_END)
        return insert_before(chars, rows, first & (chars != ord(" ")), ord(" "))

    def _split(self, chars: tf.Tensor, rows: tf.Tensor) -> tf.Tensor:
        """Where each piece of GPT-2's pattern starts."""
        cls = self._split_class.lookup(chars)
        linked = segment_links(chars, rows)
        linked_next = shift_left(linked, False)
        before = tf.where(linked, shift_right(cls, _END), _END)
        after = tf.where(linked_next, shift_left(cls, _END), _END)
        space = cls == _SPACE
        # Whitespace: a run ending the segment is one piece; otherwise its last character
        # stands apart (a plain space joins the word after it, \s+(?!\S)).
        run_first = space & (before != _SPACE)
        run_last = space & (after != _SPACE)
        space_start = run_first | (run_last & (after != _END))
        joined = linked & shift_right(chars == ord(" "), False)  # " word", " 123", " !?"
        starts = tf.where(space, space_start, (before != cls) & ~joined)
        # Contractions ('s 't 'm 'd 're 've 'll) at the start of a piece of "other" characters.
        one = tf.where(linked_next, shift_left(chars, 0), 0)
        two = tf.where(linked_next & shift_left(linked_next, False),
                       shift_left(shift_left(chars, 0), 0), 0)
        apostrophe = starts & (chars == ord("'"))
        short = apostrophe & tf.reduce_any(one[:, None] == tf.constant([[ord(c) for c in "stmd"]]), 1)
        pairs = one * 256 + two
        long = apostrophe & tf.reduce_any(
            pairs[:, None] == tf.constant([[ord(a) * 256 + ord(b) for a, b in ("re", "ve", "ll")]]),
            1)
        inside = shift_right(short | long, False) | shift_right(shift_right(long, False), False)
        ends = shift_right(shift_right(short, False), False)
        ends |= shift_right(shift_right(shift_right(long, False), False), False)
        return (starts & ~inside) | (ends & linked)

    def _bytes(self, chars: tf.Tensor, piece: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Symbol ids of the UTF-8 bytes of every character; an added token is its own id."""
        marker = chars >= UNICODE_END
        source, byte = utf8_bytes(chars, ~marker)
        is_marker = tf.gather(marker, source)
        marker_id = tf.gather(self._marker_ids, tf.maximum(byte - UNICODE_END, 0))
        symbols = tf.where(is_marker, marker_id,
                           tf.gather(self._byte_ids, tf.where(is_marker, 0, byte)))
        return symbols, tf.gather(piece, source)

    def _merge(self, symbols: tf.Tensor, piece: tf.Tensor, n_pieces: tf.Tensor
               ) -> tuple[tf.Tensor, tf.Tensor]:
        """BPE merges of all pieces at once, one rank per piece and round."""

        def round_(symbols, piece, _):
            left, right = symbols[:-1], symbols[1:]
            same = piece[:-1] == piece[1:]
            keys = tf.cast(left, tf.int64) * self._id_span + tf.cast(right, tf.int64)
            found = self._merges.lookup(keys)
            rank = tf.where(same & (found >= 0), tf.bitwise.right_shift(found, 32), _NO_PAIR)
            best = tf.math.unsorted_segment_min(rank, piece[:-1], n_pieces)
            candidate = (rank == tf.gather(best, piece[:-1])) & (rank != _NO_PAIR)
            merge = every_other_in_runs(candidate)  # "a a a": the first pair merges
            made = tf.cast(tf.bitwise.bitwise_and(found, 0xFFFFFFFF), tf.int32)
            merge = tf.concat([merge, [False]], 0)
            symbols = tf.where(merge, tf.concat([made, [0]], 0), symbols)
            keep = ~shift_right(merge, False)
            return (tf.boolean_mask(symbols, keep), tf.boolean_mask(piece, keep),
                    tf.reduce_any(merge))

        symbols, piece, _ = tf.while_loop(
            lambda symbols, piece, changed: changed & (tf.size(symbols) > 1),
            round_,
            (symbols, piece, tf.constant(True)),
            shape_invariants=(tf.TensorShape([None]), tf.TensorShape([None]), tf.TensorShape([])),
        )
        return symbols, piece
