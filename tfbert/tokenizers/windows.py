"""Long texts as overlapping windows: the fast tokenizer's own overflow windows, capped per text.

A text longer than `max_length` tokens becomes windows of `max_length` tokens (specials
included) whose neighbours share `stride` tokens, as `tokenizer(..., stride=...,
return_overflowing_tokens=True)` cuts them. For a pair the first text is windowed and the
second is kept whole in every window. `window_starts` states the rule, so the served graph
can cut the same windows without `transformers`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tfbert.base.errors import DataError


@dataclass(frozen=True)
class Windows:
    """The windows of a batch of texts, in text order.

    `encoded[key][w]` is window `w`'s token row, `text_ids[w]` the index of its text, and
    `capped` the indices of the texts that had more than `max_windows` windows (their tails
    were not read).
    """

    encoded: dict[str, list[list[int]]]
    text_ids: np.ndarray
    capped: np.ndarray


def window_starts(tokens: int, budget: int, stride: int) -> list[int]:
    """Where each window of a text of `tokens` tokens starts, `budget` tokens per window (the
    specials excluded) and `stride` shared: the rule of tokenizers' overflow."""
    if budget <= stride:
        raise ValueError(f"a window of {budget} tokens cannot share {stride} with the next")
    if tokens <= budget:
        return [0]
    step = budget - stride
    return list(range(0, tokens - budget + step, step))


def _check_pairs_fit(tokenizer, text_pairs: Sequence[str], max_length: int, stride: int) -> None:
    """Refuses a pair whose second text leaves the first no room for a window wider than the
    stride (the fast tokenizer would fail, or loop, on it)."""
    room = max_length - tokenizer.num_special_tokens_to_add(pair=True) - stride
    seconds = tokenizer(list(text_pairs), add_special_tokens=False, verbose=False)["input_ids"]
    for row, ids in enumerate(seconds):
        if len(ids) >= room:
            raise DataError(
                f"pair {row}: the second text has {len(ids)} tokens; windows of the first need "
                f"it under {room} (--max-length {max_length} less the specials and "
                f"--window-stride {stride}). Shorten it, or raise --max-length")


def encode_windows(tokenizer, texts: Sequence[str], text_pairs: Sequence[str] | None,
                   max_length: int, stride: int, max_windows: int) -> Windows:
    """Each text's overflow windows (the first `max_windows`), with the model's specials."""
    if text_pairs is not None:
        _check_pairs_fit(tokenizer, text_pairs, max_length, stride)
    elif max_length - tokenizer.num_special_tokens_to_add() <= stride:
        raise DataError(f"--window-stride {stride} leaves no new tokens in windows of "
                        f"--max-length {max_length}")
    encoded = tokenizer(list(texts), None if text_pairs is None else list(text_pairs),
                        truncation="only_first" if text_pairs is not None else True,
                        max_length=max_length, stride=stride, return_overflowing_tokens=True,
                        verbose=False)
    owners = np.asarray(encoded["overflow_to_sample_mapping"], dtype=np.int64)
    # A window's place among its text's windows: 0, 1, ... (the windows come in text order).
    firsts = np.searchsorted(owners, owners, side="left")
    keep = (np.arange(len(owners)) - firsts) < max_windows
    counts = np.bincount(owners, minlength=len(texts))
    rows = np.flatnonzero(keep)
    kept = {key: [encoded[key][w] for w in rows] for key in tokenizer.model_input_names}
    return Windows(kept, owners[rows], np.flatnonzero(counts > max_windows))
