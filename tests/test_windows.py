"""Long texts as windows: the cut, the aggregate, the weights, and a run trained on windows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from conftest import _trained

from tfbert.base.errors import DataError
from tfbert.config import DataConfig, ModelConfig, OutputConfig, RunConfig, TrainConfig
from tfbert.features import TokenizedSplit, sort_by_length, tokenize_frame, window_weights
from tfbert.tasks.kinds import MULTI_LABEL, REGRESSION, SINGLE_LABEL
from tfbert.tasks.windows import aggregate_windows, text_labels
from tfbert.tokenizers.windows import encode_windows, window_starts

WORDS = "the movie was great and the plot was awful but the acting was fine".split()


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


def _text(n_words: int) -> str:
    return " ".join(WORDS[i % len(WORDS)] for i in range(n_words))


def _expected_windows(tokenizer, text: str, max_length: int, stride: int) -> list[list[int]]:
    """Windows by `window_starts` over the text's tokens, between [CLS] and [SEP]."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    budget = max_length - 2
    return [[tokenizer.cls_token_id, *ids[s:s + budget], tokenizer.sep_token_id]
            for s in window_starts(len(ids), budget, stride)]


@pytest.mark.parametrize("n_words", [0, 1, 5, 6, 7, 13, 40])
def test_windows_are_the_fast_tokenizers_overflow(tokenizer, n_words):
    text = _text(n_words)
    found = encode_windows(tokenizer, [text], None, max_length=8, stride=2, max_windows=100)
    assert found.encoded["input_ids"] == _expected_windows(tokenizer, text, 8, 2)
    assert all(len(row) <= 8 for row in found.encoded["input_ids"])
    assert set(found.text_ids) == {0} and len(found.capped) == 0


def test_window_starts_rule():
    assert window_starts(5, 6, 2) == [0]  # fits: one window
    assert window_starts(6, 6, 2) == [0]  # exactly one window
    assert window_starts(7, 6, 2) == [0, 4]
    assert window_starts(14, 6, 2) == [0, 4, 8]
    with pytest.raises(ValueError):
        window_starts(10, 4, 4)


def test_windows_are_capped_per_text_and_counted(tokenizer):
    long_text = "great " * 20_000  # 100,000 characters
    found = encode_windows(tokenizer, ["fine", long_text, "awful"], None, 8, 2, max_windows=3)
    assert np.bincount(found.text_ids).tolist() == [1, 3, 1]
    assert found.capped.tolist() == [1]


def test_pair_windows_keep_the_second_text_whole(tokenizer):
    first, second = _text(30), "was it good"
    found = encode_windows(tokenizer, [first], [second], 12, 2, max_windows=100)
    second_ids = tokenizer(second, add_special_tokens=False)["input_ids"]
    rows = found.encoded["input_ids"]
    assert len(rows) > 1
    for row in rows:
        assert row[-len(second_ids) - 1:-1] == second_ids and len(row) <= 12
    whole = tokenizer(first, second, truncation="only_first", max_length=12, stride=2,
                      return_overflowing_tokens=True)
    assert rows == whole["input_ids"]


def test_pair_whose_second_text_leaves_no_room_is_refused(tokenizer):
    with pytest.raises(DataError, match="pair 1: the second text"):
        encode_windows(tokenizer, ["fine", "fine"], ["good", _text(20)], 12, 2, 10)


def test_tokenize_frame_windows_carry_text_ids_labels_and_order(tokenizer):
    frame = pd.DataFrame({"text": [_text(3), _text(30), _text(12)], "label": [0, 1, 0]})
    split = tokenize_frame(frame, tokenizer, 8, windows=(2, 100), show_progress=False, batch_size=2)
    counts = np.bincount(split.text_ids)
    assert counts[0] == 1 and counts[1] > counts[2] > 1
    assert split.labels.tolist() == [frame["label"][t] for t in split.text_ids]
    ordered, order = sort_by_length(split)
    assert ordered.text_ids.tolist() == split.text_ids[order].tolist()
    assert text_labels(ordered.labels, ordered.text_ids).tolist() == [0, 1, 0]


