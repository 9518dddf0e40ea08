"""WordPiece only: the shared MiniLM tokenizer saved and served, cut as training cuts, refusals.

The cases every family shares are in test_tokenizer_families.py.
"""

import time
from pathlib import Path

import pytest
import tensorflow as tf
import transformers
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework import op_def_registry
from tokenizer_builders import tiny_bert_wordpiece, tiny_mpnet_wordpiece, tiny_vocab_file
from tokenizer_cases import HARD_TEXTS, assert_same, imdb_sample, rows
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

import tfbert  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from tfbert.features import tokenize_frame
from tfbert.tokenizers import UnsupportedTokenizerError
from tfbert.tokenizers.wordpiece import BertTextTokenizer


@pytest.fixture(scope="module")
def minilm(shared_model_dir):
    return transformers.AutoTokenizer.from_pretrained(str(shared_model_dir))


@pytest.fixture(scope="module")
def reviews(shared_imdb_dir):
    return imdb_sample(shared_imdb_dir, "test", 200)


@pytest.mark.real_model
@pytest.mark.parametrize("truncation", ["tail", "head+tail"])
def test_serving_cuts_imdb_reviews_as_training_does(minilm, reviews, truncation):
    import pandas as pd

    frame = pd.DataFrame({"text": reviews, "label": 0})
    split = tokenize_frame(frame, minilm, 128, show_progress=False, truncation=truncation)
    values, offsets = split.columns["input_ids"]
    trained = [values[a:b].tolist() for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    head = 0 if truncation == "tail" else 126 // 4
    served = rows(BertTextTokenizer.from_fast_tokenizer(minilm, 128, head)(tf.constant(reviews)))
    assert served == trained
    assert sum(len(r) == 128 for r in trained) > 50  # many reviews were really cut


class _Serving(tf.Module):
    def __init__(self, tokenizer: BertTextTokenizer) -> None:
        super().__init__()
        self.tokenizer = tokenizer

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def __call__(self, texts):
        return self.tokenizer(texts)


@pytest.fixture(scope="module")
def saved_dir(minilm, tmp_path_factory):
    serving = _Serving(BertTextTokenizer.from_fast_tokenizer(minilm, 64))
    path = str(tmp_path_factory.mktemp("saved") / "tokenizer")
    tf.saved_model.save(serving, path, signatures={"serving_default": serving.__call__})
    return path


@pytest.mark.real_model
def test_saved_model_round_trip(minilm, saved_dir):
    loaded = tf.saved_model.load(saved_dir)
    assert_same(minilm, loaded, HARD_TEXTS, 64)
    signature = loaded.signatures["serving_default"]
    assert_same(minilm, lambda t: signature(texts=t), HARD_TEXTS, 64)


@pytest.mark.real_model
def test_saved_model_uses_only_core_ops(saved_dir):
    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((Path(saved_dir) / "saved_model.pb").read_bytes())
    graph = saved.meta_graphs[0].graph_def
    functions = {f.signature.name for f in graph.library.function}
    ops = {node.op for node in graph.node}
    ops |= {node.op for f in graph.library.function for node in f.node_def}
    ops -= functions
    assert "LookupTableFindV2" in ops and "UnicodeDecode" in ops
    assert [op for op in ops if op_def_registry.get(op) is None] == []
    forbidden = {"PyFunc", "EagerPyFunc", "PyFuncStateless", "CaseFoldUTF8", "NormalizeUTF8"}
    forbidden |= {"WordpieceTokenizeWithOffsets", "RegexSplitWithOffsets", "FastBertNormalize"}
    assert not ops & forbidden


@pytest.mark.real_model
def test_saved_tokenizer_is_small(saved_dir):
    size = sum(f.stat().st_size for f in Path(saved_dir).rglob("*") if f.is_file())
    assert size < 4_000_000  # 30,522-piece vocabulary: about 1.6 MB


@pytest.mark.real_model
@pytest.mark.parametrize("unit", ["word ", "x", "中", "!"])
def test_huge_text_is_cut_to_max_length(minilm, unit):
    tokenizer = BertTextTokenizer.from_fast_tokenizer(minilm, 128)
    text = unit * (100_000 // len(unit))
    tokenizer(["warm up"])
    start = time.perf_counter()
    encoded = tokenizer([text])
    assert time.perf_counter() - start < 2.0
    assert rows(encoded) == minilm([text], truncation=True, max_length=128)["input_ids"]


def test_added_tokens_are_matched_like_the_fast_tokenizer(tmp_path):
    reference = tiny_bert_wordpiece(tmp_path)
    reference.add_tokens(["Hello World", "xyz"])  # matched after normalization
    reference.add_special_tokens({"additional_special_tokens": ["<extra>"]})  # matched raw
    texts = ["hello world, HELLO  WORLD hello\tworld", "abxyzcd XYZ", "<extra>x<EXTRA>"]
    tokenizer = BertTextTokenizer.from_fast_tokenizer(reference, 64)
    assert_same(reference, tokenizer, texts + HARD_TEXTS, 64)


def test_overlapping_added_tokens_are_refused(tmp_path):
    reference = tiny_bert_wordpiece(tmp_path)
    reference.add_tokens(["abab"])  # "ababab" would need leftmost-longest resolution
    with pytest.raises(UnsupportedTokenizerError, match="overlap"):
        BertTextTokenizer.from_fast_tokenizer(reference, 16)


def _wrapped(backend: Tokenizer) -> transformers.PreTrainedTokenizerFast:
    return transformers.PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]")


def test_non_wordpiece_tokenizers_are_refused(tmp_path):
    uncased = tiny_bert_wordpiece(tmp_path / "fast")
    word_level = Tokenizer(models.WordLevel({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    word_level.pre_tokenizer = pre_tokenizers.Whitespace()
    bpe = Tokenizer(models.BPE({"[UNK]": 0, "a": 1, "b": 2, "ab": 3}, [("a", "b")]))
    lowercase_only = Tokenizer.from_str(uncased.backend_tokenizer.to_str())
    lowercase_only.normalizer = normalizers.Lowercase()
    for backend in (word_level, bpe, lowercase_only):
        with pytest.raises(UnsupportedTokenizerError):
            BertTextTokenizer.from_fast_tokenizer(_wrapped(backend), 16)
    slow = transformers.BertTokenizer(vocab_file=tiny_vocab_file(tmp_path / "slow"))
    with pytest.raises(UnsupportedTokenizerError):
        BertTextTokenizer.from_fast_tokenizer(slow, 16)


def test_max_length_must_fit_cls_and_sep(tmp_path):
    with pytest.raises(ValueError, match="max_length"):
        BertTextTokenizer.from_fast_tokenizer(tiny_bert_wordpiece(tmp_path), 1)


def test_mpnet_mask_is_the_one_token_that_strips(tmp_path):
    """The MPNet family's <mask> eats the space before it (its parity is a shared case)."""
    reference = tiny_mpnet_wordpiece(tmp_path)
    assert reference.backend_tokenizer.to_str().count('"lstrip":true') == 1
