"""The in-graph tokenizer must give the fast tokenizer's ids, eagerly, in graphs and once saved."""

import time
from pathlib import Path

import pytest
import tensorflow as tf
import transformers
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework import op_def_registry
from tokenizer_cases import HARD_TEXTS, assert_same, rows
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

import tfbert  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from tfbert.features import tokenize_frame
from tfbert.text_tokenizer import UnsupportedTokenizerError
from tfbert.wordpiece import BertTextTokenizer

TINY_VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    "a", "##a", "the", "movie", "was", "great", "hello", "world", "Hello", "World",
    "un", "##aff", "##able", "##s", "##ing", "cafe", "café", "naive", "angstrom", "don", "t",
    "it", "s", "br", "3", "1", "##4", "##0", ",", ".", "!", "?", "'", "<", ">", "/", "-", "$",
    "%", "中", "文", "字", "ok", "x", "##x", "straße", "strasse", "ΟΔΟΣ", "οδοσ",
]  # fmt: skip


def _vocab_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("\n".join(TINY_VOCAB) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def uncased(tmp_path_factory):
    return transformers.BertTokenizerFast(vocab_file=_vocab_file(tmp_path_factory))


@pytest.fixture(scope="module")
def cased(tmp_path_factory):
    return transformers.BertTokenizerFast(
        vocab_file=_vocab_file(tmp_path_factory), do_lower_case=False
    )


MINILM = pytest.param("minilm", marks=pytest.mark.real_model)  # the shared real tokenizer


@pytest.fixture(scope="module")
def minilm(shared_model_dir):
    return transformers.AutoTokenizer.from_pretrained(str(shared_model_dir))


@pytest.fixture(scope="module")
def reviews(shared_imdb_dir):
    import pandas as pd

    frame = pd.read_parquet(shared_imdb_dir / "test.parquet", columns=["text"])
    return frame.sample(n=200, random_state=7)["text"].tolist()  # rows are sorted by label


@pytest.fixture
def eager_functions():
    tf.config.run_functions_eagerly(True)
    yield
    tf.config.run_functions_eagerly(False)


def _assert_same(reference, texts, max_length: int, encode=None, head_tokens=None) -> None:
    tokenizer = BertTextTokenizer.from_fast_tokenizer(reference, max_length, head_tokens)
    assert_same(reference, encode or tokenizer, texts, max_length, head_tokens)


@pytest.mark.parametrize("name", ["uncased", "cased", MINILM])
@pytest.mark.parametrize("max_length", [512, 7])
def test_matches_fast_tokenizer_on_hard_texts(name, max_length, request):
    _assert_same(request.getfixturevalue(name), HARD_TEXTS, max_length)


@pytest.mark.parametrize("name", ["uncased", MINILM])
def test_matches_fast_tokenizer_op_by_op(name, request, eager_functions):
    _assert_same(request.getfixturevalue(name), HARD_TEXTS, 16)


@pytest.mark.real_model
@pytest.mark.parametrize("max_length", [512, 128])
def test_matches_fast_tokenizer_on_imdb_reviews(minilm, reviews, max_length):
    _assert_same(minilm, reviews, max_length)


@pytest.mark.parametrize("name", ["uncased", MINILM])
@pytest.mark.parametrize("max_length, head_tokens", [(7, 0), (7, 2), (16, 5), (512, 100)])
def test_keeps_head_and_tail_like_training_on_hard_texts(name, max_length, head_tokens, request):
    _assert_same(request.getfixturevalue(name), HARD_TEXTS, max_length, head_tokens=head_tokens)


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


@pytest.mark.real_model
def test_runs_in_tf_data_and_tf_function(minilm, reviews):
    tokenizer = BertTextTokenizer.from_fast_tokenizer(minilm, 256)
    texts = HARD_TEXTS + reviews[:40]
    dataset = tf.data.Dataset.from_tensor_slices(texts).batch(9).map(tokenizer)
    got = [row for batch in dataset for row in rows(batch)]
    assert got == minilm(texts, truncation=True, max_length=256)["input_ids"]
    _assert_same(minilm, texts, 256, encode=tf.function(lambda t: tokenizer(t)))


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
    _assert_same(minilm, HARD_TEXTS, 64, encode=loaded)
    signature = loaded.signatures["serving_default"]
    _assert_same(minilm, HARD_TEXTS, 64, encode=lambda t: signature(texts=t))


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


def test_empty_batch_gives_two_columns(uncased):
    encoded = BertTextTokenizer.from_fast_tokenizer(uncased, 32)(tf.constant([], tf.string))
    assert {k: tuple(v.shape) for k, v in encoded.items()} == {
        "input_ids": (0, 2),
        "attention_mask": (0, 2),
        "token_type_ids": (0, 2),
    }


@pytest.mark.real_model
def test_invalid_utf8_is_replaced_then_dropped(minilm):
    raw = [b"caf\xe9 \xff ok", b"\xed\xa0\x80 surrogate", b"cut \xe2\x82", b"over\xc0\xaflong"]
    encoded = BertTextTokenizer.from_fast_tokenizer(minilm, 64)(tf.constant(raw))
    decoded = [r.decode("utf-8", errors="replace") for r in raw]
    assert rows(encoded) == minilm(decoded, truncation=True, max_length=64)["input_ids"]


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


def test_added_tokens_are_matched_like_the_fast_tokenizer(tmp_path_factory):
    reference = transformers.BertTokenizerFast(vocab_file=_vocab_file(tmp_path_factory))
    reference.add_tokens(["Hello World", "xyz"])  # matched after normalization
    reference.add_special_tokens({"additional_special_tokens": ["<extra>"]})  # matched raw
    texts = ["hello world, HELLO  WORLD hello\tworld", "abxyzcd XYZ", "<extra>x<EXTRA>"]
    _assert_same(reference, texts + HARD_TEXTS, 64)


def test_overlapping_added_tokens_are_refused(tmp_path_factory):
    reference = transformers.BertTokenizerFast(vocab_file=_vocab_file(tmp_path_factory))
    reference.add_tokens(["abab"])  # "ababab" would need leftmost-longest resolution
    with pytest.raises(UnsupportedTokenizerError, match="overlap"):
        BertTextTokenizer.from_fast_tokenizer(reference, 16)


def _wrapped(backend: Tokenizer) -> transformers.PreTrainedTokenizerFast:
    return transformers.PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]")


