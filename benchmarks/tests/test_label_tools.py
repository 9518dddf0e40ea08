"""The two helpers behind the labelling figures: a large input file, and comparing two outputs."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmarks.labelling.compare_labels import compare, main, read_labels
from benchmarks.labelling.label_memory import main as label_memory
from benchmarks.labelling.large_file import write_large_file


def test_large_file_cycles_the_sources_with_fresh_unique_ids(tmp_path):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pd.DataFrame({"text": ["x0", "x1", "x2"], "label": [0, 1, 0], "review_id": [0, 1, 0]}).to_parquet(a)
    pd.DataFrame({"text": ["y0", "y1"], "label": [1, 1], "review_id": [0, 1]}).to_parquet(b)
    out = tmp_path / "big.parquet"
    assert write_large_file([str(a), str(b)], 12, out) == 12
    table = pd.read_parquet(out)
    assert table["review_id"].tolist() == list(range(12))
    assert table["text"].tolist() == ["x0", "x1", "x2", "y0", "y1"] * 2 + ["x0", "x1"]
    assert table["label"].tolist() == [0, 1, 0, 1, 1] * 2 + [0, 1]
    with pytest.raises(ValueError, match="at least 1"):
        write_large_file([str(a)], 0, out)


def _labels(ids, labels, p_first):
    return pd.DataFrame({"row": ids, "label": labels, "label_id": [int(x == "pos") for x in labels],
                         "prob_neg": p_first, "prob_pos": [1 - p for p in p_first]})


def test_compare_counts_lost_duplicated_and_disagreeing_rows(tmp_path):
    reference = _labels([0, 1, 2, 3], ["neg", "pos", "pos", "neg"], [0.9, 0.2, 0.3, 0.8])
    other = _labels([3, 1, 1, 0, 9], ["neg", "pos", "pos", "pos", "neg"], [0.8, 0.25, 0.25, 0.4, 0.5])
    ref_path, other_path = tmp_path / "ref.parquet", tmp_path / "other.csv"
    reference.to_parquet(ref_path)
    other.to_csv(other_path, index=False)
    c = compare(read_labels(str(ref_path)), read_labels(str(other_path)))
    assert (c["rows"], c["lost"], c["duplicated"], c["unexpected"]) == (5, 1, 1, 1)
    assert c["labels_identical"] == 2  # rows 3 and 1 agree, row 0 does not
    assert c["max_probability_difference"] == pytest.approx(0.5)
    assert main([str(ref_path), str(other_path)]) == 1
    assert main([str(ref_path), str(ref_path)]) == 0


def test_beam_shard_ids_match_row_numbers_and_repeated_reference_ids_are_refused(tmp_path):
    reference = _labels([0, 1, 2], ["neg", "pos", "neg"], [0.7, 0.1, 0.6])
    reference.to_parquet(tmp_path / "ref.parquet")
    beam = reference.assign(row=[f"test.parquet:{i}" for i in range(3)]).rename(columns={"row": "id"})
    beam.iloc[[2]].to_json(tmp_path / "out-00000-of-00002.jsonl", orient="records", lines=True)
    beam.iloc[[1, 0]].to_json(tmp_path / "out-00001-of-00002.jsonl", orient="records", lines=True)
    c = compare(read_labels(str(tmp_path / "ref.parquet")), read_labels(str(tmp_path / "out-*.jsonl")))
    assert (c["lost"], c["duplicated"], c["unexpected"], c["labels_identical"]) == (0, 0, 0, 3)
    _labels([0, 0], ["neg", "pos"], [0.7, 0.1]).to_parquet(tmp_path / "repeated.parquet")
    assert main([str(tmp_path / "repeated.parquet"), str(tmp_path / "ref.parquet")]) == 2


def test_string_ids_match_across_output_formats(tmp_path):
    """Ids from a CSV input stay strings ("0042"): reading a JSONL or CSV output must keep them so."""
    table = _labels(["0042", "17", "9"], ["neg", "pos", "neg"], [0.7, 0.1, 0.6])
    table.to_parquet(tmp_path / "a.parquet")
    table.to_json(tmp_path / "b.jsonl", orient="records", lines=True)
    table.to_csv(tmp_path / "c.csv", index=False)
    for other in ("b.jsonl", "c.csv"):
        c = compare(read_labels(str(tmp_path / "a.parquet")), read_labels(str(tmp_path / other)))
        assert (c["lost"], c["unexpected"], c["labels_identical"]) == (0, 0, 3), other
    numbered = _labels([42, 17], ["neg", "pos"], [0.7, 0.1])  # a number 42 is not the text "0042"
    numbered.to_json(tmp_path / "d.jsonl", orient="records", lines=True)
    c = compare(read_labels(str(tmp_path / "a.parquet")), read_labels(str(tmp_path / "d.jsonl")))
    assert (c["lost"], c["unexpected"], c["labels_identical"]) == (2, 1, 1)


def test_label_memory_reports_every_chunk(tmp_path, capsys):
    data = tmp_path / "texts.parquet"
    pd.DataFrame({"text": [f"review {i}" for i in range(10)]}).to_parquet(data)
    assert label_memory(["--data", str(data), "--stage", "read", "--chunk-rows", "4", "--trim"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["chunk", "rows"]
    assert [line.split()[1] for line in lines[1:]] == ["4", "8", "10"]
    assert all(float(value) > 0 for line in lines[1:] for value in line.split()[3:5])
    with pytest.raises(SystemExit):
        label_memory(["--data", str(data), "--stage", "model"])  # no --run
