"""The vocabulary as a character trie in a hash table, walked from every start position at once.

WordPiece keeps the longest entry found at each start, Unigram every entry (its lattice); both
get them from the same walk (`VocabTrie.matches`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tfbert.codepoints.unicode_tables import UNICODE_END

STATE_SHIFT = 22  # keys are state * 2**22 + code point (markers are below 2**22)
NO_TOKEN = -1


class VocabTrie(tf.Module):
    """The vocabulary as a trie: keys are state * 2**22 + code point; state 0 is the root.

    Added tokens are reached from the root by one marker code point each (`UNICODE_END + i`), and
    `continuation` is the state that spells `prefix` ("##"), where WordPiece's non-initial pieces
    start.
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

    def matches(self, chars: tf.Tensor, at: tf.Tensor, state: tf.Tensor, remaining: tf.Tensor
                ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Every vocabulary entry spelled from each start `at` (its walk begun in `state`).

        All walks move together, one character per step; a walk stops when the trie has no edge
        for its next character or after `remaining[start]` characters (the end of its word).
        Returns the start, length and id of every entry found, shortest first for each start.
        """
        def step(depth, at, state, begins, lengths, ids):
            char = tf.cast(tf.gather(chars, at + depth), tf.int64)
            state = self._next.lookup(tf.cast(state, tf.int64) * (1 << STATE_SHIFT) + char)
            moved = state >= 0
            at, state = tf.boolean_mask(at, moved), tf.boolean_mask(state, moved)
            token = tf.gather(self._token, state)  # what the state spells, -1 for nothing
            is_token = token >= 0
            hit = tf.boolean_mask(at, is_token)
            begins = tf.concat([begins, hit], 0)
            lengths = tf.concat([lengths, tf.fill(tf.shape(hit), depth + 1)], 0)
            ids = tf.concat([ids, tf.boolean_mask(token, is_token)], 0)
            more = depth + 1 < tf.gather(remaining, at)
            at, state = tf.boolean_mask(at, more), tf.boolean_mask(state, more)
            return depth + 1, at, state, begins, lengths, ids

        found = tf.zeros([0], tf.int32)
        _, _, _, begins, lengths, ids = tf.while_loop(
            lambda depth, at, *_: tf.size(at) > 0,
            step,
            (tf.constant(0), at, state, found, found, found),
            shape_invariants=(tf.TensorShape([]),) + (tf.TensorShape([None]),) * 5,
        )
        return begins, lengths, ids
