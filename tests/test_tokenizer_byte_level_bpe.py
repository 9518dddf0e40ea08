"""Byte-level BPE only: refusals, and a tiny RoBERTa fine-tuned, exported and served.

The cases every family shares are in test_tokenizer_families.py.
"""

import pytest
import transformers
from serving_checks import fine_tune_export_and_compare
from tokenizer_builders import save_tiny_classifier, train_byte_level_bpe
from tokenizer_cases import EXTRA_TEXTS, HARD_TEXTS, corpus
from tokenizers import Tokenizer, normalizers

import tfbert  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from tfbert.tokenizers import UnsupportedTokenizerError
from tfbert.tokenizers.byte_level_bpe import ByteLevelBpeTokenizer


@pytest.mark.parametrize("add_prefix_space", [False, True], ids=["plain", "prefix-space"])
def test_tokenizers_it_cannot_copy_are_refused(tmp_path, add_prefix_space):
    roberta = train_byte_level_bpe(tmp_path, corpus(400), 600, add_prefix_space=add_prefix_space)
    with_normalizer = Tokenizer.from_str(roberta.backend_tokenizer.to_str())
    with_normalizer.normalizer = normalizers.Lowercase()
    wrapped = transformers.PreTrainedTokenizerFast(tokenizer_object=with_normalizer)
    with pytest.raises(UnsupportedTokenizerError, match="normalizer"):
        ByteLevelBpeTokenizer.from_fast_tokenizer(wrapped, 16)


def test_roberta_run_exports_a_raw_text_signature(toy_data_dir, tmp_path):
    from conftest import toy_reviews

    texts = toy_reviews(200, seed=4)["text"].tolist() + corpus(100)
    tokenizer = train_byte_level_bpe(tmp_path / "bpe", texts, 500)
    checkpoint = save_tiny_classifier(tmp_path / "tiny", tokenizer, "roberta",
                                      max_position_embeddings=40,
                                      bos_token_id=tokenizer.bos_token_id,
                                      eos_token_id=tokenizer.eos_token_id)
    fine_tune_export_and_compare(checkpoint, toy_data_dir, tmp_path / "runs", "byte-level BPE",
                                 HARD_TEXTS + EXTRA_TEXTS + ["good " * 100])
