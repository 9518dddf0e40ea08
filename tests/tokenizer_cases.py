"""Texts and checks shared by the in-graph tokenizer tests of every family."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import tensorflow as tf

from tfbert.features import keep_head_and_tail

HARD_TEXTS = [
    "Hello, world! The movie was GREAT.",
    "café naïve Ångström CAFÉ Naïve",
    "中文字 and 日本語 mixed中文text",
    "emoji 😀👍🏽 here 🇫🇷",
    "Great movie.<br /><br />Loved it<br/>",
    "nul\x00byte bell\x07 zero\u200bwidth \ufeffbom soft\xadhyphen",
    "tabs\tand\nnewlines\r\nhere\x0bvt\x0cff",
    "x" * 150 + " after the long one",
    "unaffable " + "aff" * 40,
    "a" * 100 + " " + "a" * 101,
    "",
    "   \t\n ",
    "!!!???...,,,;;;---",
    "don't it's 'quoted' rock'n'roll",
    "3.14 1,000,000 2nd $5 100% 10/10",
    "MiXeD CaSe WoRdS hElLo",
    "[SEP] [CLS]x[MASK] [sep] [UNK][PAD]",
    "ΟΔΟΣ İstanbul straße ﬁne ﬀ ‼ ﷺ",
    "Ｆｕｌｌｗｉｄｔｈ　ｓｐａｃｅ",
    "separators\x1c\x1d\x1e\x1f here \x85 \xa0 nbsp \u2028 \u3000 ideographic",
    "한국어 텍스트 and ไทย",
    "unaffableunaffable unaffables",
    "private\ue000use \U000e0001tag \ufffdreplacement",
]


def rows(encoded: dict[str, tf.Tensor]) -> list[list[int]]:
    """The unpadded ids of each row."""
    ids, mask = encoded["input_ids"].numpy(), encoded["attention_mask"].numpy()
    return [row[: m.sum()].tolist() for row, m in zip(ids, mask, strict=True)]


def expected_ids(reference, texts: Sequence[str], max_length: int,
                 head_tokens: int | None = None) -> list[list[int]]:
    """What the fast tokenizer gives, cut as training cuts (head+tail when head_tokens is set)."""
    if head_tokens is None:
        return reference(list(texts), truncation=True, max_length=max_length)["input_ids"]
    budget = max_length - reference.num_special_tokens_to_add()
    pieces = reference(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
    return [reference.build_inputs_with_special_tokens(keep_head_and_tail(p, head_tokens, budget))
            for p in pieces]


def assert_same(reference, encode: Callable, texts: Sequence[str], max_length: int,
                head_tokens: int | None = None) -> None:
    """`encode` (an in-graph tokenizer or a signature) gives the fast tokenizer's ids and mask."""
    encoded = encode(tf.constant(texts))
    expected = expected_ids(reference, texts, max_length, head_tokens)
    for text, want, got in zip(texts, expected, rows(encoded), strict=True):
        assert got == want, f"{text!r}: {reference.convert_ids_to_tokens(got)}"
    width = max(len(e) for e in expected)
    assert encoded["input_ids"].shape == (len(texts), width)
    assert encoded["input_ids"].dtype == tf.int32
    mask = encoded["attention_mask"].numpy()
    assert (mask.sum(1) == [len(e) for e in expected]).all()
    assert (encoded["input_ids"].numpy()[mask == 0] == reference.pad_token_id).all()
    assert not encoded["token_type_ids"].numpy().any()



def imdb_texts(imdb_dir: Path, n_train: int, n_test: int) -> tuple[list[str], list[str]]:
    """Reviews to train a tokenizer on, and test reviews it did not see (fixed samples)."""
    import pandas as pd

    train = pd.read_parquet(imdb_dir / "train.parquet", columns=["text"])["text"]
    test = pd.read_parquet(imdb_dir / "test.parquet", columns=["text"])["text"]
    return (train.sample(n=n_train, random_state=3).tolist(),
            test.sample(n=n_test, random_state=7).tolist())
