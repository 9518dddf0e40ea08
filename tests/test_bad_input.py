"""Bad input at every entry point, as one table of faults x commands.

Each cell runs a command as a user would (its `main`, in this process) on one fault and checks
what the README promises: the exit code of its table, one message naming the file (and the line
where there is one), no traceback, and nothing under the final output name.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import tensorflow as tf
from conftest import toy_reviews

from tfbert.base.errors import ExitCode
from tfbert.cli.beam import main as beam_main
from tfbert.cli.demo import main as demo_main
from tfbert.cli.evaluate import main as evaluate_main
from tfbert.cli.export import main as export_main
from tfbert.cli.predict import main as predict_main
from tfbert.cli.train import main as train_main

DATA, RUN, OK = ExitCode.DATA, ExitCode.RUN_FOLDER, ExitCode.OK
# A 10 MB single line, of words the tokenizer splits quickly (the reader is under test here).
LONG_TEXT = ("abcdefghij" * 10 + " ") * 100_000


def _parquet_bytes() -> bytes:
    buffer = io.BytesIO()
    toy_reviews(40).to_parquet(buffer)
    return buffer.getvalue()


# name: (file name, bytes, what the message says)
DATA_FAULTS = {
    "missing file": ("missing.csv", None, "does not exist"),
    "empty file": ("empty.csv", b"", "the file is empty"),
    "header only": ("header.csv", b"text,label\n", None),  # each command words it its way
    "corrupt parquet": ("corrupt.parquet", b"PAR1 this is not parquet", "cannot be read as parquet"),
    "truncated parquet": ("cut.parquet", "truncated", "cannot be read as parquet"),
    "JSON of the wrong shape": ("columns.json", b'{"text": ["good", "bad"], "label": [1, 0]}',
                                "line 1 holds a JSON list in 'text', not a text"),
    "wrong column names": ("columns.csv", b"review,stars\ngood,1\nbad,0\n",
                           "column 'text' not found; columns are ['review', 'stars']"),
}


def _fault_file(folder: Path, fault: str, no_rows: str = "") -> tuple[Path, str]:
    """The fault's file, and what the message says (`no_rows` for a header without rows)."""
    name, content, says = DATA_FAULTS[fault]
    says = no_rows if fault == "header only" else says
    path = folder / name
    if content == "truncated":
        path.write_bytes(_parquet_bytes()[:-40])  # the footer is gone
    elif content is not None:
        path.write_bytes(content)
    return path, says


def _check_refused(capsys, code: int, expected: int, says: str, names: str, *absent: Path) -> None:
    err = capsys.readouterr().err
    assert code == expected, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if " error: " in line or line.endswith(" error:")]
    assert len(errors) == 1, err
    assert says in errors[0] and names in errors[0], errors[0]
    for path in absent:
        assert not path.exists(), path


@pytest.fixture(scope="module")
def good_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("good") / "reviews.csv"
    toy_reviews(30, seed=5).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def run_for_evaluation(trained_run, tmp_path_factory) -> Path:
    """A copy of the trained run: evaluate.py records into it when a cell unexpectedly passes."""
    return Path(shutil.copytree(trained_run.run_dir, tmp_path_factory.mktemp("eval") / "run"))


@pytest.fixture(scope="module")
def export_dir(trained_run) -> Path:
    return trained_run.run_dir / "export" / "classifier" / "1"


# ---------------------------------------------------------------------------- data files


@pytest.mark.parametrize("fault", DATA_FAULTS)
def test_train_refuses(fault, tiny_model_dir, tmp_path, capsys):
    path, says = _fault_file(tmp_path, fault, no_rows="no usable rows")
    out = tmp_path / "runs"
    code = train_main(["--model", str(tiny_model_dir), "--data", str(path), "--max-length", "32",
                       "--epochs", "1", "--no-export", "--output-dir", str(out)])
    _check_refused(capsys, code, DATA, says, path.name)
    assert not any(out.rglob("tf_model.h5"))