def test_window_weights_count_each_text_once():
    split = TokenizedSplit({}, np.zeros(6, np.int32), np.array([0, 1, 1, 1, 2, 2]))
    weights = window_weights(split)
    per_text = np.bincount(split.text_ids, weights)
    assert np.allclose(per_text, per_text[0]) and np.isclose(weights.mean(), 1.0)
    assert window_weights(TokenizedSplit({}, np.zeros(3, np.int32))) is None


def test_aggregate_rules():
    logits = np.array([[2.0, 0.0], [0.0, 2.0], [4.0, 0.0], [1.0, 1.0]])
    ids = np.array([0, 0, 1, 0])
    mean = aggregate_windows(SINGLE_LABEL, logits, ids, "mean-logits")
    assert np.allclose(mean, [[1.0, 1.0], [4.0, 0.0]])
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    mean_p = aggregate_windows(SINGLE_LABEL, logits, ids, "mean-probabilities")
    assert np.allclose(np.exp(mean_p[0]), probs[[0, 1, 3]].mean(0), atol=1e-6)
    top = aggregate_windows(SINGLE_LABEL, logits, ids, "max")
    peak = probs[[0, 1, 3]].max(0)
    assert np.allclose(np.exp(top[0]), peak / peak.sum(), atol=1e-6)
    one = aggregate_windows(SINGLE_LABEL, logits[2:3], np.array([0]), "max")
    assert np.argmax(one) == 0  # one window: the same answer
    labels = aggregate_windows(MULTI_LABEL, logits, ids, "max")
    assert np.allclose(labels[0], [2.0, 2.0], atol=1e-4)  # sigmoid is monotone: the top logit
    scores = np.array([[1.0], [3.0], [5.0], [2.0]])
    assert np.allclose(aggregate_windows(REGRESSION, scores, ids, "mean-probabilities")[:, 0],
                       [2.0, 5.0])
    assert np.allclose(aggregate_windows(REGRESSION, scores, ids, "max")[:, 0], [3.0, 5.0])
    with pytest.raises(ValueError, match="at least one window"):
        aggregate_windows(SINGLE_LABEL, logits, np.array([0, 0, 2, 0]), "max")


def test_window_config_is_checked_and_old_run_names_stay():
    with pytest.raises(ValueError, match="long_text"):
        DataConfig(long_text="chunks")
    with pytest.raises(ValueError, match="aggregate"):
        DataConfig(aggregate="median")
    with pytest.raises(ValueError, match="window_stride"):
        DataConfig(long_text="windows", max_length=64, window_stride=40)
    with pytest.raises(ValueError, match="max_windows"):
        DataConfig(max_windows=0)
    with pytest.raises(ValueError, match="truncation"):
        DataConfig(long_text="windows", truncation="head+tail")
    assert DataConfig(max_length=256, long_text="windows").stride == 64
    plain = RunConfig()
    assert "long_text" not in plain.identity()["data"]
    assert plain.fingerprint() == RunConfig(data=DataConfig(max_windows=3)).fingerprint()
    windowed = RunConfig(data=DataConfig(long_text="windows"))
    assert windowed.fingerprint() != plain.fingerprint()
    assert RunConfig.from_dict(windowed.to_dict()) == windowed


def test_train_flags_reach_the_config():
    from tfbert.cli.train import build_parser, config_from_args

    args = build_parser().parse_args(["--long-text", "windows", "--window-stride", "16",
                                      "--max-windows", "5", "--aggregate", "max"])
    data = config_from_args(args).data
    assert (data.long_text, data.window_stride, data.max_windows, data.aggregate) == (
        "windows", 16, 5, "max")


@pytest.fixture(scope="session")
def windowed_run(tiny_model_dir, toy_data_dir, tmp_path_factory):
    """The tiny model trained on windows of 8 tokens: most toy reviews take two or more."""
    from tfbert.cli.train import train_and_export

    def train(folder):
        train_and_export(RunConfig(
            data=DataConfig(sources=(str(toy_data_dir),), max_length=8, long_text="windows",
                            window_stride=2, max_windows=4),
            model=ModelConfig(name_or_path=str(tiny_model_dir), precision="float32"),
            train=TrainConfig(epochs=5, batch_size=16, learning_rate=5e-3, warmup_ratio=0.0,
                              early_stopping_patience=None),
            output=OutputConfig(output_dir=str(folder), run_name="windows"),
        ))

    return _trained(tmp_path_factory, "windowed_run", train, "windows")


