"""In-graph tokenizers: a Hugging Face fast tokenizer rebuilt from core TensorFlow ops.

A SavedModel holding one takes raw strings in stock TF Serving (no tensorflow_text, no
transformers). The modules follow the stages of Hugging Face `tokenizers`: `tokenizer_json`
(reading the JSON form: added tokens, the post-processor's special tokens, refusals),
`unicode_tables` (per-code-point tables), `normalizers`, `trie` (the vocabulary), `graph_ops`
(shared tensor helpers), `base` (the pipeline: added tokens, reachability, special tokens,
padding) and one module per model family with its pre-tokenizer: `wordpiece`, `byte_level_bpe`,
`unigram`. `truncation` is the head/tail rule training shares.
"""

from __future__ import annotations

from typing import Any

from tfbert.tokenizers.base import InGraphTokenizer
from tfbert.tokenizers.tokenizer_json import UnsupportedTokenizerError, backend_config
from tfbert.tokenizers.truncation import head_budget

__all__ = ["InGraphTokenizer", "UnsupportedTokenizerError", "in_graph_tokenizer"]


def in_graph_tokenizer(tokenizer: Any, max_length: int, truncation: str = "head",
                       head_tokens: int | None = None) -> InGraphTokenizer:
    """The in-graph copy of a fast tokenizer, of the family its declared model names.

    Texts are cut as training cuts them (`truncation`, `head_tokens` as in `DataConfig`); the
    special tokens are counted once, from the tokenizer's own post-processor.

    Raises:
        UnsupportedTokenizerError: no family reproduces the tokenizer exactly.
    """
    from tfbert.tokenizers.byte_level_bpe import ByteLevelBpeTokenizer
    from tfbert.tokenizers.unigram import UnigramTextTokenizer
    from tfbert.tokenizers.wordpiece import BertTextTokenizer

    families = {"WordPiece": BertTextTokenizer, "BPE": ByteLevelBpeTokenizer,
                "Unigram": UnigramTextTokenizer}
    kind = backend_config(tokenizer)["model"].get("type")
    family = families.get(kind)
    if family is None:
        raise UnsupportedTokenizerError(f"no in-graph tokenizer for {kind}")
    text_tokenizer = family.from_fast_tokenizer(tokenizer, max_length)
    text_tokenizer.set_head_tokens(head_budget(truncation, head_tokens, text_tokenizer.budget))
    return text_tokenizer
