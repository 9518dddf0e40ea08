"""In-graph tokenizers: a Hugging Face fast tokenizer rebuilt from core TensorFlow ops.

Modules follow the stages of `tokenizers`: `tokenizer_json` (reading it: added tokens, the
post-processor's layout, refusals), `unicode_tables`, `normalizers`, `trie` (the vocabulary),
`graph_ops` (tensor helpers), `base` (the pipeline), one module per model family with its
pre-tokenizer (`wordpiece`, `byte_level_bpe`, `unigram`), and `truncation` (the cut rules training
shares, and the special tokens laid out around one text or a pair).
"""

from __future__ import annotations

from typing import Any

from tfbert.tokenizers.base import InGraphTokenizer
from tfbert.tokenizers.tokenizer_json import UnsupportedTokenizerError, backend_config
from tfbert.tokenizers.truncation import head_budget

__all__ = ["InGraphTokenizer", "UnsupportedTokenizerError", "in_graph_tokenizer"]


def in_graph_tokenizer(tokenizer: Any, max_length: int, truncation: str = "head",
                       head_tokens: int | None = None, pair: bool = False) -> InGraphTokenizer:
    """The in-graph copy of a fast tokenizer, of the family its declared model names.

    Texts are cut as training cuts them (`truncation`, `head_tokens` as in `DataConfig`); with
    `pair`, the copy takes (texts, text_pairs), `truncation` being "head" (= "longest_first"),
    "longest_first", "only_first" or "only_second". The special tokens are counted once, from
    the tokenizer's own post-processor.

    Raises:
        UnsupportedTokenizerError: no family reproduces the tokenizer exactly.
        ValueError: a cut that does not fit (a pair with head_tokens, a one-text truncation).
    """
    from tfbert.tokenizers.byte_level_bpe import ByteLevelBpeTokenizer
    from tfbert.tokenizers.unigram import UnigramTextTokenizer
    from tfbert.tokenizers.wordpiece import BertTextTokenizer

    families = {f.model_type: f for f in (BertTextTokenizer, ByteLevelBpeTokenizer, UnigramTextTokenizer)}
    kind = backend_config(tokenizer)["model"].get("type")
    family = families.get(kind)
    if family is None:
        raise UnsupportedTokenizerError(f"no in-graph tokenizer for {kind}")
    if pair:
        strategy = "longest_first" if truncation == "head" else truncation
        return family.from_fast_tokenizer(tokenizer, max_length, head_tokens, strategy)
    text_tokenizer = family.from_fast_tokenizer(tokenizer, max_length)
    text_tokenizer.set_head_tokens(head_budget(truncation, head_tokens, text_tokenizer.budget))
    return text_tokenizer
