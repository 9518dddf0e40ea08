"""Tokenization and the tf.data pipeline: truncation, dynamic padding, eager == tf.data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf
from transformers import AutoTokenizer

from tfbert.features import (
    make_dataset,
    padding_efficiency,
    sort_by_length,
    steps_per_epoch,
    tokenize_frame,
)


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


def test_tail_and_head_plus_tail_truncation(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    words = " ".join(f"w{i}" for i in range(40))
    frame = _frame([words, "good film"])
    pieces = tokenizer(list(frame["text"]), add_special_tokens=False)["input_ids"]
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    assert len(pieces[0]) > 14
    for truncation, head_tokens, head in [("tail", None, 0), ("head+tail", None, 3),
                                          ("head+tail", 10, 10)]:
        split = tokenize_frame(frame, tokenizer, max_length=16, show_progress=False,
                               truncation=truncation, head_tokens=head_tokens)
        values, offsets = split.columns["input_ids"]
        rows = [list(values[offsets[i]:offsets[i + 1]]) for i in range(2)]
        assert rows[0] == [cls, *pieces[0][:head], *pieces[0][len(pieces[0]) - 14 + head:], sep]
        assert rows[1] == [cls, *pieces[1], sep]  # short texts are never cut
        assert list(split.lengths()) == [16, len(pieces[1]) + 2]
        assert {k: len(v[0]) for k, v in split.columns.items()} == {k: sum(split.lengths())
                                                                   for k in split.columns}


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
    dataset = make_dataset(split, batch_size=8, pad_token_id=0, shuffle=True, seed=3, epochs=2)
    batches = iter(dataset)

    def epoch():
        ids = []
        for features, labels in (next(batches) for _ in range(5)):
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


def _varied_split(tokenizer, n=120, max_length=64):
    texts = [("the film was good " if i % 2 else "the movie was bad ") + "very " * (i * 7 % 50)
             for i in range(n)]
    return texts, tokenize_frame(_frame(texts), tokenizer, max_length, show_progress=False)


def test_bucketing_bounds_shapes_and_keeps_every_example_once(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    _, split = _varied_split(tokenizer)
    dataset = make_dataset(split, batch_size=8, pad_token_id=0, shuffle=True, seed=1,
                           bucketing=True, pad_multiple=16)
    seen, widths = [], set()
    for features, labels in dataset:
        ids = features["input_ids"].numpy()
        widths.add(ids.shape[1])
        real = features["attention_mask"].numpy().sum(axis=1)
        assert ids.shape[1] - real.max() < 16  # padded to the bucket, not beyond it
        for row, label in zip(ids, labels.numpy(), strict=True):
            seen.append((tuple(row[row != 0]), int(label)))
    assert widths <= {16, 32, 48, 64}
    expected = sorted((tuple(split.columns["input_ids"][0][a:b]), int(label)) for a, b, label in
                      zip(split.columns["input_ids"][1][:-1], split.columns["input_ids"][1][1:],
                          split.labels, strict=True))
    assert sorted(seen) == expected
    assert padding_efficiency(dataset) > padding_efficiency(
        make_dataset(split, batch_size=8, pad_token_id=0, shuffle=True, seed=1))


def test_bucketed_epochs_differ_in_order(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    _, split = _varied_split(tokenizer)
    epochs = [[y.numpy().tolist() for _, y in make_dataset(
        split, batch_size=8, pad_token_id=0, shuffle=True, seed=1, bucketing=True,
        epochs=epoch + 1, start_epoch=epoch)] for epoch in range(2)]
    assert epochs[0] != epochs[1]
    assert sorted(sum(epochs[0], [])) == sorted(sum(epochs[1], []))


def test_resume_position_continues_the_same_batch_sequence(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    _, split = _varied_split(tokenizer)
    steps = steps_per_epoch(split, 8, bucketing=True, pad_multiple=16)
    full = [f["input_ids"].numpy() for f, _ in make_dataset(
        split, 8, 0, shuffle=True, seed=5, bucketing=True, epochs=3)]
    assert len(full) == 3 * steps
    resumed = [f["input_ids"].numpy() for f, _ in make_dataset(
        split, 8, 0, shuffle=True, seed=5, bucketing=True, epochs=3, start_epoch=1, start_step=4)]
    assert len(resumed) == 2 * steps - 4
    for a, b in zip(full[steps + 4:], resumed, strict=True):
        np.testing.assert_array_equal(a, b)


def test_sort_by_length_round_trip(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    _, split = _varied_split(tokenizer, n=30)
    ordered, order = sort_by_length(split)
    assert list(ordered.lengths()) == sorted(split.lengths())
    values, offsets = split.columns["input_ids"]
    sorted_values, sorted_offsets = ordered.columns["input_ids"]
    for i, j in enumerate(order):
        np.testing.assert_array_equal(sorted_values[sorted_offsets[i]:sorted_offsets[i + 1]],
                                      values[offsets[j]:offsets[j + 1]])
    assert list(ordered.labels) == list(split.labels[order])


def test_bucketed_inference_matches_plain_padding(trained_run):
    from tfbert.predict import Classifier, predict_logits

    classifier = Classifier.from_run(trained_run.run_dir, compute_dtype="float32")
    texts, split = _varied_split(classifier.tokenizer, n=40, max_length=32)
    plain, plain_labels = predict_logits(classifier.model, make_dataset(split, 8, 0))
    ordered, order = sort_by_length(split)
    bucketed, _ = predict_logits(classifier.model,
                                 make_dataset(ordered, 8, 0, bucketing=True, pad_multiple=16))
    np.testing.assert_allclose(bucketed, plain[order], atol=1e-5)
    np.testing.assert_allclose(classifier.predict_logits(texts), plain, atol=1e-5)
