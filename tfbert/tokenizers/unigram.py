"""SentencePiece-style Unigram (ALBERT, XLM-R, DeBERTa-v3) in core TensorFlow ops.

The fast tokenizer normalizes, replaces spaces by "▁" and splits before each one (Metaspace),
then picks for each piece the segmentation with the highest total log-probability (Viterbi).
Here the normalizer runs as graph steps (`normalizers`), and Viterbi runs for all pieces at once,
one character offset per step, in float64 as the fast tokenizer does. Ties go to the earlier
split, as there. Normalizers that are not per character (NFC/NFKC composition, SentencePiece's
precompiled character map) are refused, so such models keep the token-id signature.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import tensorflow as tf

from tfbert.codepoints.graph_ops import (
    insert_before,
    on_chain,
    positions,
    repeat_each,
    runs,
    segment_links,
    shift_right,
    utf8_bytes,
)
from tfbert.codepoints.trie import VocabTrie
from tfbert.codepoints.unicode_tables import UNICODE_END, whitespace_mask
from tfbert.tokenizers.base import InGraphTokenizer
from tfbert.tokenizers.normalizers import normalizer_steps
from tfbert.tokenizers.tokenizer_json import Frame, read_frame, require

_UNK_PENALTY = 10.0  # the fast tokenizer scores an unknown character min score - 10


@dataclasses.dataclass(frozen=True)
class _Spec:
    """What the Unigram graph needs to know about a fast tokenizer, read from its JSON form."""

    vocab: dict[str, int]
    scores: np.ndarray  # float64 log-probability of each id
    unk_id: int
    unk_score: float
    byte_ids: np.ndarray | None  # ids of <0x00>..<0xFF> with byte fallback, else None
    replacement: str
    prepend: str  # "always", "first" or "never"
    split: bool
    whitespace_split: bool  # WhitespaceSplit runs before Metaspace (ALBERT as published)
    normalizer: dict[str, Any] | None  # tokenizer.json's, made into graph steps


def _metaspace(pre: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The Metaspace step of a pre-tokenizer, and whether WhitespaceSplit comes before it."""
    steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]
    kinds = [step.get("type") for step in steps]
    require(kinds in (["Metaspace"], ["WhitespaceSplit", "Metaspace"]),
            f"pre-tokenizer {' + '.join(map(str, kinds))} is not [WhitespaceSplit +] Metaspace")
    return steps[-1], len(steps) == 2


def _read_spec(tokenizer: Any, config: dict[str, Any]) -> tuple[_Spec, Frame]:
    model = config["model"]
    pre, whitespace_split = _metaspace(config.get("pre_tokenizer") or {})
    require(len(pre.get("replacement", "")) == 1, "Metaspace replacement is not one character")
    prepend = pre.get("prepend_scheme", "always" if pre.get("add_prefix_space", True) else "never")
    require(prepend in ("always", "first", "never"), f"Metaspace prepend_scheme {prepend}")
    require(not (whitespace_split and prepend == "first"), "WhitespaceSplit with prepend first")
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
                 byte_ids, pre["replacement"], prepend, bool(pre.get("split", True)),
                 whitespace_split, config.get("normalizer"))
    return spec, read_frame(tokenizer, config)


