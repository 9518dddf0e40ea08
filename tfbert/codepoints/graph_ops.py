"""Small tensor helpers the tokenizer stages share: shifts, runs, repeats, UTF-8 bytes, jump chains.

The whole batch is one flat tensor of code points with a row id each, so "the character before"
is a shift, a word is a run of consecutive elements, and a replacement by several characters is
a repeat.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfbert.codepoints.unicode_tables import UNICODE_END


def shift_right(values: tf.Tensor, fill: Any) -> tf.Tensor:
    """values moved one place right, `fill` first; same length."""
    return tf.concat([[fill], values], 0)[: tf.size(values)]


def shift_left(values: tf.Tensor, fill: Any) -> tf.Tensor:
    """values moved one place left, `fill` last; same length."""
    return tf.concat([values[1:], [fill]], 0)


def positions(flags: tf.Tensor) -> tf.Tensor:
    """Indices of the set flags, as int32."""
    return tf.cast(tf.where(flags)[:, 0], tf.int32)


def runs(starts: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Runs of consecutive elements, each beginning where `starts` is set (as the first must be).

    Returns the run of each element, and the first index and the end (one past the last) of
    each run.
    """
    run = tf.cumsum(tf.cast(starts, tf.int32)) - 1
    first = positions(starts)
    return run, first, tf.concat([first[1:], [tf.size(starts)]], 0)


def row_ranks(rows: tf.Tensor, n_rows: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Per-row counts of sorted row ids, and each element's index within its row."""
    counts = tf.math.unsorted_segment_sum(tf.ones_like(rows), rows, n_rows)
    first = tf.cumsum(counts, exclusive=True)
    return counts, tf.range(tf.size(rows)) - tf.gather(first, rows)


def repeat_each(counts: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Element i repeated counts[i] times: the index each copy comes from, and which copy it is."""
    source = tf.repeat(tf.range(tf.size(counts)), counts)
    copy = tf.range(tf.size(source)) - tf.gather(tf.cumsum(counts, exclusive=True), source)
    return source, copy


def segment_links(chars: tf.Tensor, rows: tf.Tensor) -> tf.Tensor:
    """Whether each character continues the text of the one before it: same row, and neither is
    an added-token marker (pre-tokenizers work on the text between added tokens)."""
    text = chars < UNICODE_END
    return (shift_right(rows, -1) == rows) & text & shift_right(text, False)


def insert_before(chars: tf.Tensor, rows: tf.Tensor, flags: tf.Tensor, char: int
                  ) -> tuple[tf.Tensor, tf.Tensor]:
    """`char` put before every flagged character, in the same row."""
    source, copy = repeat_each(1 + tf.cast(flags, tf.int32))
    inserted = (copy == 0) & tf.gather(flags, source)  # the first copy of a doubled character
    return tf.where(inserted, char, tf.gather(chars, source)), tf.gather(rows, source)


def every_other_in_runs(flags: tf.Tensor) -> tf.Tensor:
    """The 1st, 3rd, 5th ... of each run of consecutive flags: where a pair that can overlap
    itself ("a a a") is taken left to right without overlap."""
    run, first, _ = runs(~(flags & shift_right(flags, False)))
    return flags & ((tf.range(tf.size(flags)) - tf.gather(first, run)) % 2 == 0)


def utf8_width(chars: tf.Tensor) -> tf.Tensor:
    """How many UTF-8 bytes spell each code point."""
    return 1 + tf.add_n([tf.cast(chars >= limit, tf.int32) for limit in (0x80, 0x800, 0x10000)])


def utf8_packed(chars: tf.Tensor) -> tf.Tensor:
    """Each code point's UTF-8 bytes read as one big-endian int64 ("é" -> 0xC3A9)."""
    width = tf.cast(utf8_width(chars), tf.int64)
    char = tf.cast(chars, tf.int64)
    lead = tf.gather(tf.constant([0, 0, 0xC0, 0xE0, 0xF0], tf.int64), width)
    packed = tf.zeros_like(char)
    for k in range(4):  # byte k of a character of `width` bytes, first to last
        shift = 6 * (width - 1 - k)
        byte = tf.where(k == 0, lead | tf.bitwise.right_shift(char, shift),
                        0x80 | (tf.bitwise.right_shift(char, tf.maximum(shift, 0)) & 0x3F))
        packed = tf.where(k < width, tf.bitwise.left_shift(packed, 8) | byte, packed)
    return packed


def utf8_bytes(chars: tf.Tensor, spelled: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Each `spelled` code point as its UTF-8 bytes, one element per byte; the others as they are.

    Returns the index in `chars` each element comes from, and its value.
    """
    width = tf.where(spelled, utf8_width(chars), 1)
    source, k = repeat_each(width)
    char, n = tf.gather(chars, source), tf.gather(width, source)
    lead = tf.gather(tf.constant([0, 0, 0xC0, 0xE0, 0xF0]), n)
    shifted = tf.bitwise.right_shift(char, 6 * (n - 1 - k))
    byte = tf.where(k == 0, tf.bitwise.bitwise_or(lead, shifted),
                    0x80 | tf.bitwise.bitwise_and(shifted, 0x3F))
    return source, tf.where(n == 1, char, byte)


def on_chain(jump: tf.Tensor, origins: tf.Tensor, targets: tf.Tensor, max_jumps: int | tf.Tensor,
             forward: bool = True) -> tf.Tensor:
    """Whether following `jump` from each origin lands exactly on its target.

    `jump` moves one way only (forward: jump[p] >= p, else jump[p] <= p) and a chain is at most
    `max_jumps` long. Jumps of 2**k steps are built by doubling, and each origin approaches its
    target by the largest jumps that do not pass it (pointer doubling: log steps, not a loop
    over the chain).
    """
    levels = tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=[None],
                            clear_after_read=False).write(0, jump)

    def double(k, levels):
        last = levels.read(k - 1)
        return k + 1, levels.write(k, tf.gather(last, last))

    n_levels, levels = tf.while_loop(lambda k, _: tf.bitwise.left_shift(1, k) <= max_jumps,
                                     double, (tf.constant(1), levels))

    def descend(k, position):
        landing = tf.gather(levels.read(k), position)
        closer = landing <= targets if forward else landing >= targets
        return k - 1, tf.where(closer, landing, position)

    _, position = tf.while_loop(lambda k, _: k >= 0, descend, (n_levels - 1, origins))
    return position == targets
