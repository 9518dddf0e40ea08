"""The Apache Beam pipeline: the export's labels for every row, ids kept, bad rows counted."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from conftest import REPO, toy_reviews

from tfbert.base.errors import DataError, ExportError
from tfbert.labelling.beam import read_label_names, run
from tfbert.labelling.columns import output_columns
from tfbert.labelling.config import BeamPredictConfig

# The DirectRunner first tries Prism, which downloads a binary, then falls back to the FnApiRunner
# for this pipeline; naming that runner keeps the tests off the network.
RUNNER = "--runner=FnApiRunner"
BLOCKED = ("transformers", "tensorflow_hub", "tfbert.train", "tfbert.model", "tfbert.data",
           "tfbert.features", "tfbert.serving.export", "tfbert.predict")


@pytest.fixture(scope="module")
def export_dir(trained_run) -> Path:
    return trained_run.run_dir / "export" / "classifier" / "1"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """300 toy reviews in every input type, with 5 bad rows; the folder and the id -> text expected."""
    folder = tmp_path_factory.mktemp("beam_inputs")
    texts = toy_reviews(300, seed=7)["text"].tolist()
    pd.DataFrame({"text": texts[:100]}).to_parquet(folder / "a.parquet")
    csv_texts = texts[100:160]
    csv_texts[3], csv_texts[7], csv_texts[9] = "", "   ", "NA"  # missing, empty, a real text
    pd.DataFrame({"text": csv_texts, "stars": 1}).to_csv(folder / "b.csv", index=False)
    pd.DataFrame({"text": texts[160:200]}).to_csv(folder / "c.tsv", sep="\t", index=False)
    rows = [{"text": t} for t in texts[200:250]]
    rows[0], rows[1] = {"text": None}, {"other": "no text field"}
    malformed = '{"text": "cut short\n'  # skipped and counted, as predict.py does
    (folder / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + malformed)
    (folder / "e.json").write_text(json.dumps([{"text": t} for t in texts[250:275]]))
    (folder / "f.txt").write_text("\n".join(texts[275:287]) + "\n\n" + "\n".join(texts[287:]) + "\n")
    expected = {f"a.parquet:{i}": t for i, t in enumerate(texts[:100])}
    expected |= {f"b.csv:{i}": t for i, t in enumerate(csv_texts) if i not in (3, 7)}
    expected |= {f"c.tsv:{i}": t for i, t in enumerate(texts[160:200])}
    expected |= {f"d.jsonl:{i}": t for i, t in enumerate(texts[200:250]) if i > 1}
    expected |= {f"e.json:{i}": t for i, t in enumerate(texts[250:275])}
    expected |= {f"f.txt:{i}": t for i, t in enumerate(texts[275:287])}
    expected |= {f"f.txt:{i + 13}": t for i, t in enumerate(texts[287:])}
    return folder, expected


def _read_output(prefix: Path, fmt: str) -> pd.DataFrame:
    shards = sorted(prefix.parent.glob(f"{prefix.name}-*.{fmt}"))
    assert shards, f"no {fmt} shards under {prefix}"
    read = {"parquet": pd.read_parquet, "jsonl": lambda p: pd.read_json(p, lines=True, dtype=False),
            "csv": lambda p: pd.read_csv(p, dtype={"row": str, "review_id": str, "rating": str})}[fmt]
    return pd.concat([read(p) for p in shards], ignore_index=True)


def _sitecustomize_blocker(folder: Path, marks: Path) -> Path:
    """A sitecustomize that every Python process started with it on PYTHONPATH runs: it blocks
    transformers and the training code, and leaves one file per process in `marks`."""
    folder.mkdir()
    marks.mkdir()
    (folder / "sitecustomize.py").write_text(textwrap.dedent(f"""
        import os, sys
        open(os.path.join({str(marks)!r}, str(os.getpid())), "w").close()
        class _Block:
            def find_spec(self, name, path=None, target=None):
                if name in {BLOCKED!r} or name.split(".")[0] == "transformers":
                    raise ImportError(f"{{name}} is blocked in this test")
        sys.meta_path.insert(0, _Block())
    """))
    return folder


def test_two_workers_give_the_export_labels_without_transformers(trained_run, export_dir, inputs,
                                                                 tmp_path):
    folder, expected = inputs
    blocker = _sitecustomize_blocker(tmp_path / "site", tmp_path / "marks")
    env = {**os.environ, "PYTHONPATH": str(blocker)}  # the script adds the repository for workers
    prefix = tmp_path / "out" / "predictions"
    done = subprocess.run(  # from another folder: workers must find tfbert all the same
        [sys.executable, str(REPO / "scripts" / "predict_beam.py"), "--export", str(export_dir),
         "--input", f"{folder}/*", "--output", str(prefix), "--format", "parquet", "--batch-size", "16",
         RUNNER, "--direct_num_workers=2", "--direct_running_mode=multi_processing"],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "labelled 296 texts" in done.stderr
    assert "missing text 3, empty text 2, missing id 0, malformed lines 1, unreadable files 0" in done.stderr
    ours = r"\d\d:\d\d:\d\d \w+ |WARNING:tfbert\.labelling\.beam:"  # a worker's note on the data
    foreign = [line for line in done.stderr.splitlines() if not re.match(ours, line)]
    assert foreign == [], foreign[:10]  # the workers' start-up lines are filtered out too
    assert "d.jsonl: skipped 1 malformed JSON lines (first: line 51)" in done.stderr
    assert len(list((tmp_path / "marks").iterdir())) >= 3  # the launcher and two workers

    out = _read_output(prefix, "parquet")
    assert list(out.columns) == ["row", "label", "label_id", "prob_negative", "prob_positive"]
    assert sorted(out["row"]) == sorted(expected)
    texts = [expected[i] for i in out["row"]]
    served = tf.saved_model.load(str(export_dir)).signatures["serving_default"](text=tf.constant(texts))
    assert out["label"].tolist() == [s.decode() for s in served["label"].numpy()]
    np.testing.assert_allclose(out[["prob_negative", "prob_positive"]].to_numpy(),
                               served["probabilities"].numpy(), atol=1e-5)
    assert out["label_id"].tolist() == served["label_id"].numpy().tolist()
    from tfbert.predict import Classifier

    predicted = Classifier.from_run(trained_run.run_dir, compute_dtype="float32").predict(texts)
    assert out["label"].tolist() == [p.label for p in predicted]
    assert set(out["label"]) == {"negative", "positive"}  # a trained model, not a constant


@pytest.mark.parametrize(("fmt", "share_model"), [("jsonl", False), ("csv", True)])
def test_text_outputs_and_an_id_column(export_dir, tmp_path, fmt, share_model):
    table = pd.DataFrame({"review_id": ["r1", None, "007", "r,4"], "rating": [9, 2, 3, 10],
                          "body": ["a great film", "an awful film", "boring", "superb, loved it"]})
    table.to_csv(tmp_path / "reviews.csv", index=False)
    prefix = tmp_path / "out" / "p"
    cfg = BeamPredictConfig(export=str(export_dir), input=str(tmp_path / "*.csv"), output=str(prefix),
                            output_format=fmt, text_column="body", id_column="review_id",
                            keep_columns=("rating",), share_model=share_model,
                            pipeline_args=(RUNNER,))
    counts = run(cfg)
    assert counts["labelled"] == 3 and counts["missing_id"] == 1
    out = _read_output(prefix, fmt).sort_values("review_id")
    # The columns predict.py writes for the same flags, in its order.
    assert list(out.columns) == output_columns("review_id", ("negative", "positive"), ("rating",))
    assert list(out.columns) == ["review_id", "label", "label_id", "prob_negative", "prob_positive",
                                 "rating"]
    assert out["review_id"].tolist() == ["007", "r,4", "r1"]  # kept as strings; commas quoted in CSV
    assert out["rating"].astype(str).tolist() == ["3", "10", "9"]
    assert np.allclose(out["prob_negative"] + out["prob_positive"], 1.0)


def test_bad_input_and_exports_are_refused(export_dir, tmp_path):
    def config(**changes) -> BeamPredictConfig:
        fields = {"export": str(export_dir), "input": str(tmp_path / "*.csv"),
                  "output": str(tmp_path / "out" / "p"), "pipeline_args": (RUNNER,)}
        return BeamPredictConfig(**(fields | changes))

    assert read_label_names(str(export_dir)) == ("negative", "positive")
    with pytest.raises(DataError, match="no input file matches"):
        run(config())
    (tmp_path / "sheet.xlsx").write_bytes(b"PK")
    with pytest.raises(DataError, match=r"unknown file type \.xlsx"):
        run(config(input=str(tmp_path / "sheet.xlsx")))
    pd.DataFrame({"review": ["fine"]}).to_csv(tmp_path / "r.csv", index=False)
    with pytest.raises(ExportError, match="no saved_model.pb"):
        run(config(export=str(tmp_path)))
    with pytest.raises(DataError, match=r"no row had a usable text .*missing text 1"):
        run(config())
    for bad in ({"output_format": "xml"}, {"batch_size": 0}, {"num_shards": -1}, {"input": ""}):
        with pytest.raises(ValueError):
            config(**bad)


def test_script_exit_codes(export_dir, tmp_path):
    def exit_code(*args: str) -> tuple[int, str]:
        done = subprocess.run([sys.executable, str(REPO / "scripts" / "predict_beam.py"), *args],
                              capture_output=True, text=True, timeout=300)
        return done.returncode, done.stderr.strip().splitlines()[-1]

    base = ["--output", str(tmp_path / "p"), RUNNER]
    code, message = exit_code("--export", str(export_dir), "--input", str(tmp_path / "*.csv"),
                              "--text-colum", "body", *base)
    assert code == 2 and "--text-colum is neither a flag of this script nor a Beam" in message
    code, message = exit_code("--export", str(export_dir), "--input", str(tmp_path / "*.csv"), *base)
    assert (code, message) == (3, f"data error: no input file matches '{tmp_path}/*.csv'")
    (tmp_path / "r.txt").write_text("fine\n")
    code, message = exit_code("--export", str(tmp_path), "--input", str(tmp_path / "r.txt"), *base)
    assert code == 5 and message.startswith("export error:")


@pytest.mark.parametrize(("task", "fmt"), [("regression", "csv"), ("multi-label", "parquet")])
def test_regression_and_multilabel_exports_write_predict_py_columns(
        regression_run, multilabel_run, tmp_path, task, fmt):
    run_dir = (regression_run if task == "regression" else multilabel_run).run_dir
    export = run_dir / "export" / "classifier" / "1"
    texts = toy_reviews(12, seed=9)["text"].tolist()
    pd.DataFrame({"text": texts}).to_csv(tmp_path / "in.csv", index=False)
    prefix = tmp_path / "out" / "p"
    cfg = BeamPredictConfig(export=str(export), input=str(tmp_path / "in.csv"), output=str(prefix),
                            output_format=fmt, pipeline_args=(RUNNER,))
    assert run(cfg)["labelled"] == 12
    beam_rows = _read_output(prefix, fmt).sort_values("row", key=lambda r: r.str.split(":").str[1]
                                                      .astype(int)).reset_index(drop=True)
    from tfbert.cli.predict import main as predict_main

    assert predict_main(["--export", str(export), "--input", str(tmp_path / "in.csv"),
                         "--output", str(tmp_path / f"file.{fmt}")]) == 0
    file_rows = (pd.read_csv if fmt == "csv" else pd.read_parquet)(tmp_path / f"file.{fmt}")
    assert list(beam_rows.columns) == list(file_rows.columns)
    for column in file_rows.columns[1:]:
        if column == "labels":
            shown = [list(v) if fmt == "parquet" else v for v in beam_rows[column].fillna("")]
            assert shown == [list(v) if fmt == "parquet" else v for v in file_rows[column].fillna("")]
        else:
            np.testing.assert_allclose(beam_rows[column], file_rows[column], atol=1e-5)
