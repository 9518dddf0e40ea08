"""Long texts as the fast tokenizer's own overflow windows (`return_overflowing_tokens`), capped
per text; for a pair, the first text is windowed and the second kept whole in every window.
`window_starts` states the rule `truncation.cut_windows` follows in the served graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tfbert.base.errors import DataError


@dataclass(frozen=True)
class Windows:
    """Windows in text order: `encoded[key][w]` is window w's row, `text_ids[w]` its text, and
    `capped` the texts that had more than `max_windows` (their tails are not read)."""

    encoded: dict[str, list[list[int]]]
    text_ids: np.ndarray
    capped: np.ndarray


def window_starts(tokens: int, budget: int, stride: int) -> list[int]:
    """Where each window of a text of `tokens` tokens starts, `budget` tokens per window (the
    specials excluded) and `stride` shared: the rule of tokenizers' overflow."""
    if budget <= stride:
        raise ValueError(f"a window of {budget} tokens cannot share {stride} with the next")
    step = budget - stride
    return list(range(0, max(tokens - budget, 0) + step, step))


def _check_pairs_fit(tokenizer, text_pairs: Sequence[str], max_length: int, stride: int) -> None:
    """Refuses a pair whose second text leaves the first no window wider than the stride."""
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
    if text_pairs is not None:  # (one text: `DataConfig` keeps the stride under the budget)
        _check_pairs_fit(tokenizer, text_pairs, max_length, stride)
    encoded = tokenizer(list(texts), None if text_pairs is None else list(text_pairs),
                        truncation="only_first" if text_pairs is not None else True,
                        max_length=max_length, stride=stride, return_overflowing_tokens=True,
                        verbose=False)
    owners = np.asarray(encoded["overflow_to_sample_mapping"], dtype=np.int64)
    # Keep a window whose place among its text's (windows come in text order) is < max_windows.
    rows = np.flatnonzero(np.arange(len(owners)) - np.searchsorted(owners, owners) < max_windows)
    counts = np.bincount(owners, minlength=len(texts))
    kept = {key: [encoded[key][w] for w in rows] for key in tokenizer.model_input_names}
    return Windows(kept, owners[rows], np.flatnonzero(counts > max_windows))
