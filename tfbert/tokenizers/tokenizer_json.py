"""Reading a fast tokenizer's JSON form: added tokens, the post-processor's layout, refusals.

What every family needs besides its normalizer, pre-tokenizer and model is gathered in a `Frame`;
whatever no family reproduces exactly raises `UnsupportedTokenizerError`, so the export keeps
only its token-id signature rather than serve different ids.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from tfbert.codepoints.unicode_tables import WHITESPACE


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
class Layout:
    """Where the post-processor puts special tokens around one text or a pair, with type ids."""

    specials: tuple[tuple[tuple[int, int], ...], ...]  # (id, type id)s before, between, after
    types: tuple[int, ...]  # the type id of each text's tokens

    @property
    def n_special(self) -> int:
        return sum(len(group) for group in self.specials)


@dataclasses.dataclass(frozen=True)
class Frame:
    """What every family needs besides its model: special and added tokens."""

    post_processor: dict[str, Any] | None  # tokenizer.json's, read by `read_layout` when needed
    pad_id: int
    raw_tokens: tuple[AddedToken, ...]  # added tokens matched in the raw text
    normalized_tokens: tuple[AddedToken, ...]  # added tokens matched after normalization

    @property
    def added_ids(self) -> list[int]:
        """Ids of the added tokens in marker order: marker UNICODE_END + i stands for the i-th."""
        return [token.id for token in self.raw_tokens + self.normalized_tokens]


def read_frame(tokenizer: Any, config: dict[str, Any]) -> Frame:
    """Special and added tokens of a fast tokenizer, from its JSON form `config`."""
    raw, normalized = _added_tokens(config)
    normalizer = tokenizer.backend_tokenizer.normalizer
    if normalizer is not None:  # "normalized" tokens are looked for in normalized form
        normalized = [dataclasses.replace(t, content=normalizer.normalize_str(t.content))
                      for t in normalized]
        normalized = [t for t in normalized if t.content]
    _check_no_overlap([t.content for t in raw])
    _check_no_overlap([t.content for t in normalized])
    pad_id = tokenizer.pad_token_id
    return Frame(config.get("post_processor"), 0 if pad_id is None else int(pad_id), tuple(raw),
                 tuple(normalized))


def read_layout(post: dict[str, Any] | None, pair: bool) -> Layout:
    """Special tokens and type ids of tokenizers' post-processors, for one text or a pair."""
    if post is not None and post["type"] == "Sequence":  # e.g. ByteLevel (offsets only), a template
        wrapping = [p for p in post["processors"] if p["type"] != "ByteLevel"]
        require(len(wrapping) <= 1, "post-processor sequence adds tokens twice")
        return read_layout(wrapping[0] if wrapping else None, pair)
    if post is None:  # the fast tokenizer gives the second text type id 1, training gives 0
        require(not pair, "no post-processor to say a pair's type ids")
        return Layout(((), ()), (0,))
    if post["type"] in ("BertProcessing", "RobertaProcessing"):
        cls, sep = ((int(post[key][1]), 0) for key in ("cls", "sep"))
        if not pair:
            return Layout(((cls,), (sep,)), (0,))
        if post["type"] == "BertProcessing":  # [CLS] A [SEP] B [SEP], B's part type id 1
            return Layout(((cls,), (sep,), ((sep[0], 1),)), (0, 1))
        return Layout(((cls,), (sep, sep), (sep,)), (0, 0))  # <s> A </s></s> B </s>, all 0
    require(post["type"] == "TemplateProcessing", f"unsupported post-processor {post['type']}")
    groups, texts = [()], []
    for piece in post["pair" if pair else "single"]:
        if "Sequence" in piece:
            texts.append((piece["Sequence"]["id"], piece["Sequence"]["type_id"]))
            groups.append(())
        else:
            special = piece["SpecialToken"]
            groups[-1] += tuple((i, special["type_id"]) for i in post["special_tokens"][special["id"]]["ids"])
    require([name for name, _ in texts] == ["A", "B"][: 1 + pair],
            "post-processor template is not the text(s) in order, once each")
    return Layout(tuple(groups), tuple(type_id for _, type_id in texts))


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
