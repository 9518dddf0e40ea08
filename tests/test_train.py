"""Training end to end on a tiny random-weight BERT: run folder, metrics, predict, CLI exit codes."""

from __future__ import annotations

import json
import math

import pytest

from tfbert.base.errors import ExitCode
from tfbert.cli.evaluate import main as evaluate_main
from tfbert.cli.predict import main as predict_main
from tfbert.cli.train import main as train_main
from tfbert.model import resolve_precision
from tfbert.predict import Classifier
from tfbert.run_folder import RunFolder

METRIC_KEYS = {"n_examples", "accuracy", "f1", "precision", "recall", "per_class",
               "confusion_matrix", "loss"}


def test_run_folder_is_complete(trained_run):
    folder = RunFolder(trained_run.run_dir)
    for path in (folder.run_config, folder.labels, folder.history, folder.metrics,
                 folder.best_weights, folder.path / "config.json", folder.path / "tf_model.h5",
                 folder.path / "tokenizer.json", folder.path / "report.md",
                 folder.path / "confusion_matrix.png", folder.path / "training_curves.png"):
        assert path.exists(), path
    assert any(folder.logs.rglob("events.out.tfevents.*"))
    assert folder.is_complete()
    saved = json.loads(folder.run_config.read_text())
    assert saved["output"]["run_name"] == "tiny"
    assert (saved["model"]["precision"], saved["model"]["precision_reason"]) == resolve_precision("auto")
    model_config = json.loads((folder.path / "config.json").read_text())
    assert model_config["id2label"] == {"0": "negative", "1": "positive"}


def test_metrics_and_history(trained_run):
    metrics = json.loads((trained_run.run_dir / "metrics.json").read_text())
    for split in ("validation", "test"):
        assert METRIC_KEYS <= set(metrics[split])
        assert metrics[split]["n_examples"] == 40
    history = trained_run.history
    assert len(history["loss"]) == 5
    assert all(math.isfinite(v) for v in history["loss"])
    for key in ("val_loss", "val_accuracy", "val_f1", "val_precision", "val_recall"):
        assert len(history[key]) == 5
    csv_header = (trained_run.run_dir / "history.csv").read_text().splitlines()[0]
    assert "val_f1" in csv_header
    # The toy task gives the label away in one word: a working loop learns it.
    assert metrics["test"]["accuracy"] >= 0.8, metrics["test"]
    assert history["loss"][-1] < history["loss"][0]


def test_best_epoch_weights_are_the_ones_saved(trained_run):
    metrics = json.loads((trained_run.run_dir / "metrics.json").read_text())
    best_f1 = max(trained_run.history["val_f1"])
    assert metrics["validation"]["f1"] == pytest.approx(best_f1, abs=1e-6)