def test_windowed_run_learns_and_counts_texts(windowed_run, toy_data_dir, tokenizer):
    from conftest import NEGATIVE_WORDS, POSITIVE_WORDS

    test = windowed_run.metrics["test"]
    assert test["n_examples"] == 40  # texts, not windows
    # A one-window reader sees the cue word in the first 6 tokens only; elsewhere it can but guess.
    texts = pd.read_csv(toy_data_dir / "test.csv")["text"]
    cues = set(tokenizer.convert_tokens_to_ids(POSITIVE_WORDS + NEGATIVE_WORDS))
    seen = np.mean([bool(cues & set(tokenizer(t, max_length=8, truncation=True)["input_ids"]))
                    for t in texts])
    assert seen < 0.9 and test["accuracy"] > seen + (1 - seen) / 2, (seen, test["accuracy"])
    saved = RunConfig.load(windowed_run.run_dir / "run_config.json").data
    assert (saved.long_text, saved.window_stride, saved.max_windows) == ("windows", 2, 4)


def test_classifier_aggregates_its_windows(windowed_run, tokenizer):
    from tfbert.predict import Classifier

    classifier = Classifier.from_run(windowed_run.run_dir, compute_dtype="float32")
    texts = ["great", _text(9), _text(40)]
    logits = classifier.predict_logits(texts)
    assert logits.shape == (3, 2)
    assert classifier.last_windows.tolist()[0] == 1 and classifier.last_windows[2] == 4
    answers = classifier.predict(texts)
    assert [a.to_dict()["windows"] for a in answers] == classifier.last_windows.tolist()
    assert classifier.predict([]) == [] and classifier.last_windows.tolist() == []
    one_window = dataclasses.replace(classifier.data, long_text="truncate")
    plain = Classifier(classifier.model, classifier.tokenizer, one_window, head=classifier.head,
                       compute_dtype="float32")
    found = encode_windows(tokenizer, texts, None, 8, 2, 4)
    windows = [tokenizer.decode(row, skip_special_tokens=True) for row in found.encoded["input_ids"]]
    window_logits = plain.predict_logits(windows)
    expected = aggregate_windows(SINGLE_LABEL, window_logits, found.text_ids, "mean-logits")
    assert np.allclose(logits, expected, atol=1e-4)


LONG_TEXTS = ["great", _text(9), "", _text(40), "great " * 20_000]  # the last: 120,000 chars


def test_export_serves_the_classifiers_windows(windowed_run):
    from tfbert.predict import Classifier
    from tfbert.serving.exported import ExportedClassifier

    export = windowed_run.run_dir / "export" / "classifier" / "1"
    served = ExportedClassifier(export, batch_size=2).predict_outputs(LONG_TEXTS)
    classifier = Classifier.from_run(windowed_run.run_dir, compute_dtype="float32")
    assert np.abs(served - classifier.predict_outputs(LONG_TEXTS)).max() <= 1e-5
    assert classifier.last_windows.tolist() == [1, 2, 1, 4, 4]  # the longest stops at 4
    records = list(tf.data.TFRecordDataset(str(export / "assets.extra" /
                                                "tf_serving_warmup_requests")))
    assert len(records) == 3  # the last: a text of max_windows windows
    card = (export.parent / "README.md").read_text(encoding="utf-8")
    assert "overlapping windows (stride 2 tokens, at most 4 per text)" in card


def test_export_windows_through_the_tf1_loader_without_transformers(windowed_run):
    from serving_checks import stock_serving_report

    from tfbert.predict import Classifier

    export = windowed_run.run_dir / "export" / "classifier" / "1"
    report = stock_serving_report(export, LONG_TEXTS)
    assert report["missing"] == [] and report["shape"] == [len(LONG_TEXTS), 2]
    classifier = Classifier.from_run(windowed_run.run_dir, compute_dtype="float32")
    expected = classifier.predict_outputs(LONG_TEXTS)
    assert np.abs(np.array(report["probabilities"]) - expected).max() <= 1e-5


