"""Every in-graph tokenizer family must give its fast tokenizer's ids: the same cases over each.

Families: BERT's WordPiece (uncased, cased, the shared MiniLM), MPNet's WordPiece, byte-level
BPE (RoBERTa, plain and add_prefix_space) and SentencePiece Unigram (ALBERT and XLM-R set-ups),
each against its own fast tokenizer; eagerly, op by op, inside tf.function and tf.data.
"""

import pytest
import tensorflow as tf
import transformers
from tokenizer_builders import (
    tiny_bert_wordpiece,
    tiny_mpnet_wordpiece,
    train_byte_level_bpe,
    train_unigram,
)
from tokenizer_cases import (
    EXTRA_TEXTS,
    HARD_TEXTS,
    INVALID_UTF8,
    assert_same,
    corpus,
    imdb_sample,
    rows,
)

import tfbert  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from tfbert.tokenizers import in_graph_tokenizer
from tfbert.tokenizers.byte_level_bpe import ByteLevelBpeTokenizer
from tfbert.tokenizers.unigram import UnigramTextTokenizer
from tfbert.tokenizers.wordpiece import BertTextTokenizer

TEXTS = HARD_TEXTS + EXTRA_TEXTS
# (max_length, head_tokens) per family: plain truncation, and head+tail cuts down to no head
# at all. Each in-graph tokenizer traces its own graph (a second or two), so each family gets
# the cuts that tell it something: WordPiece words cut whole, BPE pieces, Unigram pieces.
_WORDPIECE_CUTS = [(512, None), (7, None), (7, 0), (7, 2), (16, 5), (512, 100)]
_BPE_CUTS = [(512, None), (9, None), (9, 0), (9, 3), (16, 5), (512, 100)]
_UNIGRAM_CUTS = [(512, None), (9, None), (9, 3), (16, 0)]
CUTS = {"bert-uncased": _WORDPIECE_CUTS, "bert-cased": [(512, None), (7, None)],
        "minilm": _WORDPIECE_CUTS, "mpnet-wordpiece": [(7, 2)], "bpe": _BPE_CUTS,
        "bpe-prefix-space": _BPE_CUTS, "unigram-albert": _UNIGRAM_CUTS,
        "unigram-xlmr": _UNIGRAM_CUTS}
# The op-by-op run is slow: one length per family, short where words are cut.
OP_BY_OP_LENGTH = {"bert-uncased": 16, "bert-cased": 64, "minilm": 16}


def _marked(name: str, *values):
    marks = pytest.mark.real_model if name == "minilm" else ()
    return pytest.param(name, *values, marks=marks, id="-".join(map(str, (name, *values))))


FAMILIES = [_marked(name) for name in CUTS]


def _reference(name: str, folder, request):
    """The fast tokenizer of a family: a tiny vocabulary (WordPiece) or trained on `corpus(400)`."""
    if name == "minilm":
        return transformers.AutoTokenizer.from_pretrained(
            str(request.getfixturevalue("shared_model_dir")))
    if name.startswith("bert"):
        return tiny_bert_wordpiece(folder, lowercase=name == "bert-uncased")
    if name == "mpnet-wordpiece":
        return tiny_mpnet_wordpiece(folder)
    if name.startswith("bpe"):
        return train_byte_level_bpe(folder, corpus(400), 600,
                                    add_prefix_space=name.endswith("prefix-space"))
    return train_unigram(folder, corpus(400), 500, style=name.split("-")[1])


def _family_class(reference) -> type:
    model = reference.backend_tokenizer.model.__class__.__name__
    return {"WordPiece": BertTextTokenizer, "BPE": ByteLevelBpeTokenizer,
            "Unigram": UnigramTextTokenizer}[model]


@pytest.fixture(scope="module")
def family(request, tmp_path_factory):
    """A family's fast tokenizer, and the in-graph class that copies it."""
    reference = _reference(request.param, tmp_path_factory.mktemp(request.param), request)
    return reference, _family_class(reference)


@pytest.mark.parametrize("family, max_length, head_tokens",
                         [_marked(name, *cut) for name, cuts in CUTS.items() for cut in cuts],
                         indirect=["family"])
