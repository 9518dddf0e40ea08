"""Byte-level BPE in the graph must give RoBERTa's fast tokenizer's ids, trained here on real text."""

import random

import pytest
import tensorflow as tf
from serving_checks import fine_tune_export_and_compare
from tokenizer_cases import HARD_TEXTS, assert_same, imdb_texts, rows
from tokenizers import Tokenizer, normalizers

import tfbert  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from benchmarks.train_tokenizer import train_byte_level_bpe
from tfbert.byte_level_bpe import ByteLevelBpeTokenizer
from tfbert.text_tokenizer import UnsupportedTokenizerError

EXTRA_TEXTS = [
    "hello <mask> world<mask>x", "  <mask>  a", "<mask>", "a <mask>\t<mask> b",
    "it's 'sand ''s x\n y é a  b\n\nc", "'re 'Re 'll 'lL y'all we've I'm he'd", "'s", "''",
    " ", "x  ", "  leading and trailing  ", "<s>a</s> <pad> <unk>", "a\u3000b\u00a0c\u2028d",
    "numbers 1,000.5 ٣٤ ½ ⅷ 10th", "mixed ab12cd!?ef", "\n\n\n", "tab\t\tx",
]
WORDS = ("the movie was great but the plot wasn't that good and I'd say it's a 7/10 "
         "film actors story scene character really quite bad awful boring loved brilliant").split()


def _corpus(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    made = [" ".join(rng.choices(WORDS, k=rng.randint(3, 30))) + rng.choice(".!?") for _ in range(n)]
    return made + HARD_TEXTS * 5


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "prefix-space"])
def roberta(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bpe")
    return train_byte_level_bpe(folder, _corpus(400), 600, add_prefix_space=request.param)


@pytest.mark.parametrize("max_length", [512, 9])
def test_matches_fast_tokenizer_on_hard_texts(roberta, max_length):
    tokenizer = ByteLevelBpeTokenizer.from_fast_tokenizer(roberta, max_length)
    assert_same(roberta, tokenizer, HARD_TEXTS + EXTRA_TEXTS, max_length)


@pytest.mark.parametrize("max_length, head_tokens", [(9, 0), (9, 3), (16, 5), (512, 100)])
def test_keeps_head_and_tail_like_training(roberta, max_length, head_tokens):
    tokenizer = ByteLevelBpeTokenizer.from_fast_tokenizer(roberta, max_length, head_tokens)
    assert_same(roberta, tokenizer, HARD_TEXTS + EXTRA_TEXTS, max_length, head_tokens)


def test_matches_in_a_tf_function_and_op_by_op(roberta):
    tokenizer = ByteLevelBpeTokenizer.from_fast_tokenizer(roberta, 64)
    assert_same(roberta, tf.function(lambda t: tokenizer(t)), EXTRA_TEXTS, 64)
    tf.config.run_functions_eagerly(True)
    try:
        assert_same(roberta, tokenizer, EXTRA_TEXTS, 64)
    finally:
        tf.config.run_functions_eagerly(False)


def test_invalid_utf8_is_replaced(roberta):
    raw = [b"caf\xe9 \xff ok", b"\xed\xa0\x80 surrogate", b"cut \xe2\x82", b"over\xc0\xaflong"]
    encoded = ByteLevelBpeTokenizer.from_fast_tokenizer(roberta, 64)(tf.constant(raw))
    decoded = [r.decode("utf-8", errors="replace") for r in raw]
    assert rows(encoded) == roberta(decoded, truncation=True, max_length=64)["input_ids"]


def test_empty_batch(roberta):
    encoded = ByteLevelBpeTokenizer.from_fast_tokenizer(roberta, 32)(tf.constant([], tf.string))
    assert tuple(encoded["input_ids"].shape) == (0, 2)


def test_tokenizers_it_cannot_copy_are_refused(roberta):
    config = roberta.backend_tokenizer.to_str()
    with_normalizer = Tokenizer.from_str(config)
    with_normalizer.normalizer = normalizers.Lowercase()
    import transformers

    wrapped = transformers.PreTrainedTokenizerFast(tokenizer_object=with_normalizer)
    with pytest.raises(UnsupportedTokenizerError, match="normalizer"):
        ByteLevelBpeTokenizer.from_fast_tokenizer(wrapped, 16)


def _save_tiny_roberta(folder, tokenizer):
    """A 2-layer, hidden-16 random RoBERTa classifier with the trained tokenizer."""
    from transformers import RobertaConfig, TFRobertaForSequenceClassification

    config = RobertaConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=2,
                           num_attention_heads=2, intermediate_size=32,
                           max_position_embeddings=40, pad_token_id=tokenizer.pad_token_id,
                           bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                           num_labels=2)
    model = TFRobertaForSequenceClassification(config)
    model(model.dummy_inputs)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def test_roberta_run_exports_a_raw_text_signature(toy_data_dir, tmp_path):
    from conftest import toy_reviews

    texts = toy_reviews(200, seed=4)["text"].tolist() + _corpus(100)
    tokenizer = train_byte_level_bpe(tmp_path / "bpe", texts, 500)
    checkpoint = _save_tiny_roberta(tmp_path / "tiny", tokenizer)
    fine_tune_export_and_compare(checkpoint, toy_data_dir, tmp_path / "runs", "byte-level BPE",
                                 HARD_TEXTS + EXTRA_TEXTS + ["good " * 100])


@pytest.fixture(scope="module")
def imdb_bpe(shared_imdb_dir, tmp_path_factory):
    """A 4,000-token byte-level BPE trained on IMDb reviews, and 200 test reviews it did not see."""
    train, test = imdb_texts(shared_imdb_dir, 5000, 200)
    tokenizer = train_byte_level_bpe(tmp_path_factory.mktemp("imdb_bpe"),
                                     train, 4000)
    return tokenizer, test


@pytest.mark.real_model
@pytest.mark.parametrize("max_length, head_tokens", [(512, None), (128, 31)])
def test_matches_fast_tokenizer_on_imdb_reviews(imdb_bpe, max_length, head_tokens):
    reference, reviews = imdb_bpe
    tokenizer = ByteLevelBpeTokenizer.from_fast_tokenizer(reference, max_length, head_tokens)
    assert_same(reference, tokenizer, reviews, max_length, head_tokens)
    if head_tokens is not None:
        assert sum(len(r) == max_length for r in rows(tokenizer(reviews))) > 50  # really cut