class UnigramTextTokenizer(InGraphTokenizer):
    """Metaspace + Unigram as SentencePiece models use them, built by `from_fast_tokenizer`;
    normalizers it cannot reproduce and other pre-tokenizers or models are refused."""

    family = "SentencePiece Unigram"
    model_type = "Unigram"
    read_spec = staticmethod(_read_spec)

    def __init__(self, spec: _Spec, frame: Frame, max_length: int, head_tokens: int | None = None,
                 pair: str | None = None) -> None:
        super().__init__(frame, max_length, head_tokens, pair, normalizer_steps(spec.normalizer))
        self._trie = VocabTrie(spec.vocab, frame.added_ids)
        top_id = max(frame.added_ids, default=-1)
        scores = np.concatenate([spec.scores, np.zeros(max(0, top_id + 1 - len(spec.scores)))])
        self._scores = tf.constant(scores, tf.float64)  # added tokens score 0; they stand alone
        self._unk_id, self._unk_score = spec.unk_id, spec.unk_score
        self._byte_ids = None if spec.byte_ids is None else tf.constant(spec.byte_ids)
        self._replacement = ord(spec.replacement)
        self._prepend, self._split_on_replacement = spec.prepend, spec.split
        self._whitespace_split = spec.whitespace_split

    def _pre_tokenize(self, chars: tf.Tensor, rows: tf.Tensor
                      ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """[WhitespaceSplit +] Metaspace: spaces become the replacement, which is put before
        segments (words, after WhitespaceSplit) and starts each piece."""
        words = rows  # what Metaspace works on one by one
        if self._whitespace_split:  # words without their whitespace, each on its own
            space = whitespace_mask(chars)
            word_start = ~space & (shift_right(space, False) | ~segment_links(chars, rows))
            chars, rows, word_start = (tf.boolean_mask(t, ~space) for t in (chars, rows, word_start))
            words = tf.cumsum(tf.cast(word_start, tf.int32)) - 1
        chars = tf.where(chars == ord(" "), self._replacement, chars)
        segment_start = (chars < UNICODE_END) & ~segment_links(chars, words)
        if self._prepend == "first":  # only where the original text starts
            segment_start &= shift_right(rows, -1) != rows
        if self._prepend != "never":
            inserted = segment_start & (chars != self._replacement)
            chars, words = insert_before(chars, words, inserted, self._replacement)
            rows = tf.gather(rows, repeat_each(1 + tf.cast(inserted, tf.int32))[0])
        starts = ~segment_links(chars, words)
        if self._split_on_replacement:
            starts |= chars == self._replacement
        return chars, rows, starts

    def _model(self, chars: tf.Tensor, piece: tf.Tensor, n_pieces: tf.Tensor
               ) -> tuple[tf.Tensor, tf.Tensor]:
        """Best segmentation (Viterbi) of every piece: token ids, and the piece of each token.

        Boundaries are numbered char index + piece index, so every piece has its own start and
        end boundary; the lattice's edges run between boundaries of one piece.
        """
        n = tf.size(chars)
        here = tf.range(n)
        index, start, end = runs(piece != shift_right(piece, -1))  # pieces left after the cut
        begin, length, token = self._trie.matches(chars, here, tf.zeros_like(here),
                                                  tf.gather(end, index) - here)
        begin, length, token, score = self._with_unknowns(begin, length, token, n)
        edge_piece = tf.gather(index, begin)
        end_offset = begin + length - tf.gather(start, edge_piece)
        n_boundaries = n + tf.size(start)
        back, back_token = self._best_edges(begin + edge_piece, length, end_offset, score, token,
                                            n_boundaries)
        boundaries = tf.range(n_boundaries)
        ends = end + tf.range(tf.size(start))  # the end boundary of each piece
        # Each boundary is on the best path if following `back` from its piece's end reaches it.
        piece_end = tf.gather(tf.concat([ends, [0]], 0), tf.searchsorted(ends, boundaries))
        longest = tf.reduce_max(tf.concat([end - start, [0]], 0))
        emit = on_chain(back, piece_end, boundaries, longest, forward=False) & (back != boundaries)
        boundary_piece = tf.searchsorted(start + tf.range(tf.size(start)), boundaries,
                                         side="right") - 1
        tokens, token_piece = self._fuse_unknown(
            tf.boolean_mask(back_token, emit), tf.boolean_mask(boundary_piece, emit),
            tf.boolean_mask(back, emit), chars)
        return tokens, tf.gather(tf.gather(piece, start), token_piece)

    def _with_unknowns(self, begin: tf.Tensor, length: tf.Tensor, token: tf.Tensor, n: tf.Tensor
                       ) -> tuple[tf.Tensor, ...]:
        """The lattice: the vocabulary matches, plus an unknown for each character no piece of
        length one covers, with the score of each edge."""
        single = tf.boolean_mask(begin, length == 1)
        covered = tf.scatter_nd(single[:, None], tf.ones_like(single), [n]) > 0
        lonely = positions(~covered)
        begin = tf.concat([begin, lonely], 0)
        length = tf.concat([length, tf.ones_like(lonely)], 0)
        token = tf.concat([token, tf.fill(tf.shape(lonely), self._unk_id)], 0)
        score = tf.where(token == self._unk_id, tf.constant(self._unk_score, tf.float64),
                         tf.gather(self._scores, tf.maximum(token, 0)))
        return begin, length, token, score

    @staticmethod
    def _best_edges(start_boundary: tf.Tensor, length: tf.Tensor, end_offset: tf.Tensor,
                    score: tf.Tensor, token: tf.Tensor, n_boundaries: tf.Tensor
                    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Viterbi's forward pass, one end offset per step: for every boundary, where the best
        edge ending there starts (itself at a piece start) and its token."""
        end_boundary = start_boundary + length
        order = tf.argsort(end_offset, stable=True)
        start_boundary, end_boundary, end_offset, score, token = (
            tf.gather(t, order) for t in (start_boundary, end_boundary, end_offset, score, token))
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

        _, _, back, back_token = tf.while_loop(
            lambda offset, *_: offset <= longest,
            step,
            (tf.constant(1), tf.zeros([n_boundaries], tf.float64), tf.range(n_boundaries),
             tf.fill([n_boundaries], -1)),
        )
        return back, back_token

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
