"""Normalizers as graph steps: code point maps, two-character replacements, the space collapse.

A normalizer that works character by character (BertNormalizer, NFD/NFKD, StripAccents,
Lowercase, one-character Replace) is run on every code point at build time; what each becomes
(itself, nothing, " c ", or a string from a pool) fills one table. Consecutive such normalizers
are run together, so their results compose. The one exception is the canonical reordering inside
NFD, which only moves combining marks that stripping accents then drops, except for a few rare Mc
musical/Indic signs. NFC/NFKC composition and SentencePiece's precompiled map are not per
character and are refused.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tfbert.tokenizers.graph_ops import every_other_in_runs, repeat_each, shift_left, shift_right
from tfbert.tokenizers.tokenizer_json import require
from tfbert.tokenizers.unicode_tables import UNICODE_END, CodePointTable, code_point_chunks

KEEP, DROP, SPACED = -1, -2, -3  # what a code point becomes, besides an entry of the pool
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
        elif kind == "Replace" and pattern.get("Regex") == " {2,}" and item["content"] == " ":
            plan.append(("collapse", None))
        else:
            require(False, f"normalizer {item['type']} {pattern or ''} is not reproduced")
    steps: list[NormalizerStep] = []
    for kind, payload in plan:
        if kind == "map":
            steps.append(CodePointMap(*code_point_map({"type": "Sequence", "normalizers": payload})))
        elif kind == "pair":
            steps.append(PairReplacement(*payload))
        else:
            steps.append(collapse_spaces)
    return steps


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


def collapse_spaces(chars: tf.Tensor, rows: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Replace(" {2,}", " "): runs of spaces become one."""
    repeated = (chars == ord(" ")) & shift_right(chars == ord(" "), False)
    repeated &= shift_right(rows, -1) == rows
    return tf.boolean_mask(chars, ~repeated), tf.boolean_mask(rows, ~repeated)
