"""Labelling a large file: same answers as Classifier.predict, ids kept, bad rows counted,
memory bounded by the chunk, and every row exactly once after a kill -9 and a rerun."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, toy_reviews

from tfbert.base.errors import ExitCode
from tfbert.cli.predict import main as predict_main
from tfbert.data import DataError
from tfbert.labelling.config import LabelFileConfig
from tfbert.labelling.file_job import predict_file
from tfbert.predict import Classifier
from tfbert.run_folder import RunFolderError


def _reviews(n: int, seed: int) -> pd.DataFrame:
    frame = toy_reviews(n, seed=seed)
    frame["review_id"] = [f"r{seed}-{i:05d}" for i in range(n)]  # strings, to see them kept
    frame["stars"] = np.arange(n) % 10
    return frame


def _write(frame: pd.DataFrame, path: Path) -> Path:
    suffix = path.suffix
    if suffix == ".parquet":
        frame.to_parquet(path, row_group_size=37)  # several row groups, not aligned to chunks
    elif suffix in (".csv", ".tsv"):
        frame.to_csv(path, sep="\t" if suffix == ".tsv" else ",", index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    elif suffix == ".json":
        frame.to_json(path, orient="records", force_ascii=False, indent=1)
    else:
        path.write_text("\n".join(frame["text"]) + "\n", encoding="utf-8")
    return path


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype={"review_id": str})
    return pd.read_json(path, lines=True, dtype={"review_id": str})


class CountingClassifier:
    """Wraps a classifier and notes the largest batch of texts it was given."""

    def __init__(self, inner):
        self.inner, self.label_names, self.largest = inner, inner.label_names, 0

    def predict_proba(self, texts, text_pairs=None, on_batch=None):
        self.largest = max(self.largest, len(texts))
        return self.inner.predict_proba(texts, text_pairs, on_batch=on_batch)


@pytest.fixture(scope="module")
def classifier(trained_run):
    return Classifier.from_run(trained_run.run_dir, compute_dtype="float32")


@pytest.mark.parametrize("out_suffix", [".parquet", ".csv", ".jsonl"])
def test_output_equals_classifier_predict_and_keeps_ids(classifier, tmp_path, out_suffix):
    frame = _reviews(230, seed=5)
    source = _write(frame, tmp_path / "reviews.parquet")
    output = tmp_path / f"predictions{out_suffix}"
    counting = CountingClassifier(classifier)
    cfg = LabelFileConfig(str(source), str(output), id_column="review_id", keep_columns=("stars",),
                          chunk_rows=50)
    summary = predict_file(counting, cfg, "tiny")
    assert summary.rows_read == summary.labelled == 230 and not any(summary.skipped.values())
    assert counting.largest <= 50  # never more than a chunk in memory
    got = _read(output)
    assert list(got.columns) == ["review_id", "label", "label_id", "prob_negative",
                                 "prob_positive", "stars"]
    assert got["review_id"].tolist() == frame["review_id"].tolist()
    assert got["stars"].tolist() == frame["stars"].tolist()
    expected = classifier.predict_proba(frame["text"].tolist())
    np.testing.assert_allclose(got[["prob_negative", "prob_positive"]].to_numpy(), expected, atol=1e-5)
    assert got["label"].tolist() == [classifier.label_names[i] for i in expected.argmax(1)]
    assert got["label_id"].tolist() == expected.argmax(1).tolist()
    assert not list(tmp_path.glob(".*")), "the parts folder is removed once the output is whole"


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".json", ".txt"])
def test_every_input_type_gives_the_parquet_answers(classifier, tmp_path, suffix):
    frame = _reviews(90, seed=6)
    results = {}
    for kind in (".parquet", suffix):
        source = _write(frame, tmp_path / f"in{kind}")
        output = tmp_path / f"out{kind.replace('.', '-')}.parquet"
        predict_file(classifier, LabelFileConfig(str(source), str(output), chunk_rows=40), "tiny")
        results[kind] = pd.read_parquet(output)
    assert results[suffix]["row"].tolist() == list(range(90))
    pd.testing.assert_frame_equal(results[suffix], results[".parquet"], check_exact=False, atol=1e-6)


def test_bad_rows_are_counted_and_skipped_or_fatal_with_strict(classifier, tmp_path):
    lines = ["the film was great", "", "   ", "caf\xe9 ok", "the plot was dull"]
    source = tmp_path / "texts.txt"
    source.write_bytes("\n".join(lines).replace("caf\xe9", "CAFE").encode()
                       .replace(b"CAFE", b"caf\xe9 \xff") + b"\n")  # two invalid UTF-8 bytes
    output = tmp_path / "out.jsonl"
    summary = predict_file(classifier, LabelFileConfig(str(source), str(output)), "tiny")
    assert (summary.rows_read, summary.labelled) == (5, 3)
    assert summary.skipped == {"missing text": 0, "empty text": 2} and summary.skipped_ids == [1, 2]
    assert summary.invalid_utf8 == 2
    assert _read(output)["row"].tolist() == [0, 3, 4]
    assert "2 empty text (ids 1, 2)" in summary.describe()
    with pytest.raises(DataError, match=r"2 invalid UTF-8 byte sequences \(the first b'\\xe9'\)"):
        predict_file(classifier, LabelFileConfig(str(source), str(tmp_path / "strict.jsonl"),
                                                 strict=True), "tiny")
    clean = tmp_path / "clean.txt"
    clean.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="row 1 .*empty text"):
        predict_file(classifier, LabelFileConfig(str(clean), str(tmp_path / "strict.jsonl"),
                                                 strict=True), "tiny")
    csv = tmp_path / "missing.csv"
    csv.write_text("text,review_id\nfine film,a\n,b\nbad film,c\n", encoding="utf-8")
    summary = predict_file(classifier, LabelFileConfig(str(csv), str(tmp_path / "m.csv"),
                                                       id_column="review_id"), "tiny")
    assert summary.skipped["missing text"] == 1 and summary.skipped_ids == ["b"]


def test_input_mistakes_are_explained(classifier, tmp_path):
    source = _write(_reviews(10, seed=7), tmp_path / "in.csv")
    with pytest.raises(DataError, match="column 'body' not found"):
        predict_file(classifier, LabelFileConfig(str(source), str(tmp_path / "o.csv"),
                                                 text_column="body"), "tiny")
    with pytest.raises(DataError, match="does not exist"):
        predict_file(classifier, LabelFileConfig(str(tmp_path / "no.csv"), str(tmp_path / "o.csv")),
                     "tiny")
    with pytest.raises(DataError, match="repeat"):
        predict_file(classifier, LabelFileConfig(str(source), str(tmp_path / "o.csv"),
                                                 keep_columns=("label",)), "tiny")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("text,label\nok,1\nthis, has a comma,1\n", encoding="utf-8")
    with pytest.raises(DataError, match="double quotes"):
        predict_file(classifier, LabelFileConfig(str(ragged), str(tmp_path / "r.csv")), "tiny")
    for bad in ({"input": "x.xlsx", "output": "o.csv"}, {"input": "x.csv", "output": "o.txt"},
                {"input": "x.csv", "output": "x.csv"},
                {"input": "x.csv", "output": "o.csv", "chunk_rows": 0}):
        with pytest.raises(ValueError):
            LabelFileConfig(**bad)


def test_finished_output_is_kept_and_other_settings_are_refused(classifier, tmp_path):
    source = _write(_reviews(60, seed=8), tmp_path / "in.csv")
    output = tmp_path / "out.parquet"
    cfg = LabelFileConfig(str(source), str(output), chunk_rows=25)
    predict_file(classifier, cfg, "tiny")
    with pytest.raises(RunFolderError, match="exists"):
        predict_file(classifier, cfg, "tiny")
    again = predict_file(classifier, LabelFileConfig(str(source), str(output), overwrite=True), "tiny")
    assert again.labelled == 60
    # An unfinished job continues only with the same input, columns and model.
    parts = tmp_path / ".out2.parquet.parts"
    (parts / "000000000000-000000000010").mkdir(parents=True)  # one chunk done by another job
    (parts / "job.json").write_text(json.dumps({"model": "another"}))
    with pytest.raises(RunFolderError, match="other settings"):
        predict_file(classifier, LabelFileConfig(str(source), str(tmp_path / "out2.parquet")), "tiny")


def test_progress_moves_with_every_model_batch(trained_run, tmp_path, monkeypatch):
    """A chunk can take minutes on a CPU: the progress line is fed per batch, not per chunk."""
    from tfbert.labelling import file_job as batch_predict
    from tfbert.serving.exported import ExportedClassifier

    frame = _reviews(100, seed=12)
    frame.loc[[7, 60], "text"] = ""  # skipped rows count as done, without a model batch
    source = _write(frame, tmp_path / "reviews.parquet")
    export = trained_run.run_dir / "export" / "classifier" / "1"
    fed, original = [], batch_predict._Progress.update

    def recording(self, rows, final=False):
        fed.append(rows)
        original(self, rows, final)

    monkeypatch.setattr(batch_predict._Progress, "update", recording)
    for name, model in (("run", Classifier.from_run(trained_run.run_dir, batch_size=8)),
                        ("export", ExportedClassifier(export, batch_size=8))):
        fed.clear()
        predict_file(model, LabelFileConfig(str(source), str(tmp_path / f"{name}.parquet"),
                                            chunk_rows=60), "tiny")
        assert sum(fed) == 100, (name, fed)
        assert max(fed) <= 8 and len(fed) >= 98 // 8 + 2, (name, fed)  # batches, then the skips
        calls = []
        model.predict_proba(frame["text"].tolist()[:20], on_batch=calls.append)
        assert sum(calls) == 20 and len(calls) > 1, (name, calls)


def test_a_caller_with_its_own_progress_gets_no_second_bar(classifier, capsys):
    """Past 10,000 texts `Classifier` shows progress bars, unless `on_batch` shows the caller's."""
    texts = ["a good film", "dull"] * 5_001
    capsys.readouterr()
    plain = classifier.predict_logits(texts)
    assert "Classifying 10002 texts" in capsys.readouterr().out
    calls = []
    fed = classifier.predict_logits(texts, on_batch=calls.append)
    assert "Classifying" not in capsys.readouterr().out
    assert sum(calls) == len(texts)
    np.testing.assert_allclose(fed, plain, atol=1e-5)


