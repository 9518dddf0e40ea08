"""SentencePiece-style Unigram in the graph must give the fast tokenizer's ids (ALBERT and XLM-R set-ups)."""

import json
import random

import pytest
import tensorflow as tf
import transformers
from serving_checks import fine_tune_export_and_compare
from tokenizer_cases import HARD_TEXTS, assert_same, imdb_texts, rows
from tokenizers import Tokenizer, normalizers

import tfbert  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from benchmarks.train_tokenizer import train_unigram
from tfbert.text_tokenizer import UnsupportedTokenizerError
from tfbert.unigram import UnigramTextTokenizer

EXTRA_TEXTS = [
    "hello <mask> world [MASK] x", "  lead  trail  ", "``x'' '''y''' ````", "", " ", "\u2581",
    "<unk>x<pad>", "e\u0301 \u0301 caf\u00e9 İstanbul ﬁne", "tabs\t\tand\n\nlines", "中文字中文字",
    "the movie was great", "unknown ☃ ⛄ runs ☃☃☃ here",
]
WORDS = ("the movie was great but the plot wasn't that good and I'd say it's a 7/10 "
         "film actors story scene character really quite bad awful boring loved brilliant").split()


def _corpus(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    made = [" ".join(rng.choices(WORDS, k=rng.randint(3, 30))) + rng.choice(".!?") for _ in range(n)]
    return made + HARD_TEXTS * 5


@pytest.fixture(scope="module", params=["albert", "xlmr"])
def unigram(request, tmp_path_factory):
    return train_unigram(tmp_path_factory.mktemp("unigram"), _corpus(400), 500, style=request.param)


@pytest.mark.parametrize("max_length, head_tokens", [(512, None), (9, None), (9, 3), (16, 0)])
def test_matches_fast_tokenizer_on_hard_texts(unigram, max_length, head_tokens):
    tokenizer = UnigramTextTokenizer.from_fast_tokenizer(unigram, max_length, head_tokens)
    assert_same(unigram, tokenizer, HARD_TEXTS + EXTRA_TEXTS, max_length, head_tokens)


def test_matches_in_a_tf_function_and_op_by_op(unigram):
    tokenizer = UnigramTextTokenizer.from_fast_tokenizer(unigram, 64)
    assert_same(unigram, tf.function(lambda t: tokenizer(t)), EXTRA_TEXTS, 64)
    tf.config.run_functions_eagerly(True)
    try:
        assert_same(unigram, tokenizer, EXTRA_TEXTS, 64)
    finally:
        tf.config.run_functions_eagerly(False)


def test_invalid_utf8_and_empty_batch(unigram):
    tokenizer = UnigramTextTokenizer.from_fast_tokenizer(unigram, 64)
    raw = [b"caf\xe9 \xff ok", b"\xed\xa0\x80 surrogate", b"cut \xe2\x82"]
    decoded = [r.decode("utf-8", errors="replace") for r in raw]
    assert rows(tokenizer(tf.constant(raw))) == unigram(decoded, truncation=True,
                                                          max_length=64)["input_ids"]
    assert tuple(tokenizer(tf.constant([], tf.string))["input_ids"].shape) == (0, 2)


def _edited(reference, edit) -> transformers.PreTrainedTokenizerFast:
    config = json.loads(reference.backend_tokenizer.to_str())
    edit(config)
    return type(reference)(tokenizer_object=Tokenizer.from_str(json.dumps(config)))


def test_byte_fallback_spells_unknown_characters_as_bytes(tmp_path):
    reference = train_unigram(tmp_path, _corpus(200), 300, style="xlmr")

    def byte_fallback(config):
        model = config["model"]
        model["vocab"] += [[f"<0x{b:02X}>", -20.0] for b in range(256)]
        model["byte_fallback"] = True

    fallback = _edited(reference, byte_fallback)
    texts = ["unknown ☃ ⛄ runs ☃☃☃ here", "中文 😀", "plain words"]
    assert "<0xE2>" in fallback.convert_ids_to_tokens(fallback(texts[0])["input_ids"])
    assert_same(fallback, UnigramTextTokenizer.from_fast_tokenizer(fallback, 64), texts, 64)


def test_normalizers_it_cannot_copy_are_refused(tmp_path):
    reference = train_unigram(tmp_path, _corpus(200), 300, style="xlmr")
    for normalizer in (normalizers.NFKC(), normalizers.Replace("abc", "x")):
        backend = Tokenizer.from_str(reference.backend_tokenizer.to_str())
        backend.normalizer = normalizer
        with pytest.raises(UnsupportedTokenizerError, match="normalizer"):
            UnigramTextTokenizer.from_fast_tokenizer(type(reference)(tokenizer_object=backend), 16)


def _save_tiny_albert(folder, tokenizer):
    """A 2-layer, hidden-16 random ALBERT classifier with the trained tokenizer."""
    from transformers import AlbertConfig, TFAlbertForSequenceClassification

    config = AlbertConfig(vocab_size=len(tokenizer), embedding_size=8, hidden_size=16,
                          num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                          max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id,
                          num_labels=2)
    model = TFAlbertForSequenceClassification(config)
    model(model.dummy_inputs)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def test_albert_run_exports_a_raw_text_signature(toy_data_dir, tmp_path):
    from conftest import toy_reviews

    texts = toy_reviews(200, seed=4)["text"].tolist() + _corpus(100)
    tokenizer = train_unigram(tmp_path / "unigram", texts, 400, style="albert")
    checkpoint = _save_tiny_albert(tmp_path / "tiny", tokenizer)
    fine_tune_export_and_compare(checkpoint, toy_data_dir, tmp_path / "runs", "SentencePiece Unigram",
                                 HARD_TEXTS + EXTRA_TEXTS + ["good " * 100])


@pytest.fixture(scope="module")
def imdb_unigram(shared_imdb_dir, tmp_path_factory):
    """A 4,000-piece ALBERT-style Unigram trained on IMDb reviews, and 200 test reviews."""
    train, test = imdb_texts(shared_imdb_dir, 3000, 200)
    tokenizer = train_unigram(tmp_path_factory.mktemp("imdb_unigram"),
                              train, 4000)
    return tokenizer, test


@pytest.mark.real_model
@pytest.mark.parametrize("max_length, head_tokens", [(512, None), (128, 31)])
def test_matches_fast_tokenizer_on_imdb_reviews(imdb_unigram, max_length, head_tokens):
    reference, reviews = imdb_unigram
    tokenizer = UnigramTextTokenizer.from_fast_tokenizer(reference, max_length, head_tokens)
    assert_same(reference, tokenizer, reviews, max_length, head_tokens)