def test_classifier_from_run_predicts(trained_run):
    classifier = Classifier.from_run(trained_run.run_dir)
    results = classifier.predict(["the film was wonderful", "the movie was awful", "good"])
    assert [r.label for r in results[:2]] == ["positive", "negative"]
    for r in results:
        assert set(r.probabilities) == {"negative", "positive"}
        assert sum(r.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert classifier.predict_proba([]).shape == (0, 2)
    with pytest.raises(TypeError):
        classifier.predict("one string")


def test_predict_cli_json_and_file(trained_run, tmp_path, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text("the film was superb\n\nthe plot was dull\n", encoding="utf-8")
    code = predict_main(["--run", str(trained_run.run_dir), "--json", "--file", str(texts),
                         "it was brilliant"])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [line["text"] for line in lines] == ["it was brilliant", "the film was superb",
                                                "the plot was dull"]
    assert lines[0]["label"] == "positive" and lines[2]["label"] == "negative"


def test_predict_from_run_and_export_agree_and_old_flag_still_works(trained_run, capsys):
    texts = ["the film was superb", "the plot was dull", "it was not bad at all"]
    outputs, export_dir = {}, trained_run.run_dir / "export" / "classifier" / "1"
    for flag, path in (("--run", trained_run.run_dir), ("--export", export_dir),
                       ("--model", trained_run.run_dir), ("--model", export_dir)):
        assert predict_main([flag, str(path), "--json", *texts]) == 0
        captured = capsys.readouterr()
        outputs[flag, str(path)] = [json.loads(line) for line in captured.out.splitlines()]
        assert ("deprecated" in captured.err) == (flag == "--model")
    first = outputs["--run", str(trained_run.run_dir)]
    for rows in outputs.values():
        assert [r["label"] for r in rows] == [r["label"] for r in first]
        for row, base in zip(rows, first, strict=True):
            assert row["probabilities"] == pytest.approx(base["probabilities"], abs=1e-4)


def test_evaluate_cli_records_metrics(run_copy, toy_data_dir, capsys):
    code = evaluate_main(["--run", str(run_copy), "--data", str(toy_data_dir),
                          "--split", "validation", "--json"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["n_examples"] == 40
    recorded = json.loads((run_copy / "metrics.json").read_text())
    assert recorded["evaluations"][f"{toy_data_dir}:validation"]["accuracy"] == printed["accuracy"]
    reports = list((run_copy / "evaluations").glob("*validation/report.md"))
    assert len(reports) == 1 and "confusion_matrix.png" in reports[0].read_text()
    assert "test" in recorded  # training's own metrics are kept


def test_train_cli_end_to_end_and_refuses_to_overwrite(tiny_model_dir, toy_data_dir, tmp_path):
    args = ["--model", str(tiny_model_dir), "--data", str(toy_data_dir), "--max-length", "16",
            "--epochs", "1", "--batch-size", "32", "--output-dir", str(tmp_path), "--run-name", "cli",
            "--no-export"]
    assert train_main(args) == 0
    assert RunFolder(tmp_path / "cli").is_complete()
    assert train_main(args) == ExitCode.RUN_FOLDER


def test_cli_errors_exit_with_codes(tiny_model_dir, toy_data_dir, tmp_path, capsys):
    base = ["--output-dir", str(tmp_path), "--epochs", "1"]
    assert train_main(["--model", str(tiny_model_dir), "--data", str(tmp_path / "no.csv")] + base) \
        == ExitCode.DATA
    assert "no.csv does not exist" in capsys.readouterr().err
    assert train_main(["--model", str(tmp_path), "--data", str(toy_data_dir)] + base) == ExitCode.MODEL
    assert "no config.json" in capsys.readouterr().err
    # max length beyond the model's 64 positions
    assert train_main(["--model", str(tiny_model_dir), "--data", str(toy_data_dir),
                       "--max-length", "128"] + base) == ExitCode.DATA
    assert "exceeds the model's 64 positions" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        train_main(["--epochs", "0"])
    assert exit_info.value.code == 2
    assert not any(tmp_path.iterdir())  # nothing written for any of the failures


def test_mixed_bfloat16_trains_with_finite_float32_loss(tiny_model_dir, toy_data_dir, tmp_path):
    from tfbert import train
    from tfbert.base.keras import keras
    from tfbert.config import DataConfig, ModelConfig, OutputConfig, RunConfig, TrainConfig

    cfg = RunConfig(
        data=DataConfig(sources=(str(toy_data_dir),), max_length=32),
        model=ModelConfig(name_or_path=str(tiny_model_dir), precision="mixed_bfloat16"),
        train=TrainConfig(epochs=1, batch_size=32, learning_rate=5e-3),
        output=OutputConfig(output_dir=str(tmp_path), run_name="bf16", export=False),
    )
    result = train.run(cfg)
    assert math.isfinite(result.history["loss"][0])
    assert json.loads((result.run_dir / "run_config.json").read_text())["model"]["precision"] \
        == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after the run
    probs = Classifier.from_run(result.run_dir).predict_proba(["the film was good"])
    assert probs.dtype == "float32" and abs(probs.sum() - 1) < 1e-5