def test_memory_is_bounded_by_the_chunk_not_the_file(tmp_path):
    """Python allocations while labelling a file do not grow with it: 4x the rows, same peak."""

    class Constant:
        label_names = ("negative", "positive")

        def predict_proba(self, texts, text_pairs=None, on_batch=None):
            return np.full((len(texts), 2), 0.5, np.float32)

    rng = random.Random(0)
    words = ["plot", "actors", "film", "great", "dull", "story", "was", "the"]
    texts = [" ".join(rng.choices(words, k=90)) for _ in range(40_000)]  # ~20 MB in all
    for suffix in (".csv", ".jsonl", ".txt"):
        peaks = {}
        for rows in (10_000, 40_000):
            source = _write(pd.DataFrame({"text": texts[:rows]}), tmp_path / f"big{rows}{suffix}")
            tracemalloc.start()
            summary = predict_file(Constant(), LabelFileConfig(
                str(source), str(tmp_path / f"o{rows}{suffix}.csv"), chunk_rows=500), "const")
            peaks[rows] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            assert summary.labelled == rows
        size = source.stat().st_size
        assert peaks[40_000] < 1.1 * peaks[10_000], f"{suffix}: {peaks}"
        assert peaks[40_000] < size / 3, f"{suffix}: peak {peaks} for a {size / 1e6:.1f} MB file"


