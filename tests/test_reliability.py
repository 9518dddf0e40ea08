"""Reliability: resume after kill -9, refusing to redo finished runs, NaN loss, determinism."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf
from conftest import REPO, toy_reviews

from tfbert.base.errors import ExitCode
from tfbert.cli.train import main as train_main
from tfbert.config import DataConfig, ModelConfig, OutputConfig, RunConfig, TrainConfig


@pytest.fixture(scope="module")
def long_toy_data(tmp_path_factory):
    """Enough rows that one epoch at batch 4 takes a few seconds even for the tiny model."""
    folder = tmp_path_factory.mktemp("long_toy")
    toy_reviews(800, seed=11).to_csv(folder / "train.csv", index=False)
    toy_reviews(40, seed=12).to_csv(folder / "validation.csv", index=False)
    toy_reviews(40, seed=13).to_csv(folder / "test.csv", index=False)
    return folder


def _train_command(model_dir, data_dir, output_dir, run_name):
    return [sys.executable, str(REPO / "scripts" / "train.py"), "--model", str(model_dir),
            "--data", str(data_dir), "--max-length", "32", "--epochs", "3", "--batch-size", "4",
            "--learning-rate", "2e-3", "--warmup-ratio", "0", "--early-stopping-patience", "0",
            "--save-every-steps", "25", "--no-export", "--output-dir", str(output_dir),
            "--run-name", run_name]


def _backup_position(backup_dir):
    latest = tf.train.latest_checkpoint(str(backup_dir / "chief"))
    if latest is None:
        return None
    try:
        return (int(tf.train.load_variable(latest, "ckpt_saved_epoch/.ATTRIBUTES/VARIABLE_VALUE")),
                int(tf.train.load_variable(latest, "ckpt_saved_batch/.ATTRIBUTES/VARIABLE_VALUE")))
    except (tf.errors.OpError, ValueError):  # e.g. NotFoundError, DataLossError, or UNKNOWN
        return None  # caught mid-write, or rotated away between listing and reading; look again


@pytest.mark.slow
def test_kill_9_mid_epoch_then_resume_matches_uninterrupted(tiny_model_dir, long_toy_data, tmp_path):
    steps = 200  # 800 rows / batch 4
    run_dir = tmp_path / "killed" / "run"
    process = subprocess.Popen(_train_command(tiny_model_dir, long_toy_data, tmp_path / "killed", "run"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    killed_at = None
    deadline = time.monotonic() + 600
    while process.poll() is None and time.monotonic() < deadline:
        position = _backup_position(run_dir / "backup")
        if position and position[0] == 1 and 50 <= position[1] < steps - 50:
            os.kill(process.pid, signal.SIGKILL)
            killed_at = position
            break
        time.sleep(0.05)
    process.wait(timeout=60)
    assert killed_at is not None, "training ended before it could be killed mid-epoch 2"
    assert not (run_dir / "metrics.json").exists()

    resumed = subprocess.run(_train_command(tiny_model_dir, long_toy_data, tmp_path / "killed", "run"),
                             capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming at epoch 2, step {killed_at[1] + 2}" in resumed.stderr
    assert not (run_dir / "backup").exists()

    clean = subprocess.run(_train_command(tiny_model_dir, long_toy_data, tmp_path / "clean", "run"),
                           capture_output=True, text=True, timeout=900)
    assert clean.returncode == 0, clean.stderr[-3000:]

    def read(folder):
        with open(folder / "history.csv", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        return rows, json.loads((folder / "metrics.json").read_text())

    resumed_rows, resumed_metrics = read(run_dir)
    clean_rows, clean_metrics = read(tmp_path / "clean" / "run")
    assert [r["epoch"] for r in resumed_rows] == ["0", "1", "2"]
    assert resumed_metrics["test"]["accuracy"] == pytest.approx(clean_metrics["test"]["accuracy"],
                                                                abs=0.05)
    assert resumed_metrics["test"]["loss"] == pytest.approx(clean_metrics["test"]["loss"], abs=0.05)
    # Epoch 1 finished before the kill: its row is the uninterrupted run's row.
    assert float(resumed_rows[0]["loss"]) == pytest.approx(float(clean_rows[0]["loss"]), rel=1e-4)
    print(f"killed at epoch 2 step {killed_at[1] + 1}; test loss resumed "
          f"{resumed_metrics['test']['loss']:.4f} vs uninterrupted {clean_metrics['test']['loss']:.4f}")


def _tiny_cfg(model_dir, data_dir, output_dir, run_name, **train):
    return RunConfig(
        data=DataConfig(sources=(str(data_dir),), max_length=32),
        model=ModelConfig(name_or_path=str(model_dir)),
        train=TrainConfig(**{"epochs": 2, "batch_size": 16, "learning_rate": 5e-3,
                             "warmup_ratio": 0.0, **train}),
        output=OutputConfig(output_dir=str(output_dir), run_name=run_name, export=False),
    )


def test_deterministic_runs_repeat_exactly(tiny_model_dir, toy_data_dir, tmp_path):
    from tfbert import train

    first = train.run(_tiny_cfg(tiny_model_dir, toy_data_dir, tmp_path, "a", deterministic=True))
    second = train.run(_tiny_cfg(tiny_model_dir, toy_data_dir, tmp_path, "b", deterministic=True))
    assert first.history["loss"] == second.history["loss"]
    assert first.metrics["test"]["loss"] == second.metrics["test"]["loss"]


def test_nan_loss_stops_with_a_message_and_keeps_the_best_checkpoint(
        tiny_model_dir, toy_data_dir, tmp_path, monkeypatch):
    from tfbert import train
    from tfbert.tasks.losses import Float32Crossentropy

    calls = tf.Variable(0, dtype=tf.int64)
    original = Float32Crossentropy.call

    def poisoned(self, y_true, y_pred):
        count = calls.assign_add(1)
        loss = original(self, y_true, y_pred)
        return tf.where(count > 25, tf.fill(tf.shape(loss), math.nan), loss)  # epoch 2 of 20 steps

    monkeypatch.setattr(Float32Crossentropy, "call", poisoned)
    with pytest.raises(train.TrainingDivergedError, match=r"loss became nan at epoch 2, step 6"):
        train.run(_tiny_cfg(tiny_model_dir, toy_data_dir, tmp_path, "nan", epochs=3))
    folder = tmp_path / "nan"
    assert (folder / "checkpoints" / "best.weights.h5").exists()
    assert not (folder / "metrics.json").exists()
    rows = (folder / "history.csv").read_text().splitlines()
    assert len(rows) == 3  # header, epoch 1, the epoch that diverged


def test_finished_run_is_not_retrained_and_other_configs_are_refused(
        tiny_model_dir, toy_data_dir, tmp_path, capsys):
    args = ["--model", str(tiny_model_dir), "--data", str(toy_data_dir), "--max-length", "16",
            "--epochs", "1", "--no-export", "--output-dir", str(tmp_path)]
    assert train_main(args) == 0
    (run_dir,) = list(tmp_path.iterdir())
    assert run_dir.name.startswith("tiny_bert") and len(run_dir.name.split("-")[-1]) == 8
    assert train_main(args) == ExitCode.RUN_FOLDER
    assert "already complete" in capsys.readouterr().err
    (run_dir / "metrics.json").unlink()  # now an interrupted run of the same name...
    assert train_main(args[:-2] + ["--output-dir", str(tmp_path), "--run-name", run_dir.name,
                                   "--learning-rate", "1e-3"]) == ExitCode.RUN_FOLDER
    assert "different or unknown run" in capsys.readouterr().err


def test_tokenizer_from_another_model_is_refused(tiny_model_dir, toy_data_dir, tmp_path, capsys):
    import shutil

    from transformers import BertTokenizerFast

    from tfbert.base.errors import ExitCode

    mixed = tmp_path / "mixed"
    shutil.copytree(tiny_model_dir, mixed)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (mixed / name).unlink()
    words = (mixed / "vocab.txt").read_text().splitlines() + [f"extra{i}" for i in range(100)]
    (mixed / "vocab.txt").write_text("\n".join(words) + "\n")
    BertTokenizerFast(vocab_file=str(mixed / "vocab.txt")).save_pretrained(str(mixed))
    code = train_main(["--model", str(mixed), "--data", str(toy_data_dir), "--epochs", "1",
                       "--output-dir", str(tmp_path / "runs")])
    assert code == ExitCode.MODEL
    assert "the tokenizer files belong to another model" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_a_run_resumes_on_a_cpu_that_gives_another_reason(tiny_model_dir, toy_data_dir, tmp_path,
                                                          monkeypatch):
    """The run's identity is the resolved precision, not the reason text (it names CPU flags)."""
    from tfbert import model as model_module
    from tfbert import train

    cfg = RunConfig(
        data=DataConfig(sources=(str(toy_data_dir),), max_length=32),
        model=ModelConfig(name_or_path=str(tiny_model_dir)),  # precision "auto"
        train=TrainConfig(epochs=1, batch_size=32, learning_rate=5e-3, early_stopping_patience=None),
        output=OutputConfig(output_dir=str(tmp_path), export=False),  # name from the config hash
    )
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    monkeypatch.setattr(model_module, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # stopped after training, before the run is marked complete

    with monkeypatch.context() as patch:
        patch.setattr(train, "_save", crash)
        with pytest.raises(KeyboardInterrupt):
            train.run(cfg)
    (run_dir,) = tmp_path.iterdir()
    saved = json.loads((run_dir / "run_config.json").read_text())["model"]
    assert saved["precision"] == "mixed_bfloat16" and "avx512_bf16" in saved["precision_reason"]
    assert (run_dir / "backup").is_dir() and not (run_dir / "metrics.json").exists()

    # Another machine: AMX as well, so the same precision for another reason. Same run, resumed.
    monkeypatch.setattr(model_module, "cpu_flags", lambda: frozenset({"amx_bf16", "avx512_bf16"}))
    resumed = train.run(cfg)
    assert resumed.run_dir == run_dir and (run_dir / "metrics.json").exists()
    assert train.resolve_config(cfg).model.precision_reason != saved["precision_reason"]

    # A CPU without bfloat16 resolves float32: that is another run, in another folder.
    monkeypatch.setattr(model_module, "cpu_flags", lambda: frozenset({"avx2"}))
    assert train.resolve_config(cfg).output.run_name != run_dir.name