@pytest.mark.parametrize("fault", DATA_FAULTS)
def test_evaluate_refuses(fault, run_for_evaluation, tmp_path, capsys):
    path, says = _fault_file(tmp_path, fault, no_rows="no usable rows")
    code = evaluate_main(["--run", str(run_for_evaluation), "--data", str(path)])
    _check_refused(capsys, code, DATA, says, path.name)


@pytest.mark.parametrize("fault", DATA_FAULTS)
def test_predict_file_job_refuses(fault, trained_run, tmp_path, capsys):
    path, says = _fault_file(tmp_path, fault, no_rows="no rows to label")
    out = tmp_path / "labels.parquet"
    code = predict_main(["--run", str(trained_run.run_dir), "--input", str(path),
                         "--output", str(out)])
    _check_refused(capsys, code, DATA, says, path.name, out, tmp_path / ".labels.parquet.parts")


def test_beam_counts_a_corrupt_file_and_refuses_when_nothing_is_left(export_dir, tmp_path, capsys):
    path, _ = _fault_file(tmp_path, "corrupt parquet")
    code = beam_main(["--export", str(export_dir), "--input", str(path),
                      "--output", str(tmp_path / "out" / "p"), "--runner=FnApiRunner"])
    _check_refused(capsys, code, DATA, "unreadable files 1", "no row had a usable text")
    assert not list(tmp_path.glob("out/p*"))


# ---------------------------------------------------------------------------- rows


def _jsonl_with_bad_lines(path: Path) -> Path:
    lines = ['{"text": "a fine film", "label": "positive"}', '{"text": "cut short', "",
             '{"text": "dull and long", "label": "negative"}', '["not", "a", "row"]']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_malformed_json_lines_are_counted_skips_in_labelling(trained_run, tmp_path, capsys,
                                                             caplog):
    caplog.set_level("INFO")
    source = _jsonl_with_bad_lines(tmp_path / "in.jsonl")
    out = tmp_path / "labels.jsonl"
    run = ["--run", str(trained_run.run_dir), "--input", str(source)]
    assert predict_main([*run, "--output", str(out)]) == OK
    assert "2 labelled" in caplog.text
    assert "2 malformed JSON lines skipped (file lines 2, 5)" in caplog.text
    assert pd.read_json(out, lines=True)["row"].tolist() == [0, 1]
    strict = tmp_path / "strict.jsonl"
    code = predict_main([*run, "--output", str(strict), "--strict"])
    _check_refused(capsys, code, DATA, "line 2 is not valid JSON", "in.jsonl", strict)


def test_malformed_json_lines_under_strict_stop_training_naming_the_line(tiny_model_dir, tmp_path,
                                                                         capsys):
    source = _jsonl_with_bad_lines(tmp_path / "train.jsonl")
    code = train_main(["--model", str(tiny_model_dir), "--data", str(source), "--strict",
                       "--no-export", "--output-dir", str(tmp_path / "runs")])
    _check_refused(capsys, code, DATA, "line 2 is not valid JSON", "train.jsonl")


def test_invalid_utf8_is_counted_or_refused_under_strict(trained_run, tmp_path, capsys, caplog):
    caplog.set_level("INFO")
    source = tmp_path / "in.csv"
    source.write_bytes(b"text\ncaf\xe9 was fine\nnot \xff good\n")
    run = ["--run", str(trained_run.run_dir), "--input", str(source)]
    assert predict_main([*run, "--output", str(tmp_path / "a.csv")]) == OK
    assert "2 invalid UTF-8 byte sequences replaced" in caplog.text
    code = predict_main([*run, "--output", str(tmp_path / "b.csv"), "--strict"])
    _check_refused(capsys, code, DATA, "invalid UTF-8", "in.csv", tmp_path / "b.csv")


