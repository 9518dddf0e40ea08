"""How a too-long text is cut: one rule for training (the fast tokenizer) and serving (the graph)."""

from __future__ import annotations


def head_budget(truncation: str, head_tokens: int | None, budget: int) -> int:
    """How many of the `budget` content tokens a too-long text keeps from its start.

    The rest come from its end. "head+tail" keeps a quarter from the start unless told
    otherwise: reviews tend to state their verdict at the end (Sun et al., 2019, kept the
    first 128 and last 382 of 512 tokens for IMDb). The values are the user's, checked once
    by `DataConfig`.
    """
    if truncation == "head":
        return budget
    if truncation == "tail":
        return 0
    return budget // 4 if head_tokens is None else head_tokens


def keep_head_and_tail(ids: list[int], head: int, budget: int) -> list[int]:
    """The first `head` and last `budget - head` ids when there are more than `budget`."""
    if len(ids) <= budget:
        return ids
    return ids[:head] + ids[len(ids) - (budget - head):]
