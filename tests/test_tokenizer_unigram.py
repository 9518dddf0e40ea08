"""SentencePiece Unigram only: byte fallback, refusals (a tiny ALBERT, XLM-R and DeBERTa-v2 are
fine-tuned and served in test_tokenizer_precompiled.py).

The cases every family shares are in test_tokenizer_families.py.
"""

import json

import pytest
import transformers
from tokenizer_builders import train_unigram
from tokenizer_cases import assert_same, corpus
from tokenizers import Tokenizer, normalizers

import tfbert  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from tfbert.tokenizers import UnsupportedTokenizerError
from tfbert.tokenizers.unigram import UnigramTextTokenizer


def _edited(reference, edit) -> transformers.PreTrainedTokenizerFast:
    config = json.loads(reference.backend_tokenizer.to_str())
    edit(config)
    return type(reference)(tokenizer_object=Tokenizer.from_str(json.dumps(config)))


def test_byte_fallback_spells_unknown_characters_as_bytes(tmp_path):
    reference = train_unigram(tmp_path, corpus(200), 300, style="xlmr")

    def byte_fallback(config):
        model = config["model"]
        model["vocab"] += [[f"<0x{b:02X}>", -20.0] for b in range(256)]
        model["byte_fallback"] = True

    fallback = _edited(reference, byte_fallback)
    texts = ["unknown ☃ ⛄ runs ☃☃☃ here", "中文 😀", "plain words"]
    assert "<0xE2>" in fallback.convert_ids_to_tokens(fallback(texts[0])["input_ids"])
    assert_same(fallback, UnigramTextTokenizer.from_fast_tokenizer(fallback, 64), texts, 64)


def test_normalizers_it_cannot_copy_are_refused(tmp_path):
    reference = train_unigram(tmp_path, corpus(200), 300, style="xlmr")
    for normalizer in (normalizers.NFKC(), normalizers.Replace("abc", "x")):
        backend = Tokenizer.from_str(reference.backend_tokenizer.to_str())
        backend.normalizer = normalizer
        with pytest.raises(UnsupportedTokenizerError, match="normalizer"):
            UnigramTextTokenizer.from_fast_tokenizer(type(reference)(tokenizer_object=backend), 16)
