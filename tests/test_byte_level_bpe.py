"""Byte-level BPE in the graph must give RoBERTa's fast tokenizer's ids, trained here on real text."""

import random

import numpy as np
import pytest
import tensorflow as tf
from serving_checks import TENSORFLOW_TEXT_OPS, stock_serving_report
from tokenizer_cases import HARD_TEXTS, assert_same, expected_ids, rows
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
    from transformers import AutoTokenizer

    from tfbert import train
    from tfbert.config import DataConfig, ModelConfig, OutputConfig, RunConfig, TrainConfig

    texts = toy_reviews(200, seed=4)["text"].tolist() + _corpus(100)
    tokenizer = train_byte_level_bpe(tmp_path / "bpe", texts, 500)
    checkpoint = _save_tiny_roberta(tmp_path / "tiny_roberta", tokenizer)
    cfg = RunConfig(
        data=DataConfig(sources=(str(toy_data_dir),), max_length=32, truncation="head+tail"),
        model=ModelConfig(name_or_path=str(checkpoint)),
        train=TrainConfig(epochs=1, batch_size=32, early_stopping_patience=None),
        output=OutputConfig(output_dir=str(tmp_path / "runs"), run_name="roberta"),
    )
    result = train.run(cfg)
    export = result.run_dir / "export" / "classifier" / "1"
    assert "tokenized in the graph (byte-level BPE)" in (export.parent / "README.md").read_text()
    loaded = tf.saved_model.load(str(export))
    served = HARD_TEXTS + EXTRA_TEXTS + ["good " * 100]
    by_text = loaded.signatures["serving_default"](text=tf.constant(served))
    reference = AutoTokenizer.from_pretrained(str(result.run_dir))
    ids = expected_ids(reference, served, 32, head_tokens=(32 - 2) // 4)  # head+tail's default
    width = max(len(i) for i in ids)
    padded = [i + [reference.pad_token_id] * (width - len(i)) for i in ids]
    mask = [[1] * len(i) + [0] * (width - len(i)) for i in ids]
    by_ids = loaded.signatures["token_ids"](input_ids=tf.constant(padded, tf.int32),
                                            attention_mask=tf.constant(mask, tf.int32))
    np.testing.assert_allclose(by_text["logits"], by_ids["logits"], atol=1e-5)
    stock = stock_serving_report(export, served[:8])  # core ops only, no transformers
    assert stock["missing"] == [] and not set(stock["ops"]) & TENSORFLOW_TEXT_OPS
    np.testing.assert_allclose(stock["probabilities"], by_text["probabilities"][:8], atol=1e-5)


@pytest.fixture(scope="module")
def imdb_bpe(shared_imdb_dir, tmp_path_factory):
    """A 4,000-token byte-level BPE trained on IMDb reviews, and 200 test reviews it did not see."""
    import pandas as pd

    train = pd.read_parquet(shared_imdb_dir / "train.parquet", columns=["text"])["text"]
    test = pd.read_parquet(shared_imdb_dir / "test.parquet", columns=["text"])["text"]
    tokenizer = train_byte_level_bpe(tmp_path_factory.mktemp("imdb_bpe"),
                                     train.sample(n=5000, random_state=3).tolist(), 4000)
    return tokenizer, test.sample(n=200, random_state=7).tolist()


@pytest.mark.real_model
@pytest.mark.parametrize("max_length, head_tokens", [(512, None), (128, 31)])
def test_matches_fast_tokenizer_on_imdb_reviews(imdb_bpe, max_length, head_tokens):
    reference, reviews = imdb_bpe
    tokenizer = ByteLevelBpeTokenizer.from_fast_tokenizer(reference, max_length, head_tokens)
    assert_same(reference, tokenizer, reviews, max_length, head_tokens)
    if head_tokens is not None:
        assert sum(len(r) == max_length for r in rows(tokenizer(reviews))) > 50  # really cut
