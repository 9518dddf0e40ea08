"""BERT's WordPiece (BertNormalizer, BertPreTokenizer, WordPiece model) in core TensorFlow ops.

Every Unicode rule is read out of the fast tokenizer at build time: its normalizer and
pre-tokenizer are run on each code point to fill per-code-point tables, and its vocabulary
becomes a character trie. The graph then only decodes UTF-8, looks code points up, and walks the
trie from all word positions at once.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np
import tensorflow as tf

from tfbert.codepoints.graph_ops import on_chain, positions, runs, shift_right
from tfbert.codepoints.trie import VocabTrie
from tfbert.codepoints.unicode_tables import UNICODE_END, CodePointTable, code_point_chunks
from tfbert.tokenizers.base import InGraphTokenizer
from tfbert.tokenizers.normalizers import CodePointMap, code_point_map
from tfbert.tokenizers.tokenizer_json import Frame, read_frame, require

_OTHER, _SPACE, _ISOLATED = 0, 1, 2  # what the pre-tokenizer does with a character


@dataclasses.dataclass(frozen=True)
class _Spec:
    """What the WordPiece graph needs to know about a fast tokenizer, read from its JSON form."""

    vocab: dict[str, int]
    unk_id: int
    prefix: str
    max_word_chars: int
    normalizer: dict[str, Any]


def _read_spec(tokenizer: Any, config: dict[str, Any]) -> tuple[_Spec, Frame]:
    model = config["model"]
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
        normalizer=normalizer,
    )
    return spec, read_frame(tokenizer, config)


@functools.cache
def _split_classes() -> np.ndarray:
    """What BertPreTokenizer does with each code point: keep, split on (space) or isolate.

    Code points are fed as "c0xc1xc2x..." in long batches. A kept character joins its x
    neighbours, punctuation comes back as a piece of its own at an even offset, and a space is
    covered by no piece at all. Runs of kept characters make one piece, so this is fast.
    """
    from tokenizers import pre_tokenizers

    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
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


class BertTextTokenizer(InGraphTokenizer):
    """WordPiece as BERT does it (BertNormalizer, BertPreTokenizer), built by `from_fast_tokenizer`;
    refuses anything else."""

    family = "WordPiece"
    model_type = "WordPiece"
    read_spec = staticmethod(_read_spec)

    def __init__(self, spec: _Spec, frame: Frame, max_length: int, head_tokens: int | None = None,
                 pair: str | None = None) -> None:
        normalizer = CodePointMap(*code_point_map(spec.normalizer))
        super().__init__(frame, max_length, head_tokens, pair, [normalizer])
        self._unk_id, self._max_word_chars = spec.unk_id, spec.max_word_chars
        self._split_class = CodePointTable(_split_classes(), beyond=_ISOLATED)  # markers stand alone
        self._trie = VocabTrie(spec.vocab, frame.added_ids, spec.prefix)

    def _pre_tokenize(self, chars: tf.Tensor, rows: tf.Tensor
                      ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Drops whitespace and starts a word after it, at each isolated character and after it."""
        split_class = self._split_class.lookup(chars)
        space, isolated = split_class == _SPACE, split_class == _ISOLATED
        after_break = (shift_right(rows, -1) != rows) | shift_right(space | isolated, True)
        starts = ~space & (after_break | isolated)
        return tuple(tf.boolean_mask(t, ~space) for t in (chars, rows, starts))

    def _model(self, chars: tf.Tensor, piece: tf.Tensor, n_pieces: tf.Tensor
               ) -> tuple[tf.Tensor, tf.Tensor]:
        """Greedy longest-match-first pieces of every word; a word that cannot be split, or longer
        than max_input_chars_per_word, is [UNK]."""
        n = tf.size(chars)
        here = tf.range(n)
        word, word_start, word_end = runs(piece != shift_right(piece, -1))
        origin = tf.gather(word_start, word)
        too_long = tf.gather(word_end - word_start > self._max_word_chars, word)
        best_len, best_id = self._longest_matches(
            chars, first=here == origin, alive=~too_long, remaining=tf.gather(word_end, word) - here
        )
        # From p the greedy chain jumps to p + best_len[p], or to a sink past the end.
        sink = n + 1
        jump = tf.concat([tf.where(best_len > 0, here + best_len, sink), [sink, sink]], 0)
        reached = on_chain(jump, tf.concat([origin, word_start], 0),
                           tf.concat([here, word_end], 0), self._max_word_chars)
        on_path, complete = reached[:n], reached[n:]
        whole = tf.gather(complete, word)
        emit = tf.where(whole, on_path, here == origin)
        ids = tf.where(whole, best_id, self._unk_id)
        return tf.boolean_mask(ids, emit), tf.boolean_mask(piece, emit)

    def _longest_matches(
        self, chars: tf.Tensor, first: tf.Tensor, alive: tf.Tensor, remaining: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Length and id of the longest vocabulary piece starting at every character (0 and
        [UNK] where none does); a word's first character starts at the root, the others at "##"."""
        at = positions(alive)
        state = tf.where(tf.gather(first, at), 0, self._trie.continuation)
        begins, lengths, ids = self._trie.matches(chars, at, state, remaining)
        n = tf.size(chars)
        best_len = tf.maximum(tf.math.unsorted_segment_max(lengths, begins, n), 0)
        longest = lengths == tf.gather(best_len, begins)
        best_id = tf.tensor_scatter_nd_update(tf.fill([n], self._unk_id),
                                              tf.boolean_mask(begins, longest)[:, None],
                                              tf.boolean_mask(ids, longest))
        return best_len, best_id
