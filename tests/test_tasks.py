"""Regression and multi-label end to end: labels read, heads trained, answers predicted,
served and written to files alike."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from conftest import toy_targets
from serving_checks import stock_serving_report

from tfbert.base.errors import DataError, ExitCode
from tfbert.cli.evaluate import main as evaluate_main
from tfbert.cli.predict import main as predict_main
from tfbert.cli.train import main as train_main
from tfbert.config import DataConfig, RunConfig, TrainConfig
from tfbert.data import load_splits
from tfbert.predict import Classifier
from tfbert.serving.exported import ExportedClassifier
from tfbert.tasks.head import TaskHead, sigmoid
from tfbert.tasks.losses import build_loss

TEXTS = ["the film was wonderful", "the movie was awful", "a plot", "it was the film and the "
         "story and the actors", "", "café 😀 <br />ok"]


def test_task_settings_are_checked_when_made():
    with pytest.raises(ValueError, match="task must be one of"):
        DataConfig(task="ranking")
    with pytest.raises(ValueError, match="two or more distinct columns"):
        DataConfig(label_columns=("toxic",))
    with pytest.raises(ValueError, match="multi-label task, not regression"):
        DataConfig(label_columns=("a", "b"), task="regression")
    with pytest.raises(ValueError, match="a regression target has none"):
        DataConfig(task="regression", label_names=("a", "b"))
    with pytest.raises(ValueError, match="val_f1 is not computed for a regression task"):
        RunConfig(data=DataConfig(task="regression"), train=TrainConfig(monitor="val_f1"))
    assert TrainConfig(monitor="val_rmse").monitor_mode == "min"
    assert TrainConfig(monitor="val_pearson").monitor_mode == "max"


def _write(folder, frame, suffix=".csv"):
    folder.mkdir(exist_ok=True)
    for split, part in (("train", frame.iloc[:40]), ("test", frame.iloc[40:])):
        part = part.reset_index(drop=True)
        if suffix == ".csv":
            part.to_csv(folder / f"{split}.csv", index=False)
        else:
            part.to_parquet(folder / f"{split}.parquet")
    return folder


def test_regression_labels_from_csv_text_and_bad_ones_counted(tmp_path, caplog):
    frame = toy_targets(60, seed=4)[["text", "score"]].astype({"score": object})
    frame.loc[[3, 7], "score"] = ["great", "inf"]
    folder = _write(tmp_path / "reg", frame)
    splits = load_splits(DataConfig(sources=(str(folder),), label_column="score", val_size=5))
    assert splits.labels.task == "regression" and splits.labels.names == ("score",)
    assert splits.config.task == "regression"  # the run saves what auto chose
    assert sum(splits.sizes().values()) == 58  # two rows set aside...
    assert "1 labels that are not numbers (rows 3)" in caplog.text  # ...and counted by reason
    assert "1 labels that are NaN or infinite (rows 7)" in caplog.text
    with pytest.raises(DataError, match="labels that are not numbers"):
        load_splits(DataConfig(sources=(str(folder),), label_column="score", strict=True))


def _label_sets(splits):
    names = splits.labels.names
    return sorted(tuple(n for n, on in zip(names, row, strict=True) if on)
                  for frame in (splits.train, splits.validation, splits.test)
                  for row in frame["label"])


def test_three_label_forms_give_the_same_label_sets(tmp_path):
    frame = toy_targets(60, seed=5)
    frame.loc[2, "tags"] = []  # "no label" is an answer
    as_lists = _write(tmp_path / "lists", frame[["text", "tags"]], ".parquet")
    joined = frame.assign(tags=frame["tags"].map("|".join))[["text", "tags"]]
    as_strings = _write(tmp_path / "strings", joined)
    columns = frame[["text"]].copy()
    for name in ("long", "negative", "positive"):
        columns[name] = frame["tags"].map(lambda tags, n=name: int(n in tags))
    as_columns = _write(tmp_path / "columns", columns)
    read = [load_splits(DataConfig(sources=(str(as_lists),), label_column="tags", val_size=5)),
            load_splits(DataConfig(sources=(str(as_strings),), label_column="tags",
                                   label_separator="|", val_size=5)),
            load_splits(DataConfig(sources=(str(as_columns),), val_size=5,
                                   label_columns=("long", "negative", "positive")))]
    assert all(s.labels.task == "multi-label" for s in read)
    assert all(s.labels.names == ("long", "negative", "positive") for s in read)
    assert _label_sets(read[0]) == _label_sets(read[1]) == _label_sets(read[2])
    assert () in _label_sets(read[0])
    with pytest.raises(DataError, match="labels outside --label-names"):
        load_splits(DataConfig(sources=(str(as_strings),), label_column="tags", label_separator="|",
                               label_names=("negative", "positive")))


def test_losses_and_their_weights_by_hand():
    logits, labels = np.array([[2.0, -1.0], [0.5, 0.5]], np.float32), np.array([[1, 0], [0, 1]])
    plain = build_loss("multi-label", labels, 2, weighted=False)
    expected = np.mean(np.logaddexp(0, -np.where(labels, logits, -logits)), axis=1)
    np.testing.assert_allclose(plain(labels, logits, sample_weight=None).numpy(), expected.mean(), rtol=1e-5)
    class_weighted = build_loss("single-label", np.array([0, 0, 0, 1]), 2, weighted=True)
    np.testing.assert_allclose(class_weighted.class_weights.numpy(), [4 / 6, 2.0])
    positive_weighted = build_loss("multi-label", np.array([[1, 0], [0, 0], [0, 0], [0, 1]]), 2, True)
    np.testing.assert_allclose(positive_weighted.positive_weights.numpy(), [3.0, 3.0])
    regression = build_loss("regression", np.array([0.0, 0.0, 0.0, 1.0]), 1, weighted=True)
    squared = regression(np.array([0.0, 1.0]), np.array([[1.0], [0.0]])).numpy()
    np.testing.assert_allclose(squared, (4 / 6 + 2.0) / 2, rtol=1e-5)  # rare value counts more


def test_regression_run_learns_and_serves_the_same_scores(regression_run):
    run = regression_run.run_dir
    head = TaskHead.load(run / "head.json")
    assert head.task == "regression" and head.scale != 1.0  # trained on z-scores
    assert regression_run.metrics["test"]["pearson"] > 0.5
    assert "val_rmse" in regression_run.history and "val_pearson" in regression_run.history
    in_process = Classifier.from_run(run, compute_dtype="float32").predict_outputs(TEXTS)[:, 0]
    exported = ExportedClassifier(run / "export" / "classifier" / "1")
    np.testing.assert_allclose(exported.predict_outputs(TEXTS)[:, 0], in_process, atol=1e-5)
    assert [p.score for p in exported.predict(TEXTS)] == pytest.approx(in_process, abs=1e-5)
    loaded = tf.saved_model.load(str(run / "export" / "classifier" / "1"))
    assert loaded.task.numpy() == b"regression"
    keras_call = loaded.classify_text(tf.constant(TEXTS))  # the plain function TFSMLayer calls
    np.testing.assert_allclose(keras_call["score"].numpy(), in_process, atol=1e-5)
    served = stock_serving_report(run / "export" / "classifier" / "1", TEXTS)
    assert not served["missing"] and set(served["outputs"]) == {"score"}
    np.testing.assert_allclose(served["outputs"]["score"], in_process, atol=1e-5)
    card = (run / "export" / "classifier" / "README.md").read_text()
    assert "task: regression" in card and "pearson" in card and "`score`" in card


def test_multilabel_run_tunes_thresholds_and_serves_them(multilabel_run):
    run = multilabel_run.run_dir
    head = TaskHead.load(run / "head.json")
    assert head.names == ("long", "negative", "positive") and len(head.thresholds) == 3
    metrics = multilabel_run.metrics
    assert metrics["test"]["per_label"]["long"]["f1"] >= 0.9  # length is easy to learn
    gain = metrics["thresholds"]["validation"]
    assert gain["micro_f1_tuned"] >= gain["micro_f1_at_0.5"]  # tuned on this very split
    loaded = tf.saved_model.load(str(run / "export" / "classifier" / "1"))
    np.testing.assert_allclose(loaded.thresholds.numpy(), head.thresholds, rtol=1e-6)
    out = loaded.signatures["serving_default"](text=tf.constant(TEXTS))
    assert set(out) == {"probabilities", "labels_mask", "label_names"}
    assert out["labels_mask"].dtype == tf.bool and out["label_names"].shape == (len(TEXTS), 3)
    in_process = Classifier.from_run(run, compute_dtype="float32")
    probabilities = in_process.predict_outputs(TEXTS)
    np.testing.assert_allclose(out["probabilities"].numpy(), probabilities, atol=1e-5)
    ids = loaded.signatures["token_ids"](**{k: tf.constant(v, tf.int32) for k, v in in_process.tokenizer(
        TEXTS, padding=True, truncation=True, max_length=32, return_tensors="np").items()})
    np.testing.assert_allclose(ids["probabilities"].numpy(), probabilities, atol=1e-5)
    keras_call = loaded.classify_text(tf.constant(TEXTS))
    np.testing.assert_array_equal(keras_call["labels_mask"].numpy(), out["labels_mask"].numpy())
    given = [p.labels for p in in_process.predict(TEXTS)]
    assert given == [p.labels for p in ExportedClassifier(
        run / "export" / "classifier" / "1").predict(TEXTS)]
    served = stock_serving_report(run / "export" / "classifier" / "1", TEXTS)
    np.testing.assert_allclose(served["outputs"]["probabilities"], probabilities, atol=1e-5)
    assert [tuple(n for n, on in zip(names, mask, strict=True) if on) for names, mask in zip(
        served["outputs"]["label_names"], served["outputs"]["labels_mask"], strict=True)] == given
    assert np.allclose(sigmoid(np.zeros(1)), 0.5)


def test_files_get_the_answer_columns_of_each_task(regression_run, multilabel_run, tmp_path):
    source = tmp_path / "in.csv"
    pd.DataFrame({"text": TEXTS[:4]}).to_csv(source, index=False)
    assert predict_main(["--run", str(regression_run.run_dir), "--input", str(source),
                         "--output", str(tmp_path / "scores.csv"), "--compute-dtype", "float32"]) == 0
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert list(scores.columns) == ["row", "score"]
    in_process = Classifier.from_run(regression_run.run_dir, compute_dtype="float32")
    expected = in_process.predict_outputs(TEXTS[:4])[:, 0]
    np.testing.assert_allclose(scores["score"], expected, atol=1e-5)
    export = multilabel_run.run_dir / "export" / "classifier" / "1"
    for suffix in (".csv", ".jsonl"):
        out = tmp_path / f"labels{suffix}"
        assert predict_main(["--export", str(export), "--input", str(source), "--output", str(out)]) == 0
    as_csv = pd.read_csv(tmp_path / "labels.csv")
    assert list(as_csv.columns) == ["row", "labels", "prob_long", "prob_negative", "prob_positive"]
    as_json = [json.loads(line) for line in (tmp_path / "labels.jsonl").read_text().splitlines()]
    lists = [row["labels"] for row in as_json]  # parquet keeps lists too: tests/test_beam.py
    assert as_csv["labels"].fillna("").tolist() == ["|".join(v) for v in lists]
    assert all(isinstance(v, list) for v in lists)


def test_predict_and_evaluate_commands_speak_the_task(regression_run, multilabel_run, toy_targets_dir,
                                                      tmp_path, capsys):
    assert predict_main(["--run", str(regression_run.run_dir), "--json", TEXTS[0]]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"text", "score"}
    assert predict_main(["--run", str(multilabel_run.run_dir), TEXTS[0]]) == 0
    assert "prob_" not in capsys.readouterr().out
    run = tmp_path / "run"
    import shutil

    shutil.copytree(regression_run.run_dir, run)
    assert evaluate_main(["--run", str(run), "--data", str(toy_targets_dir), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n_examples"] == 40 and metrics["rmse"] > 0
    assert (run / "evaluations").is_dir() and any((run / "evaluations").rglob("scatter.png"))


def test_bad_task_input_is_one_line_with_its_exit_code(tiny_model_dir, toy_targets_dir, tmp_path, capsys):
    base = ["--model", str(tiny_model_dir), "--data", str(toy_targets_dir), "--max-length", "16",
            "--epochs", "1", "--no-export", "--output-dir", str(tmp_path)]
    assert train_main(base + ["--label-column", "score", "--monitor", "val_f1"]) == ExitCode.DATA
    assert "val_f1 is not computed for a regression task" in capsys.readouterr().err
    assert train_main(base + ["--label-column", "tags", "--task", "regression"]) == ExitCode.DATA
    assert "labels that are not numbers" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_main(base + ["--task", "regression", "--label-names", "a,b"])
    assert "a regression target has none" in capsys.readouterr().err