def test_a_10_mb_line_is_labelled(trained_run, tmp_path):
    source = tmp_path / "long.csv"
    pd.DataFrame({"text": [LONG_TEXT, "short and dull"]}).to_csv(source, index=False)
    out = tmp_path / "long.parquet"
    assert predict_main(["--run", str(trained_run.run_dir), "--input", str(source),
                         "--output", str(out)]) == OK
    assert len(pd.read_parquet(out)) == 2


def test_text_lists_that_are_missing_or_empty(trained_run, tmp_path, capsys, monkeypatch):
    run = ["--run", str(trained_run.run_dir)]
    code = predict_main([*run, "--file", str(tmp_path / "none.txt")])
    _check_refused(capsys, code, DATA, "cannot read", "none.txt")
    (tmp_path / "blank.txt").write_text("\n  \n", encoding="utf-8")
    code = predict_main([*run, "--file", str(tmp_path / "blank.txt")])
    _check_refused(capsys, code, DATA, "no texts to label", "blank.txt")
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code = predict_main([*run, "--file", "-"])
    _check_refused(capsys, code, DATA, "no texts to label", "stdin")


# ---------------------------------------------------------------------------- runs and exports


@pytest.fixture(scope="module")
def run_without_weights(trained_run, tmp_path_factory) -> Path:
    """A run folder as a killed training leaves it: config and tokenizer, no final weights."""
    folder = tmp_path_factory.mktemp("half") / "run"
    shutil.copytree(trained_run.run_dir, folder, ignore=shutil.ignore_patterns("tf_model.h5",
                                                                               "export"))
    return folder


@pytest.mark.parametrize("command", ["predict", "evaluate", "export"])
def test_a_run_folder_without_weights(command, run_without_weights, good_csv, capsys):
    argv = {"predict": (predict_main, ["--run", str(run_without_weights), "a text"]),
            "evaluate": (evaluate_main, ["--run", str(run_without_weights), "--data", str(good_csv)]),
            "export": (export_main, ["--run", str(run_without_weights)])}
    main, args = argv[command]
    _check_refused(capsys, main(args), RUN, "tf_model.h5 missing", str(run_without_weights),
                   run_without_weights / "export")


def _broken_export(export_dir: Path, folder: Path, fault: str) -> Path:
    target = folder / "1"
    if fault == "no signature":
        module = tf.Module()
        module.scale = tf.Variable(2.0)
        tf.saved_model.save(module, str(target))
        return target
    shutil.copytree(export_dir, target)
    if fault == "no variables":
        shutil.rmtree(target / "variables")
    else:  # a damaged saved_model.pb
        (target / "saved_model.pb").write_bytes(b"\x08\x01garbage" * 10)
    return target


EXPORT_FAULTS = {"no variables": "no variables/ folder", "corrupt saved_model.pb": "cannot",
                 "no signature": "serving_default"}


@pytest.mark.parametrize("fault", EXPORT_FAULTS)
@pytest.mark.parametrize("command", ["predict", "demo", "beam"])
def test_a_broken_export(command, fault, export_dir, good_csv, tmp_path, capsys):
    broken = _broken_export(export_dir, tmp_path, fault)
    out = tmp_path / "labels.csv"
    argv = {"predict": (predict_main, ["--export", str(broken), "--input", str(good_csv),
                                       "--output", str(out)]),
            "demo": (demo_main, ["--export", str(broken), "--port", "1"]),  # fails before serving
            "beam": (beam_main, ["--export", str(broken), "--input", str(good_csv),
                                 "--output", str(tmp_path / "p"), "--runner=FnApiRunner"])}
    main, args = argv[command]
    _check_refused(capsys, main(args), RUN, EXPORT_FAULTS[fault], str(broken), out)


# ---------------------------------------------------------------------------- outputs