def _label_command(run_dir: Path, source: Path, output: Path) -> list[str]:
    return [sys.executable, str(REPO / "scripts" / "predict.py"), "--run", str(run_dir),
            "--input", str(source), "--output", str(output), "--id-column", "review_id",
            "--chunk-rows", "40"]


@pytest.mark.slow
def test_kill_9_then_rerun_labels_every_row_exactly_once(trained_run, classifier, tmp_path):
    frame = _reviews(6_000, seed=9)
    source = _write(frame, tmp_path / "reviews.csv")
    output = tmp_path / "labels.parquet"
    parts = tmp_path / ".labels.parquet.parts"
    process = subprocess.Popen(_label_command(trained_run.run_dir, source, output), cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    target = random.Random(int(time.time())).randint(3, 30)  # committed chunks before the kill
    deadline = time.monotonic() + 300
    while not (parts.is_dir() and len([p for p in parts.iterdir() if p.name[0].isdigit()]) >= target):
        assert process.poll() is None, process.stderr.read()[-3000:]
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.02)
    # A second job on the same output while the first is alive stops at once, naming it.
    second = subprocess.run(_label_command(trained_run.run_dir, source, output), cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert second.returncode == ExitCode.RUN_FOLDER, second.stderr[-3000:]
    assert f"{output} is being written by another labelling job that is still running" \
        in second.stderr
    assert "Traceback" not in second.stderr and process.poll() is None
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not output.exists(), "no output under the final name before the job is whole"
    done_before = len([p for p in parts.iterdir() if p.name[0].isdigit()])
    assert 0 < done_before < 6_000 / 40
    rerun = subprocess.run(_label_command(trained_run.run_dir, source, output), cwd=REPO,
                           capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "continuing after row" in rerun.stderr
    got = pd.read_parquet(output)
    assert got["review_id"].tolist() == frame["review_id"].tolist()  # each row once, in order
    expected = classifier.predict_proba(frame["text"].tolist())
    assert got["label_id"].tolist() == expected.argmax(1).tolist()
    assert not parts.exists()


def test_export_labels_the_file_without_transformers(trained_run, classifier, tmp_path):
    frame = _reviews(120, seed=10)
    source = _write(frame, tmp_path / "reviews.jsonl")
    export = trained_run.run_dir / "export" / "classifier" / "1"
    output = tmp_path / "by_export.csv"
    code = ("import sys; sys.modules['transformers'] = None; "  # any import of it now fails
            "from tfbert.cli.predict import main as predict_main; "
            f"code = predict_main(['--export', {str(export)!r}, '--input', {str(source)!r}, "
            f"'--output', {str(output)!r}, '--chunk-rows', '50']); "
            "assert 'tfbert.model' not in sys.modules; sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "120 rows read, 120 labelled, 0 skipped" in result.stderr
    got = _read(output)
    expected = classifier.predict_proba(frame["text"].tolist())
    assert got["label_id"].tolist() == expected.argmax(1).tolist()
    np.testing.assert_allclose(got[["prob_negative", "prob_positive"]].to_numpy(), expected, atol=1e-4)


def test_cli_flags_and_exit_codes(trained_run, tmp_path, capsys):
    source = _write(_reviews(20, seed=11), tmp_path / "in.csv")
    out = tmp_path / "o.jsonl"
    run = ["--run", str(trained_run.run_dir)]
    assert predict_main([*run, "--input", str(source), "--output", str(out)]) == ExitCode.OK
    assert predict_main([*run, "--input", str(source), "--output", str(out)]) == ExitCode.RUN_FOLDER
    assert "exists" in capsys.readouterr().err
    assert predict_main([*run, "--input", str(tmp_path / "none.csv"), "--output",
                         str(tmp_path / "x.csv")]) == ExitCode.DATA
    for bad in (["--input", str(source)], ["--input", str(source), "--output", "o.csv", "a text"],
                ["--input", str(source), "--output", "o.xlsx"]):
        with pytest.raises(SystemExit) as exit_info:
            predict_main([*run, *bad])
        assert exit_info.value.code == ExitCode.USAGE
