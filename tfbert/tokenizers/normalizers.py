"""Normalizers as graph steps: code point maps, SentencePiece's precompiled map, two-character
replacements, the space collapse, Strip.

A normalizer that works character by character (BertNormalizer, NFD/NFKD, StripAccents,
Lowercase, one-character Replace) is run on every code point at build time; what each becomes
(itself, nothing, " c ", or a string from a pool) fills one table. Consecutive such normalizers
are run together, so their results compose. The one exception is the canonical reordering inside
NFD, which only moves combining marks that stripping accents then drops, except for a few rare Mc
musical/Indic signs. The precompiled map (`PrecompiledMap`) works on grapheme clusters, as the
fast tokenizer applies it. NFC/NFKC composition is refused: it reorders and composes marks across
a whole run, which no per-character or per-cluster table gives.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tfbert.codepoints.charsmap import prefix_key, read_charsmap
from tfbert.codepoints.graph_ops import (
    every_other_in_runs,
    positions,
    repeat_each,
    runs,
    segment_links,
    shift_left,
    shift_right,
    utf8_packed,
    utf8_width,
)
from tfbert.codepoints.graphemes import GraphemeBreaks
from tfbert.codepoints.unicode_tables import (
    UNICODE_END,
    CodePointTable,
    code_point_chunks,
    whitespace_mask,
)
from tfbert.tokenizers.tokenizer_json import require

KEEP, DROP, SPACED = -1, -2, -3  # what a code point becomes, besides an entry of the pool
_NONE = -4  # no key replaces the whole cluster
_PER_CHARACTER = {"NFD", "NFKD", "StripAccents", "Lowercase"}  # and one-character Replace
NormalizerStep = Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]


def normalizer_steps(normalizer: dict[str, Any] | None) -> list[NormalizerStep]:
    """The normalizer (tokenizer.json's "normalizer") as graph steps on (chars, rows), for
    normalizers other than BertNormalizer (which WordPiece maps whole with `code_point_map`).

    Raises:
        UnsupportedTokenizerError: a normalizer that is not reproduced exactly.
    """
    plan: list[tuple[str, Any]] = []  # checked whole before any table is built
    items = [] if normalizer is None else (
        normalizer["normalizers"] if normalizer["type"] == "Sequence" else [normalizer])
    for item in items:
        kind, pattern = item["type"], item.get("pattern") or {}
        if kind in _PER_CHARACTER or (kind == "Replace" and len(pattern.get("String", "")) == 1):
            if plan and plan[-1][0] == "map":
                plan[-1] = ("map", plan[-1][1] + [item])
            else:
                plan.append(("map", [item]))
        elif kind == "Replace" and len(pattern.get("String", "")) == 2:
            plan.append(("pair", (pattern["String"], item["content"])))
        elif kind == "Replace" and pattern.get("Regex") == " {2,}" and len(item["content"]) == 1:
            plan.append(("collapse", item["content"]))
        elif kind == "Precompiled":
            plan.append(("precompiled", item["precompiled_charsmap"]))
        elif kind == "Strip":
            plan.append(("strip", (item.get("strip_left"), item.get("strip_right"))))
        elif kind in ("NFC", "NFKC"):
            require(False, f"normalizer {kind} is not reproduced: composing reorders and joins "
                           "marks across a run of characters, which no per-character table gives")
        else:
            require(False, f"normalizer {item['type']} {pattern or ''} is not reproduced")
    return [_step(kind, payload) for kind, payload in plan]


def _step(kind: str, payload: Any) -> NormalizerStep:
    if kind == "map":
        return CodePointMap(*code_point_map({"type": "Sequence", "normalizers": payload}))
    if kind == "pair":
        return PairReplacement(*payload)
    if kind == "precompiled":
        blob = base64.b64decode(payload) if isinstance(payload, str) else bytes(payload)
        return PrecompiledMap(read_charsmap(blob))
    if kind == "strip":
        return Strip(*payload)
    return SpaceCollapse(payload)


def code_point_map(normalizer: dict[str, Any]) -> tuple[np.ndarray, tuple[str, ...]]:
    """What a per-character normalizer (JSON form) makes of every code point.

    Returns a value per code point (KEEP, DROP, SPACED for " c ", or an index into the pool)
    and the pool of longer results. Takes a few seconds; cached per normalizer.
    """
    return _code_point_map(json.dumps(normalizer, sort_keys=True))


@functools.cache
def _code_point_map(normalizer_json: str) -> tuple[np.ndarray, tuple[str, ...]]:
    from tokenizers import Tokenizer

    probe = Tokenizer.from_str(json.dumps({
        "version": "1.0", "model": {"type": "WordLevel", "vocab": {"x": 0}, "unk_token": "x"},
        "normalizer": json.loads(normalizer_json),
    }))
    normalize = probe.normalizer.normalize_str
    entries = np.full(UNICODE_END, KEEP, np.int32)
    pool: dict[str, int] = {}
    for cps in code_point_chunks():
        for cp in cps.tolist():
            char = chr(cp)
            out = normalize(char)
            if out != char:
                spaced = out == f" {char} "
                entries[cp] = DROP if not out else SPACED if spaced else pool.setdefault(out, len(pool))
    return entries, tuple(pool)


class ReplacementPool(tf.Module):
    """The strings code points are replaced by, stored flat; `expand` applies them."""

    def __init__(self, replacements: Sequence[str]) -> None:
        super().__init__()
        lengths = np.array([len(r) for r in replacements] or [0], np.int32)
        self._lengths = tf.constant(lengths)
        self._starts = tf.constant(np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int32))
        self._flat = tf.constant(np.array([ord(c) for r in replacements for c in r] + [0], np.int32))

    def expand(self, chars: tf.Tensor, rows: tf.Tensor, entry: tf.Tensor
               ) -> tuple[tf.Tensor, tf.Tensor]:
        """Each code point kept, dropped, set off by spaces or replaced by its pool entry."""
        pooled = entry >= 0
        counts = tf.where(entry == KEEP, 1, tf.where(entry == SPACED, 3, 0))
        counts = tf.where(pooled, tf.gather(self._lengths, tf.maximum(entry, 0)), counts)
        source, offset = repeat_each(counts)
        entry, char = tf.gather(entry, source), tf.gather(chars, source)
        at = tf.gather(self._starts, tf.maximum(entry, 0)) + offset
        pooled = tf.gather(self._flat, tf.where(entry >= 0, at, 0))
        spaced = tf.where(offset == 1, char, ord(" "))
        out = tf.where(entry >= 0, pooled, tf.where(entry == SPACED, spaced, char))
        return out, tf.gather(rows, source)


class CodePointMap(tf.Module):
    """Per-character normalizers: each code point replaced as the table says; markers kept."""

    def __init__(self, entries: np.ndarray, pool: Sequence[str]) -> None:
        super().__init__()
        self._table = CodePointTable(entries, beyond=KEEP)
        self._pool = ReplacementPool(pool)

    def __call__(self, chars: tf.Tensor, rows: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return self._pool.expand(chars, rows, self._table.lookup(chars))


class PairReplacement(tf.Module):
    """Replace of a two-character string: each non-overlapping occurrence, left to right."""

    def __init__(self, pattern: str, content: str) -> None:
        super().__init__()
        self._pattern = (ord(pattern[0]), ord(pattern[1]))
        self._pool = ReplacementPool([content])

    def __call__(self, chars: tf.Tensor, rows: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        first, second = self._pattern
        found = (chars == first) & (shift_left(chars, -1) == second)
        found &= shift_left(rows, -1) == rows
        if first == second:  # "'''" holds two overlapping "''": take the first
            found = every_other_in_runs(found)
        entry = tf.where(found, 0, tf.where(shift_right(found, False), DROP, KEEP))
        return self._pool.expand(chars, rows, entry)


class SpaceCollapse(tf.Module):
    """Replace(" {2,}", c): each run of two spaces or more becomes `c` (one character)."""

    def __init__(self, content: str) -> None:
        super().__init__()
        self._content = ord(content)

    def __call__(self, chars: tf.Tensor, rows: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        space = chars == ord(" ")
        repeated = space & shift_right(space, False) & (shift_right(rows, -1) == rows)
        run_head = space & ~repeated & shift_left(repeated, False)
        chars = tf.where(run_head, self._content, chars)
        return tf.boolean_mask(chars, ~repeated), tf.boolean_mask(rows, ~repeated)


class Strip(tf.Module):
    """Strip: whitespace (Rust's char::is_whitespace) removed at the start and/or end of each
    text between added tokens, as the fast tokenizer normalizes those pieces one by one."""

    def __init__(self, left: bool, right: bool) -> None:
        super().__init__()
        self._left, self._right = bool(left), bool(right)

    def __call__(self, chars: tf.Tensor, rows: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        space = whitespace_mask(chars)
        linked = segment_links(chars, rows)  # whether the character before is of the same piece
        # runs: a character, then the spaces that follow it in its piece
        run, first, end = runs(~(space & linked))
        drop = tf.zeros_like(space)
        if self._left:  # the run opens a piece with a space: all of it leads
            drop |= tf.gather(space & ~linked, tf.gather(first, run))
        if self._right:  # what follows the run starts another piece: its spaces trail
            after = tf.gather(tf.concat([linked, [False]], 0), tf.gather(end, run))
            drop |= space & ~after
        return tf.boolean_mask(chars, ~drop), tf.boolean_mask(rows, ~drop)


class PrecompiledMap(tf.Module):
    """SentencePiece's precompiled character map as Hugging Face's `Precompiled` applies it.

    The text is walked by extended grapheme clusters: a cluster under 6 bytes is replaced whole
    by the replacement of the shortest key that starts it (marks after that key vanish with it);
    otherwise each code point is replaced by its own entry or kept. SentencePiece itself takes
    the longest key at each position instead (docs/tokenizers.md lists where they differ).
    """

    def __init__(self, charsmap: dict[str, str]) -> None:
        super().__init__()
        pool: dict[str, int] = {}
        entries = np.full(UNICODE_END, KEEP, np.int32)
        longer: dict[int, int] = {}
        for key, replacement in charsmap.items():
            entry = DROP if not replacement else pool.setdefault(replacement, len(pool))
            if len(key) == 1:
                entries[ord(key)] = entry
            elif len(key.encode("utf-8")) < 6:
                longer[prefix_key(key.encode("utf-8"))] = entry
        keys = sorted(longer)
        self._table = CodePointTable(entries, beyond=KEEP)
        self._keys = tf.constant(np.array(keys + [np.iinfo(np.int64).max], np.int64))
        self._key_entries = tf.constant(np.array([longer[k] for k in keys] + [KEEP], np.int32))
        self._pool = ReplacementPool(list(pool))
        self._breaks = GraphemeBreaks()

    def __call__(self, chars: tf.Tensor, rows: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        entry = self._table.lookup(chars)
        cluster, first, end = runs(self._breaks(chars, rows))
        width = utf8_width(tf.minimum(chars, UNICODE_END - 1))
        size = tf.math.unsorted_segment_sum(width, cluster, tf.size(first))
        short = positions((end - first >= 2) & (size < 6))  # clusters a whole key can replace
        whole = self._whole_cluster_entries(chars, entry, tf.gather(first, short),
                                            tf.gather(end - first, short))
        replaced = tf.tensor_scatter_nd_update(tf.fill(tf.shape(first), _NONE), short[:, None],
                                               whole)
        mine = tf.gather(replaced, cluster)
        leading = tf.range(tf.size(chars)) == tf.gather(first, cluster)
        entry = tf.where(mine == _NONE, entry, tf.where(leading, mine, DROP))
        return self._pool.expand(chars, rows, entry)

    def _whole_cluster_entries(self, chars: tf.Tensor, entry: tf.Tensor, start: tf.Tensor,
                               length: tf.Tensor) -> tf.Tensor:
        """For clusters starting at `start`, the entry of the shortest key that begins them
        (their first character's, or a key of 2-4 characters), or _NONE."""
        found = tf.gather(entry, start)
        found = tf.where(found == KEEP, _NONE, found)
        packed = tf.zeros_like(start, tf.int64)
        n_bytes = tf.zeros_like(start, tf.int64)
        last = tf.size(chars) - 1
        for k in range(4):  # the first k + 1 characters, packed as `prefix_key` packs them
            char = tf.gather(chars, tf.minimum(start + k, last))
            width = tf.cast(utf8_width(char), tf.int64)
            packed = tf.bitwise.left_shift(packed, 8 * width) | utf8_packed(char)
            n_bytes += width
            if k == 0:
                continue
            key = packed | tf.bitwise.left_shift(n_bytes, 56)
            at = tf.searchsorted(self._keys, key)
            hit = (tf.gather(self._keys, at) == key) & (length > k) & (found == _NONE)
            found = tf.where(hit, tf.gather(self._key_entries, at), found)
        return found
