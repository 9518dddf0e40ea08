"""Tokenization and the tf.data pipeline: truncation, dynamic padding, eager == tf.data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf
from transformers import AutoTokenizer

from tfbert.features import make_dataset, padding_efficiency, tokenize_frame


def _frame(texts):
    return pd.DataFrame({"text": texts, "label": [i % 2 for i in range(len(texts))]})


def test_tokenize_truncates_and_never_pads(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    frame = _frame(["good", "the film was " * 30, "bad movie"])
    split = tokenize_frame(frame, tokenizer, max_length=16, show_progress=False)
    assert list(split.lengths()) == [3, 16, 4]
    expected = tokenizer(list(frame["text"]), truncation=True, max_length=16)["input_ids"]
    values, offsets = split.columns["input_ids"]
    assert [list(values[offsets[i]:offsets[i + 1]]) for i in range(3)] == expected
    assert list(split.labels) == [0, 1, 0]


def test_batches_pad_to_their_own_longest_sequence(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    texts = ["good", "bad film", "the film was great", "the film was " * 20]
    split = tokenize_frame(_frame(texts), tokenizer, max_length=32, show_progress=False)
    batches = list(make_dataset(split, batch_size=2, pad_token_id=tokenizer.pad_token_id))
    widths = [b[0]["input_ids"].shape[1] for b in batches]
    assert widths == [4, 32]  # [CLS] bad film [SEP] = 4; the second batch holds a truncated text
    first, labels = batches[0]
    assert first["input_ids"].dtype == tf.int32 and labels.dtype == tf.int32
    np.testing.assert_array_equal(first["attention_mask"].numpy(), [[1, 1, 1, 0], [1, 1, 1, 1]])
    np.testing.assert_array_equal(first["input_ids"].numpy()[0, 3], tokenizer.pad_token_id)
    # Same ids as the tokenizer padding each batch itself (eager path vs tf.data path).
    eager = tokenizer(texts[:2], truncation=True, max_length=32, padding=True, return_tensors="np")
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        np.testing.assert_array_equal(first[key].numpy(), eager[key])


def test_shuffle_changes_order_each_epoch_but_keeps_pairs(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    texts = [f"the film was {'good' if i % 2 else 'bad'} " + "very " * (i % 7) for i in range(40)]
    split = tokenize_frame(_frame(texts), tokenizer, max_length=32, show_progress=False)
    dataset = make_dataset(split, batch_size=8, pad_token_id=0, shuffle=True, seed=3)

    def epoch():
        ids = []
        for features, labels in dataset:
            for row, label in zip(features["input_ids"].numpy(), labels.numpy(), strict=True):
                word = tokenizer.convert_ids_to_tokens(int(row[4]))
                assert (word == "good") == bool(label)  # labels stay with their texts
                ids.append(tuple(row[row != 0]))
        return ids

    first, second = epoch(), epoch()
    assert sorted(first) == sorted(second) and len(first) == 40
    assert first != second


def test_padding_efficiency_counts_real_tokens(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    split = tokenize_frame(_frame(["good", "bad film"]), tokenizer, max_length=8, show_progress=False)
    dataset = make_dataset(split, batch_size=2, pad_token_id=0)
    assert padding_efficiency(dataset) == 7 / 8
