"""tf.distribute: mirrored replicas match one device; two local workers train like one."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import REPO, save_tiny_bert

from tfbert.distribute import build_strategy, is_chief


@pytest.fixture(scope="module")
def no_dropout_model(tmp_path_factory):
    return save_tiny_bert(tmp_path_factory.mktemp("tiny_nodrop"), dropout=0.0)


def _python(code: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, cwd=str(REPO),
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})})


def test_mirrored_over_two_cpus_matches_one_device(no_dropout_model):
    code = f"""
        import json
        import tfbert
        import numpy as np
        import pandas as pd
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

        from transformers import AutoTokenizer
        from tfbert.config import TrainConfig
        from tfbert.data import LabelSet
        from tfbert.distribute import build_strategy
        from tfbert.features import make_dataset, tokenize_frame
        from tfbert.model import build_model, build_optimizer, compile_model

        path = {str(no_dropout_model)!r}
        texts = ["the film was good", "bad movie", "awful plot and dull actors", "great",
                 "the story was superb", "boring", "a wonderful film", "terrible and dull"]
        frame = pd.DataFrame({{"text": texts, "label": [1, 0, 0, 1, 1, 0, 1, 0]}})
        split = tokenize_frame(frame, AutoTokenizer.from_pretrained(path), 32, show_progress=False)
        weights, replicas = {{}}, {{}}
        for name in ("one-device", "mirrored"):
            strategy = build_strategy(name)
            with strategy.scope():
                model = build_model(path, LabelSet(("negative", "positive")))
                compile_model(model, build_optimizer(TrainConfig(learning_rate=1e-2,
                                                                 warmup_ratio=0.0), 10))
            model.fit(make_dataset(split, 8, 0), epochs=1, steps_per_epoch=1, verbose=0)
            weights[name] = [np.asarray(w.numpy()) for w in model.weights]
            replicas[name] = strategy.num_replicas_in_sync
        start = [np.asarray(w.numpy()) for w in build_model(path).weights]
        diff = max(float(np.abs(a - b).max()) for a, b in zip(weights["one-device"], weights["mirrored"]))
        moved = max(float(np.abs(a - b).max()) for a, b in zip(weights["one-device"], start))
        print(json.dumps({{"replicas": replicas, "diff": diff, "moved": moved}}))
    """
    done = _python(code)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["replicas"] == {"one-device": 1, "mirrored": 2}
    assert result["moved"] > 1e-3  # the step really changed the weights
    # One Adam step moves each weight by about lr * g / (|g| + eps); where a gradient is near zero,
    # the float order of the cross-replica sum shifts that a little. Replicas that skipped the
    # all-reduce would each follow half the batch and differ by about the step itself.
    assert result["diff"] < 0.01 * result["moved"], result


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_local_workers_train_and_only_the_chief_writes(no_dropout_model, toy_data_dir, tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    command = [sys.executable, str(REPO / "scripts" / "train.py"), "--model", str(no_dropout_model),
               "--data", str(toy_data_dir), "--max-length", "32", "--epochs", "2", "--batch-size", "8",
               "--learning-rate", "5e-3", "--warmup-ratio", "0", "--strategy", "multi-worker",
               "--no-export", "--output-dir", str(tmp_path / "runs"), "--run-name", "mw",
               # Both sides of the loss check below compute in float32. With `auto`, a CPU with
               # native bfloat16 (Zen 4, AMX) trains and evaluates the chief's test split in
               # mixed_bfloat16 while Classifier.from_run computes in float32: logits of about
               # 0.02 rounded to bfloat16's 8 bits moved the mean loss by 1.8e-5 on an AMX Xeon.
               "--precision", "float32"]
    scratch = [tmp_path / f"tmp{i}" for i in range(2)]
    workers = []
    for index in range(2):
        scratch[index].mkdir()
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TMPDIR": str(scratch[index]),
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        workers.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True))
    outputs = [w.communicate(timeout=600) for w in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err[-3000:]
    assert "with 2 replica(s): batch 8 per replica, global batch 16" in outputs[0][1]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["mw"]
    assert not [p for p in scratch[1].rglob("*") if "tfbert-worker" in str(p)]
    run_dir = tmp_path / "runs" / "mw"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["replicas"] == 2

    # The chief's test metrics equal a single-process evaluation of the saved weights. In float32
    # on both sides only the summation order differs (2e-11 apart on an AMX Xeon).
    from tfbert.config import DataConfig
    from tfbert.data import LabelSet, load_eval_split
    from tfbert.predict import Classifier
    from tfbert.scoring.metrics import compute_metrics, cross_entropy

    classifier = Classifier.from_run(run_dir, compute_dtype="float32")
    frame = load_eval_split(DataConfig(sources=(str(toy_data_dir),)), LabelSet(classifier.label_names))
    logits = classifier.predict_logits(list(frame["text"]))
    single = compute_metrics(frame["label"], logits.argmax(axis=1), classifier.label_names)
    assert single["n_examples"] == metrics["test"]["n_examples"] == 40
    assert single["accuracy"] == metrics["test"]["accuracy"]
    assert cross_entropy(frame["label"].to_numpy(), logits) == pytest.approx(
        metrics["test"]["loss"], abs=1e-6)


def test_strategy_names(monkeypatch):
    assert build_strategy("one-device").num_replicas_in_sync == 1
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        build_strategy("multi-worker")
    assert is_chief(build_strategy("auto"))
    np.testing.assert_equal(build_strategy("auto").num_replicas_in_sync, 1)


@pytest.mark.slow
def test_multi_worker_run_resumes_after_both_workers_are_killed(no_dropout_model, tmp_path):
    import signal
    import time

    import tensorflow as tf
    from conftest import toy_reviews

    data = tmp_path / "data"
    data.mkdir()
    toy_reviews(600, seed=21).to_csv(data / "train.csv", index=False)
    toy_reviews(40, seed=22).to_csv(data / "validation.csv", index=False)
    toy_reviews(40, seed=23).to_csv(data / "test.csv", index=False)
    command = [sys.executable, str(REPO / "scripts" / "train.py"), "--model", str(no_dropout_model),
               "--data", str(data), "--max-length", "32", "--epochs", "3", "--batch-size", "4",
               "--learning-rate", "2e-3", "--warmup-ratio", "0", "--early-stopping-patience", "0",
               "--save-every-steps", "20", "--strategy", "multi-worker", "--no-export",
               "--output-dir", str(tmp_path / "runs"), "--run-name", "mw"]
    backup = tmp_path / "runs" / "mw" / "backup" / "chief"

    def start(attempt):
        # stderr into files, not pipes: a worker blocked on a full pipe would stall both
        cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
        logs = [tmp_path / f"worker{i}-{attempt}.log" for i in range(2)]
        return [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log.open("w"),
                                 text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
                                                 "TF_CONFIG": json.dumps({"cluster": cluster,
                                                 "task": {"type": "worker", "index": i}})})
                for i, log in enumerate(logs)], logs

    (workers, logs), killed = start(1), None
    deadline = time.monotonic() + 600
    while workers[0].poll() is None and time.monotonic() < deadline and killed is None:
        latest = tf.train.latest_checkpoint(str(backup))
        try:
            epoch = int(tf.train.load_variable(latest, "ckpt_saved_epoch/.ATTRIBUTES/VARIABLE_VALUE"))
            batch = int(tf.train.load_variable(latest, "ckpt_saved_batch/.ATTRIBUTES/VARIABLE_VALUE"))
        except (TypeError, ValueError, tf.errors.NotFoundError, tf.errors.DataLossError):
            epoch = batch = -1  # no checkpoint yet, or caught mid-write
        if epoch == 1 and 20 <= batch < 60:  # 75 global steps per epoch
            for worker in workers:
                os.kill(worker.pid, signal.SIGKILL)
            killed = (epoch, batch)
        time.sleep(0.05)
    for worker in workers:
        worker.wait(timeout=60)
    assert killed is not None, ("training ended before both workers could be killed mid-epoch 2 "
                                f"(exit {workers[0].returncode}): {logs[0].read_text()[-3000:]}")

    workers, logs = start(2)
    for worker in workers:
        worker.wait(timeout=600)
    errors = [log.read_text() for log in logs]
    for worker, err in zip(workers, errors, strict=True):
        assert worker.returncode == 0, err[-3000:]
        assert f"resuming at epoch 2, step {killed[1] + 2}" in err
    run_dir = tmp_path / "runs" / "mw"
    assert json.loads((run_dir / "metrics.json").read_text())["epochs_run"] == 3
    assert not (run_dir / "backup").exists()
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["mw"]