def test_matches_fast_tokenizer_on_hard_texts(family, max_length, head_tokens):
    reference, family_class = family
    tokenizer = family_class.from_fast_tokenizer(reference, max_length, head_tokens)
    assert tokenizer.budget == max_length - reference.num_special_tokens_to_add()
    assert_same(reference, tokenizer, TEXTS, max_length, head_tokens)


@pytest.mark.parametrize("family, max_length",
                         [_marked(name, OP_BY_OP_LENGTH.get(name, 64)) for name in CUTS],
                         indirect=["family"])
def test_matches_in_a_tf_function_and_op_by_op(family, max_length):
    reference, family_class = family
    tokenizer = family_class.from_fast_tokenizer(reference, max_length)
    assert tokenizer.budget == max_length - reference.num_special_tokens_to_add()
    assert_same(reference, tf.function(lambda t: tokenizer(t)), TEXTS, max_length)
    tf.config.run_functions_eagerly(True)
    try:
        assert_same(reference, tokenizer, TEXTS, max_length)
    finally:
        tf.config.run_functions_eagerly(False)


@pytest.mark.parametrize("family", FAMILIES, indirect=True)
def test_invalid_utf8_is_replaced(family):
    reference, family_class = family
    encoded = family_class.from_fast_tokenizer(reference, 64)(tf.constant(INVALID_UTF8))
    decoded = [r.decode("utf-8", errors="replace") for r in INVALID_UTF8]
    assert rows(encoded) == reference(decoded, truncation=True, max_length=64)["input_ids"]


@pytest.mark.parametrize("family, max_length", [_marked(name, 32) for name in CUTS],
                         indirect=["family"])
def test_empty_batch_gives_a_column_per_special_token(family, max_length):
    reference, family_class = family
    tokenizer = in_graph_tokenizer(reference, max_length)  # the registry picks the family
    assert type(tokenizer) is family_class
    encoded = tokenizer(tf.constant([], tf.string))
    assert {k: tuple(v.shape) for k, v in encoded.items()} == {
        "input_ids": (0, 2),
        "attention_mask": (0, 2),
        "token_type_ids": (0, 2),
    }


@pytest.fixture(scope="module", params=["minilm", "bpe", "unigram-albert"])
def imdb_family(request, shared_imdb_dir, tmp_path_factory):
    """The shared MiniLM tokenizer, a 4,000-token byte-level BPE trained on 5,000 IMDb reviews,
    or a 4,000-piece ALBERT-style Unigram trained on 3,000; and 200 test reviews none saw."""
    folder = tmp_path_factory.mktemp(f"imdb-{request.param}")
    if request.param == "minilm":
        reference = _reference("minilm", folder, request)
    elif request.param == "bpe":
        reference = train_byte_level_bpe(folder, imdb_sample(shared_imdb_dir, "train", 5000), 4000)
    else:
        reference = train_unigram(folder, imdb_sample(shared_imdb_dir, "train", 3000), 4000)
    return reference, _family_class(reference), imdb_sample(shared_imdb_dir, "test", 200)


@pytest.mark.real_model
@pytest.mark.parametrize("max_length, head_tokens", [(512, None), (128, None), (128, 31)])
def test_matches_fast_tokenizer_on_imdb_reviews(imdb_family, max_length, head_tokens):
    reference, family_class, reviews = imdb_family
    tokenizer = family_class.from_fast_tokenizer(reference, max_length, head_tokens)
    assert_same(reference, tokenizer, reviews, max_length, head_tokens)
    if max_length == 128:
        assert sum(len(r) == max_length for r in rows(tokenizer(reviews))) > 50  # really cut


@pytest.mark.real_model
def test_runs_in_tf_data_and_tf_function(imdb_family):
    reference, family_class, reviews = imdb_family
    tokenizer = family_class.from_fast_tokenizer(reference, 256)
    texts = HARD_TEXTS + reviews[:40]
    dataset = tf.data.Dataset.from_tensor_slices(texts).batch(9).map(tokenizer)
    got = [row for batch in dataset for row in rows(batch)]
    assert got == reference(texts, truncation=True, max_length=256)["input_ids"]
    assert_same(reference, tf.function(lambda t: tokenizer(t)), texts, 256)
