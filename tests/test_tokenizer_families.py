"""Every in-graph tokenizer family must give its fast tokenizer's ids: the same cases over each.

Families: BERT's WordPiece (uncased, cased, the shared MiniLM), MPNet's WordPiece, byte-level
BPE (RoBERTa, plain and add_prefix_space) and SentencePiece Unigram (ALBERT and XLM-R set-ups),
each against its own fast tokenizer; eagerly, op by op, inside tf.function and tf.data; one text
and pairs of texts (against training's `encode_pairs`, itself checked against the fast tokenizer).
"""

import numpy as np
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
    assert_same_pairs,
    corpus,
    hard_pairs,
    imdb_sample,
    rows,
)
from tokenizers import Tokenizer, processors

import tfbert  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from tfbert.tokenizers import UnsupportedTokenizerError, in_graph_tokenizer
from tfbert.tokenizers.byte_level_bpe import ByteLevelBpeTokenizer
from tfbert.tokenizers.truncation import GRAPH_OPS, PAIR_STRATEGIES, pair_lengths
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
# Pairs: nothing cut, and a short length (budget: minus 3 or 4 special tokens) where one text of
# some pairs is cut and both texts of others; the tf.function test takes 16, the other parity.
PAIR_LENGTHS = (512, 11)


def _marked(name: str, *values):
    marks = pytest.mark.real_model if name == "minilm" else ()
    return pytest.param(name, *values, marks=marks, id="-".join(map(str, (name, *values))))


FAMILIES = [_marked(name) for name in CUTS]
# The slower pair checks run on one set-up of each pair layout: BERT's template, MPNet's
# doubled separator, RoBERTa's processor, SentencePiece's template (and for op by op, one of
# each model type). The fast-tokenizer parity of pairs runs on every family.
ONLY_ONE_SIDE = [_marked(name) for name in ("bert-uncased", "mpnet-wordpiece", "bpe", "unigram-xlmr")]
OP_BY_OP_PAIRS = [_marked(name) for name in ("bert-uncased", "bpe-prefix-space", "unigram-albert")]


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


# ---------------------------------------------------------------------------- pairs


def _cut_sides(reference, firsts, seconds, max_length: int) -> set[int]:
    """How many texts of a pair longest_first cuts, over the pairs (0, 1 or 2 each)."""
    budget = max_length - reference.num_special_tokens_to_add(pair=True)
    texts = [[t.decode("utf-8", errors="replace") if isinstance(t, bytes) else t for t in side]
             for side in (firsts, seconds)]
    lengths = [[len(ids) for ids in reference(side, add_special_tokens=False)["input_ids"]]
               for side in texts]
    return {sum(np.less(pair_lengths(a, b, budget, "longest_first"), (a, b)))
            for a, b in zip(*lengths, strict=True)}


@pytest.mark.parametrize("family, max_length",
                         [_marked(name, length) for name in CUTS for length in PAIR_LENGTHS],
                         indirect=["family"])
def test_pairs_match_the_fast_tokenizer(family, max_length):
    reference, family_class = family
    tokenizer = in_graph_tokenizer(reference, max_length, pair=True)  # "head": longest_first
    assert type(tokenizer) is family_class and tokenizer.family == family_class.family
    assert (tokenizer.is_pair, tokenizer.pair_truncation, tokenizer.max_length) == (
        True, "longest_first", max_length)
    assert tokenizer.budget == max_length - reference.num_special_tokens_to_add(pair=True)
    firsts, seconds = hard_pairs()
    if max_length < 512:
        assert _cut_sides(reference, firsts, seconds, max_length) >= {1, 2}
    assert_same_pairs(reference, tokenizer, firsts, seconds, max_length)


@pytest.mark.parametrize("family", ONLY_ONE_SIDE, indirect=True)
def test_pairs_cut_only_one_text_as_training_does(family):
    reference, _ = family
    for strategy in ("only_first", "only_second"):
        tokenizer = in_graph_tokenizer(reference, 16, strategy, pair=True)
        assert tokenizer.pair_truncation == strategy
        assert_same_pairs(reference, tokenizer, *hard_pairs(), 16, strategy)


@pytest.mark.parametrize("family", OP_BY_OP_PAIRS, indirect=True)
def test_pairs_in_a_tf_function_op_by_op_and_empty(family):
    reference, _ = family
    tokenizer = in_graph_tokenizer(reference, 16, pair=True)
    firsts, seconds = hard_pairs()
    assert _cut_sides(reference, firsts, seconds, 16) >= {1, 2}
    assert_same_pairs(reference, tf.function(lambda a, b: tokenizer(a, b)), firsts, seconds, 16)
    tf.config.run_functions_eagerly(True)
    try:
        assert_same_pairs(reference, tokenizer, firsts[-12:], seconds[-12:], 16)
    finally:
        tf.config.run_functions_eagerly(False)
    empty = tokenizer(tf.constant([], tf.string), tf.constant([], tf.string))
    n_special = reference.num_special_tokens_to_add(pair=True)
    assert {k: tuple(v.shape) for k, v in empty.items()} == dict.fromkeys(empty, (0, n_special))
    with pytest.raises(tf.errors.InvalidArgumentError, match="differ in length"):
        tokenizer(["a", "b"], ["c"])
    with pytest.raises(TypeError):
        tokenizer(["a"])