@pytest.mark.parametrize("how", ["mean-probabilities", "max"])
def test_served_aggregates_are_the_in_process_ones(windowed_run, how):
    from tfbert.predict import Classifier
    from tfbert.serving.module import build_serving_module

    run = Classifier.from_run(windowed_run.run_dir, compute_dtype="float32")
    data = dataclasses.replace(run.data, aggregate=how)
    classifier = Classifier(run.model, run.tokenizer, data, head=run.head, compute_dtype="float32")
    module = build_serving_module(run.model, run.tokenizer, data.max_length, head=run.head,
                                  windows=(data.stride, data.max_windows, how))
    served = module.classify_text(tf.constant(LONG_TEXTS))["probabilities"].numpy()
    assert np.abs(served - classifier.predict_outputs(LONG_TEXTS)).max() <= 1e-5


def test_labelled_files_say_how_many_windows_each_text_took(windowed_run, tmp_path):
    from tfbert.labelling.config import LabelFileConfig
    from tfbert.labelling.file_job import predict_file
    from tfbert.predict import Classifier
    from tfbert.serving.exported import ExportedClassifier

    source = tmp_path / "texts.parquet"
    pd.DataFrame({"text": ["great", _text(9), "  ", _text(40), "awful"]}).to_parquet(source)
    export = windowed_run.run_dir / "export" / "classifier" / "1"
    labelled = {}
    for name, classifier in (("run", Classifier.from_run(windowed_run.run_dir, compute_dtype="float32")),
                             ("export", ExportedClassifier(export))):
        output = tmp_path / f"{name}.parquet"
        predict_file(classifier, LabelFileConfig(str(source), str(output), chunk_rows=2), name)
        labelled[name] = pd.read_parquet(output)
    for frame in labelled.values():
        assert frame["row"].tolist() == [0, 1, 3, 4]  # the blank text is skipped
        assert frame["windows"].tolist() == [1, 2, 4, 1]
        assert list(frame.columns)[:4] == ["row", "label", "label_id", "prob_negative"]
    assert np.allclose(labelled["run"]["prob_positive"], labelled["export"]["prob_positive"],
                       atol=1e-5)


def test_resumed_window_batches_are_the_uninterrupted_ones_with_their_weights(tokenizer):
    from tfbert.features import make_dataset

    frame = pd.DataFrame({"text": [_text(n) for n in range(1, 30)], "label": [n % 2 for n in range(1, 30)]})
    split = tokenize_frame(frame, tokenizer, 8, windows=(2, 6), show_progress=False)
    weights = window_weights(split)

    def batches(start_step: int):
        dataset = make_dataset(split, 4, 0, shuffle=True, seed=3, bucketing=True, pad_multiple=4,
                               epochs=2, start_step=start_step, weights=weights)
        return [(f["input_ids"].numpy().tolist(), y.numpy().tolist(), w.numpy().tolist())
                for f, y, w in dataset]

    whole = batches(0)
    assert batches(5) == whole[5:]
    seen = np.concatenate([np.array(w) for _, _, w in whole[:len(whole) // 2]])
    assert np.isclose(seen.sum(), len(split))  # one epoch: every window once, weights mean 1


def test_per_text_multilabel_and_regression_labels():
    from tfbert.tasks.windows import per_text

    ids = np.array([1, 0, 1])
    rows = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], np.float32)
    logits, labels = per_text(MULTI_LABEL, np.zeros((3, 2)), rows, ids, "mean-probabilities")
    assert labels.tolist() == [[0.0, 1.0], [1.0, 0.0]] and np.allclose(logits, 0.0, atol=1e-5)
    scores, targets = per_text(REGRESSION, np.array([[1.0], [2.0], [3.0]]),
                               np.array([5.0, 7.0, 5.0]), ids, "mean-logits")
    assert scores[:, 0].tolist() == [2.0, 2.0] and targets.tolist() == [7.0, 5.0]
