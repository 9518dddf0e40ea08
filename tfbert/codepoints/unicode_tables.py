"""Code-point constants and per-code-point tables, looked up in the graph in shared blocks.

Every Unicode rule of a tokenizer (what its normalizer makes of a character, how its
pre-tokenizer classes it) is read out of the real component at build time into one table of
1.1 M values; identical blocks of 128 are stored once, so a table costs tens of kilobytes.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import tensorflow as tf

UNICODE_END = 0x110000  # one past the last code point; added tokens get markers from here on
SURROGATES = range(0xD800, 0xE000)  # never in decoded text
BLOCK_BITS = 7  # tables are split into blocks of 128 code points so identical blocks are shared
BLOCK = 1 << BLOCK_BITS
# Rust's char::is_whitespace, what an added token's lstrip / rstrip eats next to it.
WHITESPACE = (*range(0x9, 0xE), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028,
              0x2029, 0x202F, 0x205F, 0x3000)


def whitespace_mask(chars: tf.Tensor) -> tf.Tensor:
    """Which code points are WHITESPACE (what Strip, WhitespaceSplit and lstrip/rstrip remove)."""
    return tf.reduce_any(chars[:, None] == tf.constant(WHITESPACE, tf.int32)[None, :], 1)


def code_point_chunks(size: int = 1 << 16) -> Iterator[np.ndarray]:
    """Every Unicode scalar value (surrogates left out), in arrays of at most `size`, for
    probing a tokenizer component on all of them in a few long calls."""
    for first in range(0, UNICODE_END, size):
        cps = np.array([cp for cp in range(first, min(first + size, UNICODE_END))
                        if cp not in SURROGATES])
        if len(cps):
            yield cps


class CodePointTable(tf.Module):
    """One int32 value per code point, looked up in the graph; added-token markers get `beyond`."""

    def __init__(self, values: np.ndarray, beyond: int) -> None:
        super().__init__()
        if len(values) != UNICODE_END:
            raise ValueError(f"a code point table has {UNICODE_END} values, got {len(values)}")
        # identical blocks are stored once: value[cp] = data[index[cp >> B] * 2**B + cp % 2**B]
        data, index = np.unique(values.reshape(-1, BLOCK), axis=0, return_inverse=True)
        self._index = tf.constant(index.reshape(-1).astype(np.int32))
        self._data = tf.constant(data.reshape(-1).astype(np.int32))
        self._beyond = int(beyond)

    def lookup(self, chars: tf.Tensor) -> tf.Tensor:
        """The value of each code point (`beyond` for markers past Unicode)."""
        marker = chars >= UNICODE_END
        safe = tf.where(marker, 0, chars)
        block = tf.gather(self._index, tf.bitwise.right_shift(safe, BLOCK_BITS))
        value = tf.gather(self._data, block * BLOCK + tf.bitwise.bitwise_and(safe, BLOCK - 1))
        return tf.where(marker, self._beyond, value)