def test_graph_pair_lengths_are_the_python_ones():
    firsts, seconds = (a.ravel() for a in np.meshgrid(np.arange(25), np.arange(25)))
    for strategy in PAIR_STRATEGIES:
        for budget in range(0, 20, 3):
            got = pair_lengths(tf.constant(firsts), tf.constant(seconds), budget, strategy, GRAPH_OPS)
            want = [list(pair_lengths(int(a), int(b), budget, strategy))
                    for a, b in zip(firsts, seconds, strict=True)]
            assert np.stack([g.numpy() for g in got], 1).tolist() == want


def _with_post_processor(reference, post_processor):
    backend = Tokenizer.from_str(reference.backend_tokenizer.to_str())
    backend.post_processor = post_processor
    return transformers.PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]",
                                                pad_token="[PAD]")


def test_pair_layouts_are_read_or_refused(tmp_path):
    reference = tiny_bert_wordpiece(tmp_path)
    single = in_graph_tokenizer(reference, 16)
    assert (single.is_pair, single.pair_truncation) == (False, None)
    with pytest.raises(TypeError):
        single(["a"], ["b"])
    with pytest.raises(ValueError, match="head_tokens"):
        in_graph_tokenizer(reference, 16, "longest_first", 3, pair=True)
    with pytest.raises(ValueError, match="a pair is cut by"):
        in_graph_tokenizer(reference, 16, "head+tail", pair=True)
    cls, sep = ("[CLS]", 2), ("[SEP]", 3)
    bert = _with_post_processor(reference, processors.BertProcessing(sep, cls))  # B: type id 1
    assert_same_pairs(bert, in_graph_tokenizer(bert, 11, pair=True), *hard_pairs(), 11)
    backwards = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $B [SEP] $A [SEP]",
                                              special_tokens=[cls, sep])
    for post in (None, backwards):
        odd = _with_post_processor(reference, post)
        with pytest.raises(UnsupportedTokenizerError):
            in_graph_tokenizer(odd, 16, pair=True)
        assert_same(odd, in_graph_tokenizer(odd, 16), TEXTS, 16)  # one text is still served


@pytest.mark.real_model
@pytest.mark.parametrize("max_length, strategy", [(512, "longest_first"), (128, "only_second")])
def test_pairs_of_imdb_reviews(imdb_family, max_length, strategy):
    reference, family_class, reviews = imdb_family
    tokenizer = in_graph_tokenizer(reference, max_length, strategy, pair=True)
    assert type(tokenizer) is family_class
    assert_same_pairs(reference, tokenizer, reviews[:100], reviews[100:], max_length, strategy)


def _assert_windows(reference, family_class, texts, pairs, max_length: int, stride: int,
                    max_windows: int) -> None:
    """The graph's windows (ids, types, mask, each window's text) = the fast tokenizer's."""
    from tfbert.tokenizers.windows import encode_windows

    strategy = "only_first" if pairs is not None else None
    graph = family_class.from_fast_tokenizer(reference, max_length, pair=strategy)
    graph.set_windows(stride, max_windows)
    encoded = graph(texts) if pairs is None else graph(texts, pairs)
    as_text = [t.decode("utf-8", errors="replace") if isinstance(t, bytes) else t for t in texts]
    expected = encode_windows(reference, as_text, pairs, max_length, stride, max_windows)
    assert rows(encoded) == expected.encoded["input_ids"]
    assert encoded["window_text"].numpy().tolist() == expected.text_ids.tolist()
    if "token_type_ids" in expected.encoded:
        mask = encoded["attention_mask"].numpy()
        types = [r[: m.sum()].tolist() for r, m in zip(encoded["token_type_ids"].numpy(), mask,
                                                       strict=True)]
        assert types == expected.encoded["token_type_ids"]


@pytest.mark.parametrize("family", FAMILIES, indirect=True)
def test_windows_in_the_graph_are_the_fast_tokenizers(family):
    reference, family_class = family
    long_texts = [" ".join(corpus(40, seed=5)), " ".join(corpus(3, seed=6))]
    texts = TEXTS + INVALID_UTF8 + long_texts
    _assert_windows(reference, family_class, texts, None, 12, 3, 6)
    firsts = [t for t in TEXTS if t] + long_texts
    seconds = ["the plot", "a", ""] * (len(firsts) // 3) + ["x"] * (len(firsts) % 3)
    _assert_windows(reference, family_class, firsts, seconds, 16, 2, 100)


@pytest.mark.real_model
def test_windows_of_imdb_reviews(imdb_family):
    reference, family_class, texts = imdb_family
    _assert_windows(reference, family_class, texts, None, 128, 32, 8)
