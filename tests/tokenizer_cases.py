"""Texts and checks shared by the in-graph tokenizer tests of every family."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path

import tensorflow as tf

from tfbert.tokenizers.truncation import keep_head_and_tail

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
# What the byte-level split, Metaspace, the normalizers and <mask>'s lstrip treat specially.
EXTRA_TEXTS = [
    "hello <mask> world<mask>x", "  <mask>  a", "<mask>", "a <mask>\t<mask> b",
    "it's 'sand ''s x\n y é a  b\n\nc", "'re 'Re 'll 'lL y'all we've I'm he'd", "'s", "''",
    " ", "x  ", "  leading and trailing  ", "<s>a</s> <pad> <unk>", "a\u3000b\u00a0c\u2028d",
    "numbers 1,000.5 ٣٤ ½ ⅷ 10th", "mixed ab12cd!?ef", "\n\n\n", "tab\t\tx",
    "hello <mask> world [MASK] x", "  lead  trail  ", "``x'' '''y''' ````", "", "\u2581",
    "<unk>x<pad>", "e\u0301 \u0301 caf\u00e9 İstanbul ﬁne", "tabs\t\tand\n\nlines", "中文字中文字",
    "the movie was great", "unknown ☃ ⛄ runs ☃☃☃ here",
    "hello <mask> world", "  <mask>", "a<mask>b <MASK>",
]
INVALID_UTF8 = [b"caf\xe9 \xff ok", b"\xed\xa0\x80 surrogate", b"cut \xe2\x82", b"over\xc0\xaflong"]
WORDS = ("the movie was great but the plot wasn't that good and I'd say it's a 7/10 "
         "film actors story scene character really quite bad awful boring loved brilliant").split()


def corpus(n: int, seed: int = 0) -> list[str]:
    """`n` made-up reviews plus the hard texts: what the tests' tokenizers are trained on."""
    rng = random.Random(seed)
    made = [" ".join(rng.choices(WORDS, k=rng.randint(3, 30))) + rng.choice(".!?") for _ in range(n)]
    return made + HARD_TEXTS * 5


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


def hard_pairs() -> tuple[list, list]:
    """Pairs of the hard texts: each with another, a short one with a long one and the other way
    round, two long ones (so that each side is cut), and invalid UTF-8 in either text."""
    texts = HARD_TEXTS + EXTRA_TEXTS
    long_ = sorted(texts, key=len)[-6:]
    pairs = list(zip(texts, texts[5:] + texts[:5], strict=True))
    pairs += [("ok", t) for t in long_[:3]] + [(t, "fine") for t in long_[3:]]
    pairs += list(zip(long_, long_[1:] + long_[:1], strict=True))
    pairs += [(bad, t) for bad, t in zip(INVALID_UTF8, long_, strict=False)]
    pairs += [(t, bad) for bad, t in zip(INVALID_UTF8, texts, strict=False)]
    return [a for a, _ in pairs], [b for _, b in pairs]


def _text(text: str | bytes) -> str:
    return text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text


def expected_pairs(reference, firsts: Sequence, seconds: Sequence, max_length: int,
                   strategy: str = "longest_first") -> dict[str, list[list[int]]]:
    """What training gives for pairs (`encode_pairs`; invalid UTF-8 as U+FFFD); for longest_first,
    checked first to be what the fast tokenizer itself gives (where neither text is empty)."""
    from tfbert.features import encode_pairs

    firsts, seconds = [_text(t) for t in firsts], [_text(t) for t in seconds]
    expected = encode_pairs(reference, firsts, seconds, max_length, strategy)
    if strategy == "longest_first":
        fast = reference(firsts, seconds, truncation="longest_first", max_length=max_length,
                         return_token_type_ids=True)
        for i, (a, b) in enumerate(zip(firsts, seconds, strict=True)):
            if a and b:
                assert fast["input_ids"][i] == expected["input_ids"][i], (a, b)
                assert fast["token_type_ids"][i] == expected["token_type_ids"][i], (a, b)
    return expected


def _as_bytes(texts: Sequence) -> tf.Tensor:
    return tf.constant([t.encode("utf-8") if isinstance(t, str) else t for t in texts], tf.string)


def assert_same_pairs(reference, encode: Callable, firsts: Sequence, seconds: Sequence,
                      max_length: int, strategy: str = "longest_first") -> None:
    """`encode` (a pair tokenizer or a signature) gives training's ids, type ids and mask."""
    encoded = encode(_as_bytes(firsts), _as_bytes(seconds))
    expected = expected_pairs(reference, firsts, seconds, max_length, strategy)
    mask = encoded["attention_mask"].numpy()
    types = [row[: m.sum()].tolist() for row, m in zip(encoded["token_type_ids"].numpy(), mask,
                                                       strict=True)]
    for i, (want, got) in enumerate(zip(expected["input_ids"], rows(encoded), strict=True)):
        assert got == want, f"{firsts[i]!r} / {seconds[i]!r}: {reference.convert_ids_to_tokens(got)}"
    assert types == expected["token_type_ids"]
    width = max(len(e) for e in expected["input_ids"])
    assert encoded["input_ids"].shape == (len(firsts), width) and width <= max_length
    assert encoded["input_ids"].dtype == tf.int32 and encoded["token_type_ids"].dtype == tf.int32
    assert (encoded["input_ids"].numpy()[mask == 0] == reference.pad_token_id).all()
    assert not encoded["token_type_ids"].numpy()[mask == 0].any()


def imdb_sample(imdb_dir: Path, split: str, n: int) -> list[str]:
    """A fixed sample of `n` reviews of the IMDb `split` (rows are sorted by label)."""
    import pandas as pd

    seed = {"train": 3, "test": 7}[split]
    texts = pd.read_parquet(imdb_dir / f"{split}.parquet", columns=["text"])["text"]
    return texts.sample(n=n, random_state=seed).tolist()
