"""The parity report: exact agreement counted, each mismatch located at its first differing token."""

from transformers import BertTokenizerFast

from benchmarks.tokenizers.tokenizer_parity import (
    Mismatch,
    _first_difference,
    compare_tokenizers,
    make_pairs,
    mismatch_category,
)
from tests.conftest import write_vocab
from tfbert.tokenizers import in_graph_tokenizer
from tfbert.tokenizers.wordpiece import BertTextTokenizer


def test_first_difference_is_the_shorter_length_when_one_is_a_prefix():
    assert _first_difference([2, 7, 9, 3], [2, 7, 8, 3]) == 2
    assert _first_difference([2, 7, 3], [2, 7]) == 2
    assert _first_difference([2, 3], [2, 3]) == 2


def test_report_counts_agreement_and_locates_the_first_difference(tmp_path):
    vocab = str(write_vocab(tmp_path))
    uncased = BertTokenizerFast(vocab_file=vocab, do_lower_case=True)
    cased = BertTokenizerFast(vocab_file=vocab, do_lower_case=False)  # "Good" is not in the vocabulary
    tokenizer = BertTextTokenizer.from_fast_tokenizer(uncased, 16)
    texts = ["the film was good", "the film was Good !", "great"]

    same = compare_tokenizers(uncased, tokenizer, texts, batch_size=2)
    assert (same.total, same.matched, same.mismatches, same.agreement) == (3, 3, [], 1.0)

    report = compare_tokenizers(cased, tokenizer, texts, batch_size=2)
    assert (report.total, report.matched) == (3, 2)
    [mismatch] = report.mismatches
    assert (mismatch.index, mismatch.position) == (1, 4)  # [CLS] the film was | Good
    assert mismatch.expected == ["[UNK]", "!", "[SEP]"] and mismatch.got == ["good", "!", "[SEP]"]
    assert mismatch.context == "the film was Good !"
    assert mismatch_category(mismatch) == "ascii only"
    assert report.reference_seconds > 0 and report.graph_seconds > 0


def test_pairs_are_compared_in_ids_and_type_ids(tmp_path):
    vocab = str(write_vocab(tmp_path))
    uncased = BertTokenizerFast(vocab_file=vocab, do_lower_case=True)
    cased = BertTokenizerFast(vocab_file=vocab, do_lower_case=False)
    tokenizer = in_graph_tokenizer(uncased, 12, pair=True)
    texts = ["the film was good", "great", "a plot"]
    pairs = ["the actors !", "it was Good and not bad at all", "dull"]

    same = compare_tokenizers(uncased, tokenizer, texts, 2, pairs)
    assert (same.total, same.matched, same.mismatches) == (3, 3, [])

    report = compare_tokenizers(cased, tokenizer, texts, 2, pairs)
    [mismatch] = report.mismatches
    assert (mismatch.index, mismatch.position) == (1, 5)  # [CLS] great [SEP] it was | Good
    assert mismatch.context == pairs[1]  # the context comes from the second text


def test_pairs_are_made_from_single_texts():
    texts = ["abcd", "efg", "hi", "jklmn"]
    firsts, seconds = make_pairs(texts, "next")
    assert sorted(firsts) == sorted(texts) and seconds == firsts[1:] + firsts[:1]
    assert make_pairs(texts, "next") == (firsts, seconds)  # a fixed order
    assert make_pairs(texts, "halves") == (["ab", "e", "h", "jk"], ["cd", "fg", "i", "lmn"])


def test_mismatches_are_grouped_by_their_least_ordinary_character():
    mismatch = Mismatch(index=0, position=1, expected=[], got=[], context="a caf\u00e9\u200b here")
    assert mismatch_category(mismatch) == "U+00E9 Ll LATIN SMALL LETTER E WITH ACUTE"


def test_train_tokenizer_trains_each_family_with_the_tests_trainers(tmp_path, capsys):
    import pandas as pd

    from benchmarks.tokenizers.train_tokenizer import FAMILY_NAMES, family_trainers, main

    assert sorted(family_trainers()) == sorted(FAMILY_NAMES)
    texts = ["the film was good", "the film was bad", "a great film", "an awful plot"] * 20
    pd.DataFrame({"text": texts}).to_parquet(tmp_path / "train.parquet")
    output = tmp_path / "tok-bpe"
    assert main(["--family", "byte-level-bpe", "--data", str(tmp_path / "train.parquet"),
                 "--vocab-size", "300", "--output", str(output)]) == 0
    assert (output / "tokenizer.json").exists() and "trained a byte-level-bpe" in capsys.readouterr().out