def test_non_wordpiece_tokenizers_are_refused(uncased, tmp_path_factory):
    word_level = Tokenizer(models.WordLevel({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    word_level.pre_tokenizer = pre_tokenizers.Whitespace()
    bpe = Tokenizer(models.BPE({"[UNK]": 0, "a": 1, "b": 2, "ab": 3}, [("a", "b")]))
    lowercase_only = Tokenizer.from_str(uncased.backend_tokenizer.to_str())
    lowercase_only.normalizer = normalizers.Lowercase()
    for backend in (word_level, bpe, lowercase_only):
        with pytest.raises(UnsupportedTokenizerError):
            BertTextTokenizer.from_fast_tokenizer(_wrapped(backend), 16)
    slow = transformers.BertTokenizer(vocab_file=_vocab_file(tmp_path_factory))
    with pytest.raises(UnsupportedTokenizerError):
        BertTextTokenizer.from_fast_tokenizer(slow, 16)


def test_max_length_must_fit_cls_and_sep(uncased):
    with pytest.raises(ValueError, match="max_length"):
        BertTextTokenizer.from_fast_tokenizer(uncased, 1)


@pytest.mark.real_model
def test_saved_tokenizer_is_small(saved_dir):
    size = sum(f.stat().st_size for f in Path(saved_dir).rglob("*") if f.is_file())
    assert size < 4_000_000  # 30,522-piece vocabulary: about 1.6 MB


def test_mpnet_style_wordpiece_is_served_from_raw_text(tmp_path_factory):
    """MPNet: WordPiece wrapped as <s> A </s>, and a <mask> that eats the space before it."""
    folder = tmp_path_factory.mktemp("mpnet")
    vocab = ["<s>", "<pad>", "</s>", "<unk>", "[UNK]", *TINY_VOCAB[5:], "<mask>"]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    reference = transformers.MPNetTokenizerFast(vocab_file=str(folder / "vocab.txt"))
    assert reference.backend_tokenizer.to_str().count('"lstrip":true') == 1
    texts = HARD_TEXTS + ["hello <mask> world", "  <mask>", "a<mask>b <MASK>"]
    for max_length, head_tokens in [(64, None), (7, 2)]:
        tokenizer = BertTextTokenizer.from_fast_tokenizer(reference, max_length, head_tokens)
        assert tokenizer.budget == max_length - 2
        assert_same(reference, tokenizer, texts, max_length, head_tokens)
