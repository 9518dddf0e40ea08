"""Extended grapheme clusters (Unicode UAX #29) over a flat tensor of code points.

Hugging Face's `Precompiled` normalizer walks a text cluster by cluster (the Rust crate
`unicode-segmentation`, extended clusters), so the graph needs the same boundaries. Each code
point's Grapheme_Cluster_Break class, Extended_Pictographic flag and Indic_Conjunct_Break value
are read at build time from that very normalizer (`grapheme_properties`) into one table; the
rules are then tensor comparisons with the neighbour, plus three that look back over a run (GB9c
conjuncts, GB11 emoji ZWJ sequences, GB12/13 flag pairs), answered with a search for the run's
start.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from tfbert.codepoints.charsmap import build_charsmap
from tfbert.codepoints.graph_ops import positions, shift_right
from tfbert.codepoints.unicode_tables import SURROGATES, UNICODE_END, CodePointTable

# Grapheme_Cluster_Break classes, in the low 4 bits of a table value
OTHER, CR, LF, CONTROL, EXTEND, ZWJ, RI, PREPEND, SPACING_MARK, L, V, T, LV, LVT = range(14)
PICTOGRAPHIC = 1 << 4  # Extended_Pictographic
CONSONANT, LINKER, INCB_EXTEND = 1 << 5, 2 << 5, 3 << 5  # Indic_Conjunct_Break, bits 5-6
_FIXED = {CR: [0x0D], LF: [0x0A], ZWJ: [0x200D], RI: range(0x1F1E6, 0x1F200),
          L: [*range(0x1100, 0x1160), *range(0xA960, 0xA97D)],
          V: [*range(0x1160, 0x11A8), *range(0xD7B0, 0xD7C7)],
          T: [*range(0x11A8, 0x1200), *range(0xD7CB, 0xD7FC)],
          LV: range(0xAC00, 0xD7A4, 28)}  # fixed by UAX #29 itself (and LVT below)
_ASKED = {"a": "A", "\u00a9": "Q", "\u0301": "Z"}  # © is Extended_Pictographic, U+0301 Extend
_SEPARATOR = "\n"  # a control: a boundary on both sides


def _which(replacements: dict[str, str], chars: list[str], probe: Callable[[str], str],
           answer: Callable[[str], bool]) -> list[str]:
    """The characters whose probe text the real `Precompiled` normalizer, under a map of our
    own, turns into an output for which `answer` holds."""
    from tokenizers.normalizers import Precompiled

    normalize = Precompiled(build_charsmap(replacements)).normalize_str
    outputs = normalize(_SEPARATOR.join(map(probe, chars))).split(_SEPARATOR)
    return [c for c, out in zip(chars, outputs, strict=True) if answer(out)]


@functools.cache
def grapheme_properties() -> np.ndarray:
    """Class | PICTOGRAPHIC | InCB value of every code point, read from the real normalizer.

    The normalizer replaces a whole cluster under 6 bytes when a key starts it, so a key, the
    character asked about and a mark show whether a boundary lies between them. Only what can
    change a normalized text is asked: a character's class where its cluster can be that short.
    """
    chars = [chr(cp) for cp in range(UNICODE_END) if cp not in SURROGATES and cp not in (0x0A, 0x0D)]
    values = np.zeros(UNICODE_END, np.int32)
    # x Extend, ZWJ, SpacingMark: one cluster with "a"; a control stands alone before marks
    joins = set(_which(_ASKED, chars, lambda c: f"a{c}", lambda out: out == "A"))
    controls = set(_which(_ASKED, chars, lambda c: f"{c}\u0301\u0302", lambda out: out.endswith("Z")))
    rest = [c for c in chars if c not in joins and c not in controls]
    pictographic = _which(_ASKED, rest, lambda c: f"\u00a9\u200d{c}",  # GB11 keeps the ZWJ
                          lambda out: out.startswith("Q\u200d"))
    values[[ord(c) for c in pictographic]] = PICTOGRAPHIC
    by_width = {n: [c for c in rest if len(c.encode()) == n] for n in (1, 2, 3, 4)}
    prepends = _which(_ASKED, by_width[1] + by_width[2], lambda c: f"{c}a\u0301",
                      lambda out: out.endswith("AZ"))  # Prepend x: the mark stays
    wide = {chr(cp): "K" for cp in range(0x800, 0x10000) if cp not in SURROGATES}
    prepends += _which(wide, by_width[3], lambda c: f"{c}a", lambda out: out == "K")
    for first in range(0, len(by_width[4]), 1 << 18):  # maps of our own stay under 2**21 units
        chunk = by_width[4][first: first + (1 << 18)]
        prepends += _which(dict.fromkeys(chunk, "K"), chunk, lambda c: f"{c}a", lambda out: out == "K")
    consonants = _which(wide, by_width[3], lambda c: f"\u0915\u094d{c}\u0301",  # GB9c
                        lambda out: out.endswith("\u0301"))
    values[[ord(c) for c in consonants]] |= CONSONANT
    marks = sorted(joins)
    extends = set(_which(_ASKED, marks, lambda c: f"\u00a9{c}\u200d\u00a9\u0301",  # GB11's Extend*
                         lambda out: out.endswith("Z")))
    linkers = set(_which(wide, marks, lambda c: f"\u0915{c}\u0915\u0301",
                         lambda out: out.endswith("\u0301")))
    between = set(_which(wide, marks, lambda c: f"\u0915{c}\u094d\u0915\u0301",
                         lambda out: out.endswith("\u0301")))
    for c in marks:
        incb = LINKER if c in linkers else INCB_EXTEND if c in between else 0
        values[ord(c)] |= incb | (EXTEND if c in extends else SPACING_MARK)
    for value, members in ((CONTROL, controls), (PREPEND, prepends)):
        values[[ord(c) for c in members]] |= value
    values[0xAC00:0xD7A4] = LVT  # syllables: every 28th has no final consonant (LV)
    for value, members in _FIXED.items():
        values[list(members)] = (values[list(members)] & ~15) | value
    return values


class GraphemeBreaks(tf.Module):
    """Where extended grapheme clusters start, for code points with row ids (a row is a text);
    code points past Unicode (added-token markers) stand alone, as controls do."""

    def __init__(self) -> None:
        super().__init__()
        self._table = CodePointTable(grapheme_properties(), beyond=CONTROL)

    def __call__(self, chars: tf.Tensor, rows: tf.Tensor) -> tf.Tensor:
        """True where a cluster starts (the first character of each row included)."""
        value = self._table.lookup(chars)
        kind, incb = value & 15, value & (3 << 5)
        before = shift_right(kind, CONTROL)
        row_start = shift_right(rows, -1) != rows
        first = tf.gather(positions(row_start), tf.cumsum(tf.cast(row_start, tf.int32)) - 1)

        def is_(k: tf.Tensor, *classes: int) -> tf.Tensor:
            return tf.reduce_any(tf.stack([k == c for c in classes]), 0)

        joined = (before == CR) & (kind == LF)  # GB3
        controls = is_(before, CONTROL, CR, LF) | is_(kind, CONTROL, CR, LF)  # GB4, GB5
        hangul = ((before == L) & is_(kind, L, V, LV, LVT)) | (is_(before, LV, V) & is_(kind, V, T))
        hangul |= is_(before, LVT, T) & (kind == T)  # GB6-8
        joined |= ~controls & (hangul | is_(kind, EXTEND, ZWJ, SPACING_MARK) | (before == PREPEND))
        joined |= ~controls & self._conjunct(incb, first)
        joined |= self._emoji_sequence(kind, value, first)
        joined |= self._flag_pair(kind, first)
        return row_start | ~joined

    @staticmethod
    def _run_start(inside: tf.Tensor, first: tf.Tensor) -> tf.Tensor:
        """For each position, the last position at or before it (in its row) not `inside`, or
        the row's first position minus one."""
        outside = positions(~inside)
        last = tf.gather(tf.concat([[-1], outside], 0),
                         tf.searchsorted(outside, tf.range(tf.size(inside)), side="right"))
        return tf.maximum(last, first - 1)

    def _conjunct(self, incb: tf.Tensor, first: tf.Tensor) -> tf.Tensor:
        """GB9c: Consonant [Extend Linker]* Linker [Extend Linker]* x Consonant."""
        between = (incb == LINKER) | (incb == INCB_EXTEND)
        linkers = tf.cumsum(tf.cast(incb == LINKER, tf.int32))
        start = shift_right(self._run_start(between, first), -1)  # run ending just before
        head = tf.gather(incb, tf.maximum(start, 0))
        linked = shift_right(linkers, 0) - tf.gather(linkers, tf.maximum(start, 0)) > 0
        return (incb == CONSONANT) & (start >= first) & (head == CONSONANT) & linked

    def _emoji_sequence(self, kind: tf.Tensor, value: tf.Tensor, first: tf.Tensor) -> tf.Tensor:
        """GB11: Extended_Pictographic Extend* ZWJ x Extended_Pictographic."""
        start = self._run_start(kind == EXTEND, first)
        head_before_zwj = shift_right(shift_right(start, -1), -1)  # for the character 2 back
        pictographic = (value & PICTOGRAPHIC) > 0
        head = tf.gather(pictographic, tf.maximum(head_before_zwj, 0))
        zwj_before = shift_right(kind == ZWJ, False) & (tf.range(tf.size(kind)) - 1 >= first)
        return pictographic & zwj_before & (head_before_zwj >= first) & head

    def _flag_pair(self, kind: tf.Tensor, first: tf.Tensor) -> tf.Tensor:
        """GB12/13: regional indicators pair up from the start of their run."""
        regional = kind == RI
        start = self._run_start(regional, first)
        run_before = tf.range(tf.size(kind)) - 1 - shift_right(start, -1)  # RIs just before
        return regional & shift_right(regional, False) & (run_before % 2 == 1)
