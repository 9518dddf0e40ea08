"""Reading a fast tokenizer's JSON form: its added tokens and its post-processor's special tokens.

What every family needs besides its own normalizer, pre-tokenizer and model is gathered in a
`Frame`; anything no family reproduces exactly raises `UnsupportedTokenizerError`, so the export
keeps only its token-id signature instead of serving different ids.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from tfbert.tokenizers.unicode_tables import WHITESPACE


class UnsupportedTokenizerError(ValueError):
    """The fast tokenizer does something no in-graph tokenizer reproduces exactly."""


def require(condition: bool, message: str) -> None:
    """Refuses the tokenizer with `message` unless `condition` holds."""
    if not condition:
        raise UnsupportedTokenizerError(message)


def backend_config(tokenizer: Any) -> dict[str, Any]:
    """The JSON form of a transformers fast tokenizer; refuses slow (Python) tokenizers."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    require(backend is not None, "not a fast (Rust-backed) tokenizer")
    return json.loads(backend.to_str())


@dataclasses.dataclass(frozen=True)
class AddedToken:
    """A token the fast tokenizer matches in the text before pre-tokenization."""

    content: str
    id: int
    lstrip: bool = False  # also eats the whitespace just before it
    rstrip: bool = False  # ... and just after it


@dataclasses.dataclass(frozen=True)
class Frame:
    """What every family needs besides its model: special and added tokens."""

    prefix_ids: tuple[int, ...]  # what the post-processor puts before the text ([CLS], <s>)
    suffix_ids: tuple[int, ...]  # ... and after it ([SEP], </s>)
    pad_id: int
    raw_tokens: tuple[AddedToken, ...]  # added tokens matched in the raw text
    normalized_tokens: tuple[AddedToken, ...]  # added tokens matched after normalization

    @property
    def added_ids(self) -> list[int]:
        """Ids of the added tokens in marker order: marker UNICODE_END + i stands for the i-th."""
        return [token.id for token in self.raw_tokens + self.normalized_tokens]


def read_frame(tokenizer: Any, config: dict[str, Any]) -> Frame:
    """Special and added tokens of a fast tokenizer, from its JSON form `config`."""
    prefix, suffix = _special_ids(config.get("post_processor"))
    raw, normalized = _added_tokens(config)
    normalizer = tokenizer.backend_tokenizer.normalizer
    if normalizer is not None:  # "normalized" tokens are looked for in normalized form
        normalized = [dataclasses.replace(t, content=normalizer.normalize_str(t.content))
                      for t in normalized]
        normalized = [t for t in normalized if t.content]
    _check_no_overlap([t.content for t in raw])
    _check_no_overlap([t.content for t in normalized])
    pad_id = tokenizer.pad_token_id
    return Frame(prefix, suffix, 0 if pad_id is None else int(pad_id), tuple(raw),
                 tuple(normalized))


def _special_ids(post: dict[str, Any] | None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Ids the post-processor puts before and after one sequence."""
    if post is None:
        return (), ()
    if post["type"] == "Sequence":  # e.g. ByteLevel (offsets only) then a template
        wrapping = [p for p in post["processors"] if p["type"] != "ByteLevel"]
        require(len(wrapping) <= 1, "post-processor sequence adds tokens twice")
        return _special_ids(wrapping[0] if wrapping else None)
    if post["type"] in ("BertProcessing", "RobertaProcessing"):
        return (int(post["cls"][1]),), (int(post["sep"][1]),)
    require(post["type"] == "TemplateProcessing", f"unsupported post-processor {post['type']}")
    single = post["single"]
    sequences = [i for i, p in enumerate(single) if "Sequence" in p]
    require(len(sequences) == 1, "post-processor template is not one sequence")
    at = sequences[0]
    require(single[at]["Sequence"]["type_id"] == 0, "post-processor gives the text a type id")
    return _template_ids(post, single[:at]), _template_ids(post, single[at + 1:])


def _template_ids(post: dict[str, Any], side: list[dict[str, Any]]) -> tuple[int, ...]:
    ids = []
    for piece in side:
        require("SpecialToken" in piece, "post-processor has more than one sequence")
        special = piece["SpecialToken"]
        require(special["type_id"] == 0, "post-processor gives special tokens a type id")
        ids += post["special_tokens"][special["id"]]["ids"]
    return tuple(int(i) for i in ids)


def _added_tokens(config: dict[str, Any]) -> tuple[list[AddedToken], list[AddedToken]]:
    """Added tokens split into those matched in the raw text and those matched once normalized."""
    raw, normalized = [], []
    for token in config.get("added_tokens") or []:
        content = token["content"]
        require(not token.get("single_word"), f"added token {content!r} uses single_word")
        if not content:
            continue
        strips = token.get("lstrip") or token.get("rstrip")
        edges = (ord(content[0]), ord(content[-1]))
        require(not (strips and set(edges) & set(WHITESPACE)),
                f"added token {content!r} strips whitespace and has some at its edge")
        added = AddedToken(content, int(token["id"]), bool(token.get("lstrip")),
                           bool(token.get("rstrip")))
        (normalized if token.get("normalized") else raw).append(added)
    return raw, normalized


def _check_no_overlap(patterns: Sequence[str]) -> None:
    """Added tokens must not overlap in any text, so that every occurrence is a match."""
    for a in patterns:
        for b in patterns:
            require(a == b or a not in b, f"added token {a!r} is inside {b!r}")
            borders = any(a.endswith(b[:i]) for i in range(1, min(len(a), len(b))))
            require(not borders, f"added tokens {a!r} and {b!r} can overlap")
