"""SentencePiece-style Unigram (ALBERT, XLM-R, DeBERTa-v3) in core TensorFlow ops.

The fast tokenizer normalizes, replaces spaces by "▁" and splits before each one (Metaspace),
then picks for each piece the segmentation with the highest total log-probability (Viterbi).
Here the normalizer's per-character steps become one code point table (run through the real
normalizer at build time), literal two-character replacements and the collapse of repeated
spaces are done on neighbours, and Viterbi runs for all pieces at once, one character offset per
step, in float64 as the fast tokenizer does. Ties go to the earlier split, as there.
Normalizers that are not per character (NFC/NFKC composition, SentencePiece's precompiled
character map) are refused, so such models keep the token-id signature.
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
    every_other_in_runs,
    insert_before,
    read_frame,
    require,
    segment_links,
    shift_left,
    shift_right,
    two_level,
    utf8_bytes,
)

_UNK_PENALTY = 10.0  # the fast tokenizer scores an unknown character min score - 10
_PER_CHARACTER = {"NFD", "NFKD", "StripAccents", "Lowercase"}
_KEEP, _DROP = -1, -2  # what a character becomes, besides an entry of the replacement pool


@dataclasses.dataclass(frozen=True)
class _Step:
    """One normalization step the graph does: a code point map, a pair replacement or a collapse."""

    kind: str  # "map", "pair" or "collapse"
    normalizers: tuple[dict[str, Any], ...] = ()  # for "map": the per-character normalizers
    pattern: str = ""  # for "pair"
    content: str = ""  # for "pair"


@dataclasses.dataclass(frozen=True)
class _Spec:
    vocab: dict[str, int]
    scores: np.ndarray  # float64 log-probability of each id
    unk_id: int
    unk_score: float
    byte_ids: np.ndarray | None  # ids of <0x00>..<0xFF> with byte fallback, else None
    steps: tuple[_Step, ...]
    replacement: str
    prepend: str  # "always", "first" or "never"
    split: bool


def _steps(normalizer: dict[str, Any] | None) -> tuple[_Step, ...]:
    """The normalizer as graph steps; consecutive per-character normalizers share one table."""
    if normalizer is None:
        return ()
    items = normalizer["normalizers"] if normalizer["type"] == "Sequence" else [normalizer]
    steps: list[_Step] = []
    for item in items:
        kind, pattern = item["type"], item.get("pattern") or {}
        if kind == "Replace" and len(pattern.get("String", "")) == 1:
            kind = "per-character Replace"
        if kind in _PER_CHARACTER or kind == "per-character Replace":
            if steps and steps[-1].kind == "map":
                steps[-1] = _Step("map", steps[-1].normalizers + (item,))
            else:
                steps.append(_Step("map", (item,)))
        elif kind == "Replace" and len(pattern.get("String", "")) == 2:
            steps.append(_Step("pair", pattern=pattern["String"], content=item["content"]))
        elif kind == "Replace" and pattern.get("Regex") == " {2,}" and item["content"] == " ":
            steps.append(_Step("collapse"))
        else:
            require(False, f"normalizer {item['type']} {pattern or ''} is not reproduced")
    return tuple(steps)


def _read_spec(tokenizer: Any) -> tuple[_Spec, Frame]:
    config = backend_config(tokenizer)
    model = config["model"]
    require(model.get("type") == "Unigram", f"model is {model.get('type')}, not Unigram")
    pre = config.get("pre_tokenizer") or {}
    require(pre.get("type") == "Metaspace", "pre-tokenizer is not Metaspace")
    require(len(pre.get("replacement", "")) == 1, "Metaspace replacement is not one character")
    prepend = pre.get("prepend_scheme", "always" if pre.get("add_prefix_space", True) else "never")
    require(prepend in ("always", "first", "never"), f"Metaspace prepend_scheme {prepend}")
    vocab = {str(piece): i for i, (piece, _) in enumerate(model["vocab"])}
    scores = np.array([float(score) for _, score in model["vocab"]], np.float64)
    require(len(vocab) == len(scores), "a piece is listed twice")
    require(model.get("unk_id") is not None, "Unigram without an unknown token")
    byte_ids = None
    if model.get("byte_fallback"):
        names = [f"<0x{b:02X}>" for b in range(256)]
        require(all(n in vocab for n in names), "byte fallback without all 256 byte pieces")
        byte_ids = np.array([vocab[n] for n in names], np.int32)
    spec = _Spec(vocab, scores, int(model["unk_id"]), float(scores.min()) - _UNK_PENALTY,
                 byte_ids, _steps(config.get("normalizer")), pre["replacement"], prepend,
                 bool(pre.get("split", True)))
    return spec, read_frame(tokenizer, config)


_MAP_CACHE: dict[str, tuple[np.ndarray, ...]] = {}


def _code_point_map(normalizers_json: tuple[dict[str, Any], ...]) -> tuple[np.ndarray, ...]:
    """Two-level table of what each code point becomes, and the pool of longer results.

    Entry values: _KEEP, _DROP (normalized away) or an index into the pool.
    """
    from tokenizers import Tokenizer

    key = json.dumps(normalizers_json, sort_keys=True)
    if key in _MAP_CACHE:
        return _MAP_CACHE[key]
    probe = Tokenizer.from_str(json.dumps({
        "version": "1.0", "model": {"type": "WordLevel", "vocab": {"x": 0}, "unk_token": "x"},
        "normalizer": {"type": "Sequence", "normalizers": list(normalizers_json)},
    }))
    normalize = probe.normalizer.normalize_str
    entries = np.full(-(-UNICODE_END // BLOCK) * BLOCK, _KEEP, np.int32)
    pool: dict[str, int] = {}
    for cp in range(UNICODE_END):
        if cp in SURROGATES:
            continue
        out = normalize(chr(cp))
        if out != chr(cp):
            entries[cp] = _DROP if not out else pool.setdefault(out, len(pool))
    index, data = two_level(entries)
    texts = list(pool)
    lengths = np.array([len(t) for t in texts] or [0], np.int32)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int32)
    flat = np.array([ord(c) for t in texts for c in t] + [0], np.int32)
    _MAP_CACHE[key] = (index, data, flat, starts, lengths)
    return _MAP_CACHE[key]


class UnigramTextTokenizer(InGraphTokenizer):
    """Metaspace + Unigram as SentencePiece models use them, built by `from_fast_tokenizer`."""

    family = "SentencePiece Unigram"

    def __init__(self, spec: _Spec, frame: Frame, maps: list[tuple[np.ndarray, ...]],
                 max_length: int, head_tokens: int | None = None, name: str | None = None) -> None:
        super().__init__(frame, max_length, head_tokens, name)
        self._steps = spec.steps
        self._maps = [tuple(tf.constant(t) for t in m) for m in maps]
        added = frame.raw_tokens + frame.normalized_tokens
        self._first_normalized_marker = len(frame.raw_tokens)
        self._trie = VocabTrie(spec.vocab, [t.id for t in added])
        top_id = max((t.id for t in added), default=-1)
        scores = np.concatenate([spec.scores, np.zeros(max(0, top_id + 1 - len(spec.scores)))])
        self._scores = tf.constant(scores, tf.float64)  # added tokens score 0; they stand alone
        self._unk_id, self._unk_score = spec.unk_id, spec.unk_score
        self._byte_ids = None if spec.byte_ids is None else tf.constant(spec.byte_ids)
        self._replacement = ord(spec.replacement)
        self._prepend, self._split_on_replacement = spec.prepend, spec.split

    @classmethod
    def from_fast_tokenizer(
        cls, tokenizer: Any, max_length: int, head_tokens: int | None = None
    ) -> UnigramTextTokenizer:
        """Reads pieces, scores and the normalizer out of a transformers fast tokenizer.

        Raises UnsupportedTokenizerError for normalizers it cannot reproduce, a pre-tokenizer
        other than Metaspace or a model other than Unigram.
        """
        spec, frame = _read_spec(tokenizer)
        maps = [_code_point_map(step.normalizers) for step in spec.steps if step.kind == "map"]
        return cls(spec, frame, maps, max_length, head_tokens)

    def _encode_batch(self, texts: tf.Tensor) -> dict[str, tf.Tensor]:
        n_rows = tf.shape(texts)[0]
        chars, rows = self._decode(texts)
        chars, rows = self._mark_added(chars, rows, self._raw_patterns, 0)
        chars, rows = self._normalize(chars, rows)
        chars, rows = self._mark_added(chars, rows, self._normalized_patterns,
                                       self._first_normalized_marker)
        chars, rows, starts = self._metaspace(chars, rows)
        piece = tf.cumsum(tf.cast(starts, tf.int32)) - 1
        piece_rows = tf.boolean_mask(rows, starts)
        keep = tf.gather(self._reachable(piece_rows, n_rows), piece)
        chars, piece = tf.boolean_mask(chars, keep), tf.boolean_mask(piece, keep)
        tokens, token_piece = self._viterbi(chars, piece)
        return self._assemble(tokens, tf.gather(piece_rows, token_piece), n_rows)

    # -- normalization -------------------------------------------------------------------

    def _normalize(self, chars: tf.Tensor, rows: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        maps = iter(self._maps)
        for step in self._steps:
            text = chars < UNICODE_END  # markers of raw added tokens are left alone
            if step.kind == "map":
                index, data, flat, starts, lengths = next(maps)
                safe = tf.where(text, chars, 0)
                block = tf.gather(index, tf.bitwise.right_shift(safe, BLOCK_BITS))
                entry = tf.gather(data, block * BLOCK + tf.bitwise.bitwise_and(safe, BLOCK - 1))
                entry = tf.where(text, entry, _KEEP)
                chars, rows = self._expand(chars, rows, entry, flat, starts, lengths)
            elif step.kind == "pair":
                chars, rows = self._replace_pair(chars, rows, step.pattern, step.content)
            else:  # collapse runs of spaces
                repeated = (chars == ord(" ")) & shift_right(chars == ord(" "), False)
                repeated &= shift_right(rows, -1) == rows
                chars, rows = tf.boolean_mask(chars, ~repeated), tf.boolean_mask(rows, ~repeated)
        return chars, rows

    @staticmethod
    def _expand(chars: tf.Tensor, rows: tf.Tensor, entry: tf.Tensor, flat: tf.Tensor,
                starts: tf.Tensor, lengths: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Each character kept, dropped or replaced by its pool entry (one or more characters)."""
        pooled = entry >= 0
        safe = tf.maximum(entry, 0)
        counts = tf.where(pooled, tf.gather(lengths, safe), tf.where(entry == _KEEP, 1, 0))
        source = tf.repeat(tf.range(tf.size(chars)), counts)
        offset = tf.range(tf.size(source)) - tf.gather(tf.cumsum(counts, exclusive=True), source)
        at = tf.gather(tf.gather(starts, safe), source) + offset
        out = tf.where(tf.gather(pooled, source), tf.gather(flat, tf.where(
            tf.gather(pooled, source), at, 0)), tf.gather(chars, source))
        return out, tf.gather(rows, source)

    def _replace_pair(self, chars: tf.Tensor, rows: tf.Tensor, pattern: str, content: str
                      ) -> tuple[tf.Tensor, tf.Tensor]:
        """Replaces each non-overlapping occurrence of a two-character string, left to right."""
        found = (chars == ord(pattern[0])) & (shift_left(chars, -1) == ord(pattern[1]))
        found &= shift_left(rows, -1) == rows
        if pattern[0] == pattern[1]:  # "'''" holds two overlapping "''": take the first
            found = every_other_in_runs(found)
        entry = tf.where(found, 0, tf.where(shift_right(found, False), _DROP, _KEEP))
        flat = tf.constant([ord(c) for c in content] + [0], tf.int32)
        return self._expand(chars, rows, entry, flat, tf.constant([0]),
                            tf.constant([len(content)]))

    # -- Metaspace ----------------------------------------------------------------------

    def _metaspace(self, chars: tf.Tensor, rows: tf.Tensor
                   ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Spaces become the replacement, which is put before segments and starts each piece."""
        chars = tf.where(chars == ord(" "), self._replacement, chars)
        segment_start = (chars < UNICODE_END) & ~segment_links(chars, rows)
        if self._prepend == "first":  # only where the original text starts
            segment_start &= shift_right(rows, -1) != rows
        if self._prepend != "never":
            chars, rows = insert_before(chars, rows, segment_start & (chars != self._replacement),
                                        self._replacement)
        starts = ~segment_links(chars, rows)
        if self._split_on_replacement:
            starts |= chars == self._replacement
        return chars, rows, starts

    # -- Viterbi ------------------------------------------------------------------------

    def _viterbi(self, chars: tf.Tensor, piece: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Best segmentation of every piece: token ids, and the piece of each token.

        Boundaries are numbered char index + piece index, so every piece has its own start
        and end boundary.
        """
        n = tf.size(chars)
        here = tf.range(n)
        first_of_piece = piece != shift_right(piece, -1)
        piece_start = tf.cast(tf.where(first_of_piece)[:, 0], tf.int32)
        n_pieces = tf.size(piece_start)
        piece_index = tf.cumsum(tf.cast(first_of_piece, tf.int32)) - 1
        piece_end = tf.concat([piece_start[1:], [n]], 0)
        remaining = tf.gather(piece_end, piece_index) - here
        begin, length, token = self._matches(chars, remaining)
        # A character no piece of length one covers gets an unknown of its own.
        single = tf.scatter_nd(tf.boolean_mask(begin, length == 1)[:, None],
                               tf.ones_like(tf.boolean_mask(begin, length == 1)), [n]) > 0
        lonely = tf.cast(tf.where(~single)[:, 0], tf.int32)
        begin = tf.concat([begin, lonely], 0)
        length = tf.concat([length, tf.ones_like(lonely)], 0)
        token = tf.concat([token, tf.fill(tf.shape(lonely), self._unk_id)], 0)
        score = tf.where(token == self._unk_id, tf.constant(self._unk_score, tf.float64),
                         tf.gather(self._scores, tf.maximum(token, 0)))
        # Edges from boundary b0 = begin + piece to b1 = b0 + length, grouped by end offset.
        edge_piece = tf.gather(piece_index, begin)
        start_boundary = begin + edge_piece
        end_boundary = start_boundary + length
        end_offset = begin + length - tf.gather(piece_start, edge_piece)
        order = tf.argsort(end_offset, stable=True)
        start_boundary, end_boundary, end_offset, score, token = (
            tf.gather(t, order) for t in (start_boundary, end_boundary, end_offset, score, token))
        n_boundaries = n + n_pieces
        longest = tf.reduce_max(tf.concat([end_offset, [0]], 0))
        bounds = tf.searchsorted(end_offset, tf.range(longest + 2), side="left")

        def step(offset, best, back, back_token):
            lo, hi = bounds[offset], bounds[offset + 1]
            starts, ends = start_boundary[lo:hi], end_boundary[lo:hi]
            candidate = tf.gather(best, starts) + score[lo:hi]
            top = tf.math.unsorted_segment_max(candidate, ends, n_boundaries)
            winner = candidate == tf.gather(top, ends)
            earliest = tf.math.unsorted_segment_min(
                tf.where(winner, starts, n_boundaries), ends, n_boundaries)
            chosen = winner & (starts == tf.gather(earliest, ends))
            at = tf.boolean_mask(ends, chosen)[:, None]
            best = tf.tensor_scatter_nd_update(best, at, tf.boolean_mask(candidate, chosen))
            back = tf.tensor_scatter_nd_update(back, at, tf.boolean_mask(starts, chosen))
            back_token = tf.tensor_scatter_nd_update(back_token, at,
                                                     tf.boolean_mask(token[lo:hi], chosen))
            return offset + 1, best, back, back_token

        boundaries = tf.range(n_boundaries)
        _, _, back, back_token = tf.while_loop(
            lambda offset, *_: offset <= longest,
            step,
            (tf.constant(1), tf.zeros([n_boundaries], tf.float64), boundaries,
             tf.fill([n_boundaries], -1)),
        )
        on_path = self._on_path(back, piece_end + tf.range(n_pieces), n_boundaries)
        emit = on_path & (back != boundaries)
        tokens = tf.boolean_mask(back_token, emit)
        # the piece of each end boundary: boundaries of piece p are start_p + p .. end_p + p
        boundary_piece = tf.searchsorted(piece_start + tf.range(n_pieces),
                                         boundaries, side="right") - 1
        token_piece = tf.boolean_mask(boundary_piece, emit)
        tokens, token_piece = self._fuse_unknown(tokens, token_piece, tf.boolean_mask(back, emit),
                                                 chars)
        return tokens, tf.gather(tf.gather(piece, piece_start), token_piece)

    def _matches(self, chars: tf.Tensor, remaining: tf.Tensor
                 ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Every vocabulary piece found at every position, within the piece: begin, length, id."""
        n = tf.size(chars)
        at = tf.range(n)
        state = tf.zeros_like(at)
        begins = lengths = tokens = tf.zeros([0], tf.int32)

        def step(depth, at, state, begins, lengths, tokens):
            at, state, token = self._trie.advance(at, state, tf.gather(chars, at + depth))
            is_token = token >= 0
            hit = tf.boolean_mask(at, is_token)
            begins = tf.concat([begins, hit], 0)
            lengths = tf.concat([lengths, tf.fill(tf.shape(hit), depth + 1)], 0)
            tokens = tf.concat([tokens, tf.boolean_mask(token, is_token)], 0)
            more = depth + 1 < tf.gather(remaining, at)
            at, state = tf.boolean_mask(at, more), tf.boolean_mask(state, more)
            return depth + 1, at, state, begins, lengths, tokens

        _, _, _, begins, lengths, tokens = tf.while_loop(
            lambda depth, at, *_: tf.size(at) > 0,
            step,
            (tf.constant(0), at, state, begins, lengths, tokens),
            shape_invariants=(tf.TensorShape([]),) + (tf.TensorShape([None]),) * 5,
        )
        return begins, lengths, tokens

    @staticmethod
    def _on_path(back: tf.Tensor, ends: tf.Tensor, n_boundaries: tf.Tensor) -> tf.Tensor:
        """Whether each boundary lies on the best path followed back from its piece's end."""
        jumps = tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=[None],
                               clear_after_read=False)
        jumps = jumps.write(0, back)
        levels = tf.cast(tf.math.ceil(tf.math.log(tf.cast(n_boundaries, tf.float64) + 2.0)
                                      / np.log(2.0)), tf.int32) + 1

        def double(k, jumps):
            last = jumps.read(k - 1)
            return k + 1, jumps.write(k, tf.gather(last, last))

        _, jumps = tf.while_loop(lambda k, _: k < levels, double, (tf.constant(1), jumps))
        boundary = tf.range(n_boundaries)
        # each boundary's piece end: the first end at or after it
        target_end = tf.gather(tf.concat([ends, [0]], 0),
                               tf.searchsorted(ends, boundary, side="left"))

        def descend(k, position):
            landing = tf.gather(jumps.read(k), position)
            return k - 1, tf.where(landing >= boundary, landing, position)

        _, position = tf.while_loop(lambda k, _: k >= 0, descend, (levels - 1, target_end))
        return position == boundary

    def _fuse_unknown(self, tokens: tf.Tensor, token_piece: tf.Tensor, begin_b: tf.Tensor,
                      chars: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Runs of unknown characters become one unknown token (or their bytes, with fallback)."""
        unknown = tokens == self._unk_id
        if self._byte_ids is not None:
            # boundary b of piece p is character b - p; an unknown covers one character
            char = tf.gather(chars, tf.maximum(begin_b - token_piece, 0))
            source, byte = utf8_bytes(char, unknown)
            as_bytes = tf.gather(self._byte_ids, tf.clip_by_value(byte, 0, 255))
            tokens = tf.where(tf.gather(unknown, source), as_bytes, tf.gather(tokens, source))
            return tokens, tf.gather(token_piece, source)
        again = unknown & shift_right(unknown, False) & (shift_right(token_piece, -1) == token_piece)
        return tf.boolean_mask(tokens, ~again), tf.boolean_mask(token_piece, ~again)
