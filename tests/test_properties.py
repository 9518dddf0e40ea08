"""Property-based tests: the loaders and the in-graph tokenizer on arbitrary input."""

from __future__ import annotations

import string

import pandas as pd
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizer_builders import train_byte_level_bpe, train_unigram
from tokenizer_cases import HARD_TEXTS, expected_ids
from transformers import BertTokenizerFast

from tfbert.config import DataConfig
from tfbert.data import DataError, load_splits
from tfbert.tables import Utf8Counter
from tfbert.tokenizers.byte_level_bpe import ByteLevelBpeTokenizer
from tfbert.tokenizers.truncation import keep_head_and_tail
from tfbert.tokenizers.unigram import UnigramTextTokenizer
from tfbert.tokenizers.wordpiece import BertTextTokenizer

MAX_LENGTH = 24
HEAD_TOKENS = 5


@pytest.fixture(scope="module")
def tokenizers(tiny_model_dir):
    fast = BertTokenizerFast.from_pretrained(str(tiny_model_dir))
    in_graph = BertTextTokenizer.from_fast_tokenizer(fast, MAX_LENGTH)
    return fast, in_graph, tf.function(in_graph.__call__,
                                       input_signature=[tf.TensorSpec([None], tf.string)])


@pytest.fixture(scope="module")
def head_tail(tiny_model_dir):
    fast = BertTokenizerFast.from_pretrained(str(tiny_model_dir))
    return fast, BertTextTokenizer.from_fast_tokenizer(fast, MAX_LENGTH, HEAD_TOKENS)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(max_size=200), min_size=1, max_size=6))
def test_in_graph_tokenizer_on_any_unicode(tokenizers, texts):
    fast, _, encode = tokenizers
    out = encode(tf.constant(texts))
    ids, mask = out["input_ids"].numpy(), out["attention_mask"].numpy()
    assert ids.shape[0] == len(texts) and ids.shape[1] <= MAX_LENGTH
    assert ((ids >= 0) & (ids < len(fast))).all()
    expected = fast(texts, truncation=True, max_length=MAX_LENGTH)["input_ids"]
    for row, row_mask, want in zip(ids, mask, expected, strict=True):
        assert row[row_mask == 1].tolist() == want


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=300), min_size=1,
                      max_size=4))
def test_head_and_tail_cut_matches_training_on_any_unicode(head_tail, texts):
    fast, in_graph = head_tail
    encoded = in_graph(tf.constant(texts))
    ids, mask = encoded["input_ids"].numpy(), encoded["attention_mask"].numpy()
    pieces = fast(texts, add_special_tokens=False)["input_ids"]
    for row, row_mask, piece in zip(ids, mask, pieces, strict=True):
        kept = keep_head_and_tail(piece, HEAD_TOKENS, MAX_LENGTH - 2)
        assert row[row_mask == 1].tolist() == [fast.cls_token_id, *kept, fast.sep_token_id]


@pytest.fixture(scope="module", params=["bpe", "bpe-prefix-space", "albert", "xlmr"])
def other_family(request, tmp_path_factory):
    """A real tokenizer of another family, trained on the hard texts, and its in-graph copy."""
    folder = tmp_path_factory.mktemp(request.param)
    if request.param.startswith("bpe"):
        fast = train_byte_level_bpe(folder, HARD_TEXTS * 3, 400,
                                    add_prefix_space=request.param.endswith("space"))
        return fast, ByteLevelBpeTokenizer.from_fast_tokenizer(fast, MAX_LENGTH, HEAD_TOKENS)
    fast = train_unigram(folder, HARD_TEXTS * 3, 300, style=request.param)
    return fast, UnigramTextTokenizer.from_fast_tokenizer(fast, MAX_LENGTH, HEAD_TOKENS)


# Arbitrary Unicode, with what GPT-2's pattern, the normalizers and Metaspace treat specially
# made frequent.
_TRICKY = st.sampled_from([" ", "  ", "\n", "\t", "'", "'s", "'re", "'ll", "'S", "``", "''", "`",
                           "<mask>", " <mask>", " [MASK]", "<s>", "<unk>", "a", "1", "!", "é",
                           "e\u0301", "\u0301", "中", "\u3000", "\xa0", "İ", "ﬁ", "\u2581"])
_TRICKY_TEXT = st.lists(st.one_of(st.text(max_size=8), _TRICKY), max_size=40).map("".join)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(_TRICKY_TEXT, min_size=1, max_size=5))
def test_other_families_on_any_unicode(other_family, texts):
    fast, in_graph = other_family
    encoded = in_graph(tf.constant(texts))
    ids, mask = encoded["input_ids"].numpy(), encoded["attention_mask"].numpy()
    want = expected_ids(fast, texts, MAX_LENGTH, HEAD_TOKENS)
    for row, row_mask, expected in zip(ids, mask, want, strict=True):
        assert row[row_mask == 1].tolist() == expected


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=300))
def test_any_bytes_decode_without_error(data):
    counter = Utf8Counter()
    text, bad = data.decode("utf-8", errors=counter.name), counter.count
    assert text == data.decode("utf-8", errors="replace")
    assert text.count("\ufffd") == bad + data.decode("utf-8", errors="ignore").count("\ufffd")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    # No bare "\r": pandas' writer leaves it unquoted, and any CSV reader then sees a line break.
    texts=st.lists(st.text(alphabet=string.printable.replace("\r", "") + "éü中😀\u200b",
                           min_size=0, max_size=40),
                   min_size=6, max_size=30),
    labels=st.lists(st.sampled_from(["pos", "neg", "meh"]), min_size=30, max_size=30),
    suffix=st.sampled_from(["csv", "tsv", "jsonl", "parquet"]),
)
def test_loaders_keep_every_usable_row_or_explain(tmp_path_factory, texts, labels, suffix):
    frame = pd.DataFrame({"text": texts, "label": labels[:len(texts)]})
    path = tmp_path_factory.mktemp("prop") / f"train.{suffix}"
    if suffix == "csv":
        frame.to_csv(path, index=False)
    elif suffix == "tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif suffix == "jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_parquet(path)
    usable = frame[frame["text"].map(lambda t: bool(t.strip()))]
    cfg = DataConfig(sources=(str(path),), val_size=1, test_size=1)
    # Which input cannot make three splits of two classes, and the message that must say so.
    expected_error = ("no usable rows" if usable.empty else
                      "only one class" if usable["label"].nunique() < 2 else
                      "split is empty" if len(usable) < 3 else None)
    if expected_error:
        with pytest.raises(DataError, match=expected_error):
            load_splits(cfg)
        return
    splits = load_splits(cfg)
    kept = pd.concat([splits.train, splits.validation, splits.test])
    names = splits.labels.names
    got = sorted(zip(kept["text"], kept["label"].map(lambda i: names[i]), strict=True))
    assert got == sorted(zip(usable["text"], usable["label"], strict=True))
