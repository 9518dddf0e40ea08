"""The one reader: every format read alike, streamed in chunks, and the same verdict everywhere."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import toy_reviews

from tfbert.base.errors import DataError
from tfbert.config import DataConfig
from tfbert.data import load_splits
from tfbert.labelling.config import LabelFileConfig
from tfbert.labelling.file_job import predict_file
from tfbert.tables import Utf8Counter, iter_table, read_table

FORMATS = (".csv", ".tsv", ".jsonl", ".json", ".parquet")


class Constant:
    """A classifier that says 50/50: enough to see which rows a labelling job reads."""

    label_names = ("negative", "positive")

    def predict_proba(self, texts, text_pairs=None, on_batch=None):
        return np.full((len(texts), 2), 0.5, np.float32)


def _write(frame: pd.DataFrame, path):
    suffix = path.suffix
    if suffix in (".csv", ".tsv"):
        frame.to_csv(path, index=False, sep="\t" if suffix == ".tsv" else ",")
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    elif suffix == ".json":
        frame.to_json(path, orient="records", force_ascii=False, indent=1)
    else:
        frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("suffix", FORMATS)
def test_every_format_streams_the_same_rows_in_chunks(tmp_path, suffix):
    frame = pd.DataFrame({"text": [f"review {i}, with a comma" for i in range(25)],
                          "review_id": [f"{i:03d}" for i in range(25)]})
    path = _write(frame, tmp_path / f"in{suffix}")
    whole = read_table(path)
    assert whole["text"].tolist() == frame["text"].tolist()
    assert whole["review_id"].tolist() == frame["review_id"].tolist()  # "007" keeps its zeros
    chunks = list(iter_table(path, ["text"], chunk_rows=10, start=7))
    assert [len(c) for c in chunks if len(c)] == [3, 10, 5]
    assert pd.concat(chunks)["text"].tolist() == frame["text"].tolist()[7:]


def test_csv_fields_are_text_and_only_an_empty_field_is_missing(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text('text,label,id\nNA,1,007\n"",0,8\n0,1,\n"multi\nline, quoted",0,9\n',
                    encoding="utf-8")
    frame = read_table(path)
    assert frame["text"].tolist() == ["NA", None, "0", "multi\nline, quoted"]
    assert frame["id"].tolist() == ["007", "8", None, "9"]


def test_text_columns_hold_text_in_every_format(tmp_path):
    """A review "5" is a review, whether the file is CSV, JSON or parquet."""
    frame = pd.DataFrame({"text": [5, 7], "label": [1, 0]})
    for suffix in (".jsonl", ".json", ".parquet", ".csv"):
        path = _write(frame, tmp_path / f"numbers{suffix}")
        assert read_table(path, text_columns=("text",))["text"].tolist() == ["5", "7"], suffix
    lines = tmp_path / "mixed.jsonl"
    lines.write_text('{"text": 5}\n{"text": null}\n{"text": "five"}\n{"text": 2.5}\n{"text": true}\n')
    texts = read_table(lines, text_columns=("text",))["text"].tolist()
    assert [None if pd.isna(t) else t for t in texts] == ["5", None, "five", "2.5", "true"]


def test_invalid_utf8_is_counted_or_refused(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(b"text\ncaf\xe9 ok\nfine\n\xff\xfe\n")
    utf8 = Utf8Counter()
    assert read_table(path, utf8=utf8)["text"].tolist() == ["caf\ufffd ok", "fine", "\ufffd\ufffd"]
    assert utf8.count == 3
    with pytest.raises(DataError, match=r"3 invalid UTF-8 byte sequences \(the first b'\\xe9'\)"):
        read_table(path, strict=True)


def test_an_empty_json_lines_file_is_refused(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n\n")
    with pytest.raises(DataError, match="the file is empty"):
        read_table(path)


@pytest.mark.parametrize("bad, why", [
    (b'{"text": "b"', "line 2 is not valid JSON"),
    (b'["not", "an", "object"]', "line 2 holds a JSON list, not an object"),
    (b'{"text": ["a", "b"]}', "line 2 holds a JSON list in 'text', not a text"),
    (b'\xff{"text": 1', "line 2 is not valid JSON"),
])
def test_a_malformed_json_line_is_skipped_and_counted_or_fatal_with_strict(tmp_path, bad, why):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"text": "a"}\n' + bad + b'\n\n{"text": "c"}\n' + bad + b"\n")
    counter = Utf8Counter()
    assert read_table(path, utf8=counter, text_columns=["text"])["text"].tolist() == ["a", "c"]
    assert counter.bad_lines == [2, 5]  # file line numbers, blank lines counted
    with pytest.raises(DataError, match=f"{why}.*drop --strict"):
        read_table(path, strict=True, text_columns=["text"])


def test_a_json_array_fault_names_its_line(tmp_path):
    path = tmp_path / "in.json"
    path.write_text('[\n {"text": "a"},\n {"text": "b",,}\n]\n', encoding="utf-8")
    with pytest.raises(DataError, match="not valid JSON at line 3"):
        read_table(path)


def test_corrupt_parquet_is_a_data_error(tmp_path):
    path = tmp_path / "in.parquet"
    path.write_bytes(b"PAR1 not really parquet")
    with pytest.raises(DataError, match="cannot be read as parquet"):
        read_table(path)
    good = _write(pd.DataFrame({"text": ["a"] * 100}), tmp_path / "good.parquet")
    path.write_bytes(good.read_bytes()[:-40])  # cut short: the footer is gone
    with pytest.raises(DataError, match="cannot be read as parquet"):
        list(iter_table(path, ["text"], 10))


def test_training_and_labelling_give_one_file_the_same_verdict(tmp_path):
    """The same reader, so the same rules: a ragged CSV stops both, numbers are texts in both."""
    ragged = tmp_path / "train.csv"
    ragged.write_text("text,label\nok,positive\nthis, has a comma,negative\n", encoding="utf-8")
    output = tmp_path / "out.csv"
    verdicts = []
    for read in (lambda: load_splits(DataConfig(sources=(str(ragged),))),
                 lambda: predict_file(Constant(), LabelFileConfig(str(ragged), str(output)), "c")):
        with pytest.raises(DataError) as caught:
            read()
        verdicts.append(str(caught.value))
    assert verdicts[0] == verdicts[1]
    assert "1 rows do not have the header's 2 fields (line 3 has 3" in verdicts[0]
    assert not output.exists()

    numbers = toy_reviews(30, seed=5).astype(object)
    numbers.loc[3, "text"] = 5
    path = tmp_path / "numbers.jsonl"
    numbers.to_json(path, orient="records", lines=True)
    splits = load_splits(DataConfig(sources=(str(path),), val_size=5, test_size=5))
    assert "5" in set(pd.concat([splits.train, splits.validation, splits.test])["text"])
    summary = predict_file(Constant(), LabelFileConfig(str(path), str(tmp_path / "n.csv")), "c")
    assert (summary.labelled, sum(summary.skipped.values())) == (30, 0)


def test_beam_reads_through_the_same_reader(tmp_path):
    from tfbert.labelling.beam import ReadTexts

    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"text": 5, "id": "007"}, {"text": "", "id": "1"}, {"text": "fine", "id": "2"}]) + "\n")
    read = ReadTexts(("text",), "id", ("id",), str(tmp_path) + "/")
    assert list(read.process(str(path))) == [(("007", ("007",)), ("5",)), (("2", ("2",)), ("fine",))]
    (tmp_path / "bad.csv").write_text("text,id\nok,1\nthis, has a comma,2\n", encoding="utf-8")
    assert list(read.process(str(tmp_path / "bad.csv"))) == []  # counted as unreadable, skipped