def test_outputs_that_cannot_be_written(trained_run, good_csv, tmp_path, capsys):
    run = ["--run", str(trained_run.run_dir), "--input", str(good_csv)]
    folder = tmp_path / "labels.parquet"
    folder.mkdir()
    code = predict_main([*run, "--output", str(folder)])
    _check_refused(capsys, code, RUN, "is a folder", str(folder))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = blocker / "sub" / "labels.csv"
    code = predict_main([*run, "--output", str(out)])
    _check_refused(capsys, code, RUN, "cannot write", "a-file")


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KB tmpfs (root only; skipped with the reason elsewhere), unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip() or 'not root'}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_disk_that_fills_up_mid_job_then_a_rerun_finishes(trained_run, small_disk, tmp_path,
                                                             capsys, caplog):
    caplog.set_level("INFO")
    source = tmp_path / "many.csv"
    frame = toy_reviews(1500, seed=21)
    frame.to_csv(source, index=False)
    out = small_disk / "labels.csv"
    argv = ["--run", str(trained_run.run_dir), "--input", str(source), "--output", str(out),
            "--chunk-rows", "100"]
    _check_refused(capsys, predict_main(argv), RUN, "no space left", "disk", out)
    parts = small_disk / ".labels.csv.parts"
    assert any(parts.iterdir())  # chunks committed before the disk filled are kept
    subprocess.run(["mount", "-o", "remount,size=16m", str(small_disk)], check=True)
    assert predict_main(argv) == OK
    assert "continuing after row" in caplog.text
    assert pd.read_csv(out)["row"].tolist() == list(range(1500))  # each row exactly once


def test_training_on_a_disk_that_fills_up_then_a_rerun_finishes(tiny_model_dir, toy_data_dir,
                                                                  small_disk, capsys):
    subprocess.run(["mount", "-o", "remount,size=256k", str(small_disk)], check=True)
    argv = ["--model", str(tiny_model_dir), "--data", str(toy_data_dir), "--max-length", "32",
            "--epochs", "2", "--no-export", "--output-dir", str(small_disk / "runs"),
            "--run-name", "full"]
    _check_refused(capsys, train_main(argv), RUN, "no space left", "no space left")
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    assert train_main(argv) == OK, capsys.readouterr().err[-2000:]
    run = small_disk / "runs" / "full"
    assert (run / "metrics.json").exists() and (run / "tf_model.h5").exists()
    assert not list(run.rglob(".*.tmp*"))  # no half-written checkpoint left behind


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_stopped_job_ends_cleanly_and_a_rerun_finishes(signum, trained_run, tmp_path, capsys,
                                                         caplog):
    caplog.set_level("INFO")
    source = tmp_path / "many.csv"
    toy_reviews(3000, seed=22).to_csv(source, index=False)
    out, parts = tmp_path / "labels.parquet", tmp_path / ".labels.parquet.parts"
    argv = ["--run", str(trained_run.run_dir), "--input", str(source), "--output", str(out),
            "--chunk-rows", "100"]

    def stop_after_two_chunks() -> None:  # as a scheduler would, while the job is mid-way
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if parts.is_dir() and len([p for p in parts.iterdir() if p.name[0].isdigit()]) >= 2:
                os.kill(os.getpid(), signum)
                return
            time.sleep(0.01)

    running, late = [True], []

    def on_signal(*_) -> None:  # Python's Ctrl-C during the job; after it, not this process's end
        if running[0]:
            raise KeyboardInterrupt
        late.append(1)

    previous = signal.signal(signum, on_signal)  # for SIGTERM, the command installs its own
    stopper = threading.Thread(target=stop_after_two_chunks, daemon=True)
    stopper.start()
    try:
        code = predict_main(argv)
    finally:
        running[0] = False
        stopper.join()
        signal.signal(signum, previous)
    assert not late, "the job ended before it could be stopped"
    err = capsys.readouterr().err
    assert code == ExitCode.INTERRUPTED, err
    assert "interrupted: stopped cleanly" in err and "Traceback" not in err
    assert not out.exists() and not (tmp_path / ".labels.parquet.lock").exists()
    assert predict_main(argv) == OK
    assert "continuing after row" in caplog.text
    assert pd.read_parquet(out)["row"].tolist() == list(range(3000))  # each row exactly once
