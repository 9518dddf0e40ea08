"""Data loading: every source form, label handling, splits and the errors a person sees."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import toy_reviews

from tfbert.base.errors import ExitCode
from tfbert.cli.train import main as train_main
from tfbert.config import DataConfig
from tfbert.data import DataError, LabelSet, build_label_set, label_warnings, load_eval_split, load_splits


def _cfg(*sources, **kwargs) -> DataConfig:
    return DataConfig(sources=tuple(str(s) for s in sources), **kwargs)


def test_folder_of_csv_files_with_string_labels(toy_data_dir):
    splits = load_splits(_cfg(toy_data_dir))
    assert splits.sizes() == {"train": 320, "validation": 40, "test": 40}
    assert splits.labels.names == ("negative", "positive")
    assert set(splits.train["label"]) == {0, 1}
    assert list(splits.train.columns) == ["text", "label"]


@pytest.mark.parametrize("suffix", ["csv", "tsv", "jsonl", "json", "parquet"])
def test_each_file_type_reads_the_same_rows(tmp_path, suffix):
    frame = toy_reviews(30, seed=5)
    path = tmp_path / f"train.{suffix}"
    if suffix == "csv":
        frame.to_csv(path, index=False)
    elif suffix == "tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif suffix == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    elif suffix == "json":
        frame.to_json(path, orient="records")
    else:
        frame.to_parquet(path)
    splits = load_splits(_cfg(path, val_size=5, test_size=5))
    total = sum(splits.sizes().values())
    assert total == 30
    assert set(pd.concat([splits.train, splits.validation, splits.test])["text"]) == set(frame["text"])


def test_split_assignments_and_custom_columns(tmp_path):
    frame = toy_reviews(40).rename(columns={"text": "review", "label": "sentiment"})
    frame.iloc[:30].to_csv(tmp_path / "a.csv", index=False)
    frame.iloc[30:].to_csv(tmp_path / "b.csv", index=False)
    cfg = _cfg(f"train={tmp_path / 'a.csv'}", f"test={tmp_path / 'b.csv'}",
               text_column="review", label_column="sentiment", val_size=6)
    splits = load_splits(cfg)
    assert splits.sizes() == {"train": 24, "validation": 6, "test": 10}


def test_csv_with_quotes_and_newlines_inside_fields(tmp_path):
    path = tmp_path / "train.csv"
    rows = ['text,label', '"Line one\nline two, with comma",1', '"He said ""great"" twice",0']
    rows += [f'"review {i}, fine",{i % 2}' for i in range(20)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    splits = load_splits(_cfg(path, val_size=4, test_size=4))
    texts = set(pd.concat([splits.train, splits.validation, splits.test])["text"])
    assert "Line one\nline two, with comma" in texts
    assert 'He said "great" twice' in texts


@pytest.mark.parametrize("sep, suffix", [(",", "csv"), ("\t", "tsv")])
def test_words_pandas_reads_as_missing_stay_texts(tmp_path, sep, suffix):
    # "NA", "NULL", "nan" and "None" are real (short) reviews; only an empty field is missing.
    words = ["NA", "NULL", "nan", "None", "N/A", "null"]
    rows = [f"text{sep}label"] + [f"{w}{sep}{i % 2}" for i, w in enumerate(words * 4)] + [f"{sep}1"]
    path = tmp_path / f"train.{suffix}"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    splits = load_splits(_cfg(path, val_size=2, test_size=2))
    kept = pd.concat([splits.train, splits.validation, splits.test])["text"]
    assert len(kept) == len(words) * 4 and set(kept) == set(words)



@pytest.mark.parametrize("suffix", ["csv", "tsv"])
def test_number_like_texts_stay_text(tmp_path, suffix):
    # A column of mostly empty texts and "0" was read as numbers, and "0" was dropped as no text.
    sep = "," if suffix == "csv" else "\t"
    texts = ["0", "7", "1.50", "007", "10"] * 2
    rows = [f"text{sep}label"] + [f"{t}{sep}{i % 2}" for i, t in enumerate(texts)] + [f"{sep}1"]
    path = tmp_path / f"train.{suffix}"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    splits = load_splits(_cfg(path, val_size=2, test_size=2))
    kept = pd.concat([splits.train, splits.validation, splits.test])["text"]
    assert sorted(kept) == sorted(texts)  # as written: "007" keeps its zeros, "1.50" its digits

def test_aclimdb_tree(tmp_path):
    root = tmp_path / "aclImdb"
    for split in ("train", "test"):
        for label in ("neg", "pos"):
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(6):
                (folder / f"{i}_{3 if label == 'neg' else 8}.txt").write_text(
                    f"{label} review {i}<br />more", encoding="utf-8")
    splits = load_splits(_cfg(tmp_path, val_size=4))
    assert splits.labels.names == ("neg", "pos")
    assert splits.sizes() == {"train": 8, "validation": 4, "test": 12}
    positive = splits.test[splits.test["label"] == 1]["text"]
    assert all(t.startswith("pos review") for t in positive)


@pytest.mark.real_model
def test_stratified_subsets_keep_class_balance_and_seed(shared_imdb_dir):
    cfg = _cfg(shared_imdb_dir, train_size=180, val_size=20, test_size=50, seed=42)
    first, second = load_splits(cfg), load_splits(cfg)
    assert first.sizes() == {"train": 180, "validation": 20, "test": 50}
    assert first.train["label"].value_counts().to_dict() == {0: 90, 1: 90}
    assert first.test["label"].value_counts().to_dict() == {0: 25, 1: 25}
    assert list(first.train["text"]) == list(second.train["text"])
    other = load_splits(_cfg(shared_imdb_dir, train_size=180, val_size=20, test_size=50, seed=7))
    assert list(other.train["text"]) != list(first.train["text"])
    assert not set(first.train["text"]) & set(first.validation["text"])


def test_integer_labels_and_label_names():
    labels, mapping = build_label_set(pd.Series([0, 1, 1, 0]), None)
    assert labels.names == ("0", "1") and mapping == {0: 0, 1: 1}
    labels, _ = build_label_set(pd.Series([0, 1]), ("negative", "positive"))
    assert labels.id2label == {0: "negative", 1: "positive"}
    labels, mapping = build_label_set(pd.Series([1, 10, 7, 4]), None)
    assert labels.names == ("1", "4", "7", "10") and mapping[10] == 3
    labels, mapping = build_label_set(pd.Series(["b", "c", "a"]), None)
    assert labels.label2id == {"a": 0, "b": 1, "c": 2}


def test_multiclass_string_labels(tmp_path):
    frame = pd.DataFrame({"text": [f"text {i}" for i in range(30)],
                          "label": ["sports", "politics", "tech"] * 10})
    frame.to_csv(tmp_path / "train.csv", index=False)
    splits = load_splits(_cfg(tmp_path / "train.csv", val_size=6, test_size=6))
    assert len(splits.labels) == 3
    assert splits.validation["label"].value_counts().to_dict() == {0: 2, 1: 2, 2: 2}


def test_empty_texts_are_dropped(tmp_path):
    frame = toy_reviews(20)
    frame.loc[0, "text"] = "   "
    frame.loc[1, "text"] = None
    frame.to_csv(tmp_path / "train.csv", index=False)
    splits = load_splits(_cfg(tmp_path / "train.csv", val_size=3, test_size=3))
    assert sum(splits.sizes().values()) == 18


@pytest.mark.parametrize("case, message", [
    ("missing_path", "does not exist"),
    ("unknown_type", "unknown file type"),
    ("empty_file", "empty"),
    ("missing_column", "column 'label' not found; columns are ['text', 'stars']"),
    ("unseen_label", "labels outside the known classes"),
    ("one_class", "only one class"),
    ("mixed_types", "mix types"),
])
def test_bad_input_raises_data_error(tmp_path, case, message):
    good = toy_reviews(20)
    if case == "missing_path":
        sources = [tmp_path / "nope.csv"]
    elif case == "unknown_type":
        (tmp_path / "train.xlsx").write_text("x")
        sources = [tmp_path / "train.xlsx"]
    elif case == "empty_file":
        (tmp_path / "train.csv").write_text("")
        sources = [tmp_path / "train.csv"]
    elif case == "missing_column":
        good.rename(columns={"label": "stars"}).to_csv(tmp_path / "train.csv", index=False)
        sources = [tmp_path / "train.csv"]
    elif case == "unseen_label":
        good.to_csv(tmp_path / "train.csv", index=False)
        bad = good.copy()
        bad.loc[0, "label"] = "neutral"
        bad.to_csv(tmp_path / "test.csv", index=False)
        sources = [tmp_path]
    elif case == "one_class":
        good.assign(label="positive").to_csv(tmp_path / "train.csv", index=False)
        sources = [tmp_path / "train.csv"]
    else:
        pd.DataFrame({"text": ["a", "b", "c"], "label": [1, "pos", 0]}).to_json(
            tmp_path / "train.jsonl", orient="records", lines=True)
        sources = [tmp_path / "train.jsonl"]
    with pytest.raises(DataError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_splits(_cfg(*sources))


def test_eval_split_uses_the_models_labels(toy_data_dir):
    labels = LabelSet(("negative", "positive"))
    frame = load_eval_split(_cfg(toy_data_dir), labels)
    assert len(frame) == 40 and set(frame["label"]) == {0, 1}
    with pytest.raises(DataError, match="labels outside"):
        load_eval_split(_cfg(toy_data_dir), LabelSet(("bad", "good")))


def test_invalid_utf8_is_replaced_and_counted(tmp_path, caplog):
    rows = [b"text,label"] + [f"review {i},{i % 2}".encode() for i in range(20)]
    rows[3] = b"caf\xe9 au lait \xff\xfe,0"
    (tmp_path / "train.csv").write_bytes(b"\n".join(rows) + b"\n")
    with caplog.at_level("WARNING"):
        splits = load_splits(_cfg(tmp_path / "train.csv", val_size=3, test_size=3))
    texts = set(pd.concat([splits.train, splits.validation, splits.test])["text"])
    assert "caf\ufffd au lait \ufffd\ufffd" in texts
    assert "replaced 3 invalid UTF-8 byte sequences" in caplog.text
    with pytest.raises(DataError, match="3 invalid UTF-8 byte sequences"):
        load_splits(_cfg(tmp_path / "train.csv", val_size=3, test_size=3, strict=True))


def test_strict_refuses_empty_texts_and_names_rows(tmp_path):
    frame = toy_reviews(20)
    frame.loc[4, "text"] = "  "
    frame.to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(DataError, match=r"1 rows with an empty text or no label \(data rows 5\)"):
        load_splits(_cfg(tmp_path / "train.csv", strict=True))


def test_corrupt_parquet_and_empty_split(tmp_path):
    (tmp_path / "train.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataError, match="cannot be read as parquet"):
        load_splits(_cfg(tmp_path / "train.parquet"))
    toy_reviews(20).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame({"text": ["  ", ""], "label": ["positive", "negative"]}).to_csv(
        tmp_path / "test.csv", index=False)
    with pytest.raises(DataError, match="no usable rows"):
        load_splits(_cfg(f"train={tmp_path / 'train.csv'}", f"test={tmp_path / 'test.csv'}"))


def test_unknown_label_error_names_the_file_and_row(tmp_path):
    toy_reviews(20).to_csv(tmp_path / "train.csv", index=False)
    bad = toy_reviews(10)
    bad.loc[6, "label"] = "neutral"
    bad.to_csv(tmp_path / "test.csv", index=False)
    with pytest.raises(DataError, match=r"test.csv: labels outside .*neutral \(first at usable row 7\)"):
        load_splits(_cfg(tmp_path))


@pytest.mark.parametrize("sep, suffix", [(",", "csv"), ("\t", "tsv")])
def test_rows_with_extra_or_missing_fields_name_their_lines(tmp_path, sep, suffix):
    rows = [f"text{sep}label"] + [f"review {i}{sep}{'positive' if i % 2 else 'negative'}"
                                  for i in range(30)]
    rows[1] = f"good{sep} not great{sep}positive"  # the first data row: pandas took an index
    rows[9] = "just a text and no label"
    path = tmp_path / f"train.{suffix}"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"2 rows do not have the header's 2 fields "
                                        r"\(line 2 has 3, line 10 has 1; file line numbers\); "
                                        r"put double quotes around texts that contain a "):
        load_splits(_cfg(path))


def test_ragged_csv_stops_the_cli_before_the_model(tiny_model_dir, tmp_path, capsys):
    rows = ["text,label", "good, not great,positive"] + [f"review {i},negative" for i in range(20)]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    args = ["--model", str(tiny_model_dir), "--data", str(tmp_path / "train.csv"),
            "--output-dir", str(tmp_path / "runs"), "--epochs", "1"]
    assert train_main(args) == ExitCode.DATA
    assert "1 rows do not have the header's 2 fields (line 2 has 3" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_label_warnings_flag_rare_classes_variants_and_numbers():
    assert label_warnings({"negative": 38, "positive": 39}) == []
    assert label_warnings({"0": 500, "1": 480, "2": 20}) == []
    rare, numbers = label_warnings({"negative": 38, "positive": 39, "maybe": 1, "3.5": 1})
    assert "'maybe' (1), '3.5' (1)" in rare and "--label-names" in rare
    assert "'3.5' (1)" in numbers and "maybe" not in numbers
    (variants,) = label_warnings({"positive": 40, "Positive": 5, "negative": 45})
    assert "'positive' (40), 'Positive' (5) differ only in case" in variants
    rare, variants = label_warnings({"positive ": 1, "positive": 39, "negative": 40})
    assert "'positive ' (1)" in rare and "'positive ' (1), 'positive' (39)" in variants
    (rare,) = label_warnings({"a": 5000, "b": 4950, "c": 50})  # 0.5 % of the rows
    assert "'c' (50)" in rare and "'a'" not in rare


def test_label_summary_and_warnings_are_logged_before_training(tmp_path, caplog):
    frame = pd.concat([toy_reviews(77), pd.DataFrame({"text": ["hmm", "so-so"],
                                                      "label": ["maybe", "3.5"]})])
    frame.to_csv(tmp_path / "train.csv", index=False)
    with caplog.at_level("INFO"):
        splits = load_splits(_cfg(tmp_path / "train.csv"))
    assert len(splits.labels) == 4  # warned, not refused
    assert "labels: 3.5 1, maybe 1, negative 39, positive 38" in caplog.text
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("very few examples" in m and "'maybe' (1)" in m for m in warned)
    assert any("number-like labels" in m for m in warned)
    caplog.clear()
    with pytest.raises(DataError, match=r"labels \['3.5', 'maybe'\] are not in --label-names"):
        load_splits(_cfg(tmp_path / "train.csv", label_names=("negative", "positive")))
