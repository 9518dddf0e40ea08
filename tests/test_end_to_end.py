"""The real thing, small: fine-tune the shared MiniLM on a few hundred IMDb reviews via the script."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from conftest import REPO

from tfbert.cli.predict import main as predict_main
from tfbert.run_folder import RunFolder

pytestmark = pytest.mark.real_model

# A seeded run of this size reached 0.79 test accuracy here (2 epochs, 600 reviews); chance is 0.5.
MIN_TEST_ACCURACY = 0.68


def test_train_script_on_real_imdb(shared_model_dir, shared_imdb_dir, tmp_path, capsys):
    command = [
        sys.executable, str(REPO / "scripts" / "train.py"),
        "--model", str(shared_model_dir), "--data", str(shared_imdb_dir),
        "--label-names", "negative,positive",
        "--train-size", "500", "--val-size", "100", "--test-size", "200",
        "--max-length", "128", "--epochs", "2", "--batch-size", "16", "--learning-rate", "1e-4",
        "--seed", "42", "--output-dir", str(tmp_path), "--run-name", "imdb-small",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    folder = RunFolder(tmp_path / "imdb-small")
    assert folder.is_complete()
    metrics = json.loads(folder.metrics.read_text())
    test = metrics["test"]
    assert test["n_examples"] == 200
    assert sum(map(sum, test["confusion_matrix"])) == 200
    assert set(test["per_class"]) == {"negative", "positive"}
    assert test["accuracy"] >= MIN_TEST_ACCURACY, test
    assert test["f1"] >= MIN_TEST_ACCURACY - 0.05, test
    assert "test: 200 examples" in done.stdout
    assert "Evaluating the test split (200 texts)" in done.stdout  # long passes show progress
    assert re.search(r"\b(\d+)/\1 \[=+\]", done.stdout.split("Evaluating the test split")[1])

    capsys.readouterr()
    code = predict_main(["--model", str(folder.path), "--json",  # the old flag for a run folder
                         "An absolute masterpiece, beautifully acted and deeply moving.",
                         "A dreadful, boring film. I wanted my money back."])
    out = capsys.readouterr().out
    assert code == 0, out
    labels = [json.loads(line)["label"] for line in out.strip().splitlines()]
    assert labels == ["positive", "negative"]
