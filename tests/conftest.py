"""Shared fixtures: a tiny random-weight BERT with its own vocabulary, toy data, the shared folder."""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import tfbert  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from tfbert.config import DataConfig, ModelConfig, OutputConfig, RunConfig, TrainConfig

REPO = Path(__file__).resolve().parents[1]
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
POSITIVE_WORDS = ["good", "great", "wonderful", "superb", "loved", "brilliant"]
NEGATIVE_WORDS = ["bad", "awful", "boring", "terrible", "hated", "dull"]
NEUTRAL_WORDS = ["the", "film", "movie", "was", "a", "plot", "actors", "story", "it", "and",
                 "this", "very", "quite", "not", "at", "all", "!", ".", ",", "'", "s"]
VOCAB = SPECIAL_TOKENS + POSITIVE_WORDS + NEGATIVE_WORDS + NEUTRAL_WORDS + [
    "##s", "##ly", "##ing", "##ed", "un", "##believ", "##able", "caf", "##e", "e",
]


def shared_dir() -> Path:
    """The read-only folder with real data and weights (env `TFBERT_SHARED_DIR`)."""
    return Path(os.environ.get("TFBERT_SHARED_DIR", REPO.parent / "shared"))


def write_vocab(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "vocab.txt"
    path.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    return path


def save_tiny_bert(folder: Path, num_labels: int = 2, max_positions: int = 64,
                   dropout: float = 0.1, seed: int = 0) -> Path:
    """Writes a 2-layer, hidden-16 random BERT classifier and its tokenizer in save_pretrained form.

    The weights come from `seed`: unseeded, they depended on which tests had drawn random numbers
    first, so each pytest-xdist worker fine-tuned a different model, and one of them once left
    "the movie was awful" at 0.502 positive.
    """
    from transformers import BertConfig, BertTokenizerFast, TFBertForSequenceClassification

    from tfbert.base.keras import keras

    keras.utils.set_random_seed(seed)  # Keras initialisers draw from Python's and NumPy's generators

    tokenizer = BertTokenizerFast(vocab_file=str(write_vocab(folder)), do_lower_case=True)
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=32,
                        max_position_embeddings=max_positions, num_labels=num_labels,
                        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    model = TFBertForSequenceClassification(config)
    model(model.dummy_inputs)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def toy_reviews(n: int, seed: int = 0) -> pd.DataFrame:
    """Short reviews whose label is given away by one sentiment word: learnable in a few steps."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = i % 2
        cue = rng.choice(POSITIVE_WORDS if label else NEGATIVE_WORDS)
        filler = rng.sample(NEUTRAL_WORDS[:10], k=rng.randint(2, 8))
        filler.insert(rng.randint(0, len(filler)), cue)
        rows.append({"text": " ".join(filler), "label": "positive" if label else "negative"})
    return pd.DataFrame(rows)


def toy_pairs(n: int, seed: int = 0) -> pd.DataFrame:
    """Pairs of toy reviews, GLUE-named (sentence1, sentence2): "agree" where both texts carry
    the same sentiment. (Mechanics only: the tiny model is not asked to learn it.)"""
    first, second = toy_reviews(n, seed=seed), toy_reviews(n, seed=seed + 100)
    second = second.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    agree = first["label"] == second["label"]
    return pd.DataFrame({"sentence1": first["text"], "sentence2": second["text"],
                         "label": ["agree" if a else "disagree" for a in agree]})


def write_toy_pairs(folder: Path) -> None:
    toy_pairs(160, seed=1).to_csv(folder / "train.csv", index=False)
    toy_pairs(40, seed=2).to_csv(folder / "validation.csv", index=False)
    toy_pairs(40, seed=3).to_csv(folder / "test.csv", index=False)


def built_once(tmp_path_factory, name: str, build: Callable[[Path], object]) -> Path:
    """A folder that `build` fills once per test session, whichever pytest-xdist worker asks first.

    The workers share the parent of their temporary folders; a file lock makes the others wait
    for the first build, then they all read the same files (which tests must not change: copy
    them first, as `run_copy` does).
    """
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = root / "built-once" / name
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if not (folder / ".complete").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            (folder / ".complete").touch()
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return built_once(tmp_path_factory, "tiny_bert", save_tiny_bert)


def write_toy_data(folder: Path) -> None:
    """train.csv / validation.csv / test.csv with string labels."""
    toy_reviews(320, seed=1).to_csv(folder / "train.csv", index=False)
    toy_reviews(40, seed=2).to_csv(folder / "validation.csv", index=False)
    toy_reviews(40, seed=3).to_csv(folder / "test.csv", index=False)


@pytest.fixture(scope="session")
def toy_data_dir(tmp_path_factory) -> Path:
    return built_once(tmp_path_factory, "toy_data", write_toy_data)


SHARED_FIXTURES = ("shared_model_dir", "shared_imdb_dir")
MISSING_SHARED = ("; set TFBERT_SHARED_DIR, or run the tests without it: "
                  'python -m pytest -m "not real_model"')


# Started first, the longest (about 2 minutes on 2 busy cores) no longer ends the suite alone.
LONGEST = ("tests/test_end_to_end.py::test_train_script_on_real_imdb",)


def pytest_collection_modifyitems(config, items):
    """Every test that reads the shared folder must say so with the `real_model` marker.

    The long tests (real model, killed processes) run first, so that the two workers do not
    end with one of them alone on a long test.
    """
    items.sort(key=lambda item: (item.nodeid not in LONGEST,
                                 not (item.get_closest_marker("real_model")
                                      or item.get_closest_marker("slow"))))
    unmarked = [item.nodeid for item in items
                if set(SHARED_FIXTURES) & set(getattr(item, "fixturenames", ()))
                and item.get_closest_marker("real_model") is None]
    if unmarked:
        raise pytest.UsageError("tests read ../shared without @pytest.mark.real_model: "
                                + ", ".join(unmarked))


@pytest.fixture(scope="session")
def shared_model_dir() -> Path:
    path = shared_dir() / "models" / "all-MiniLM-L6-v2"
    if not (path / "config.json").exists():
        pytest.fail(f"shared model not found at {path}{MISSING_SHARED}")
    return path


@pytest.fixture(scope="session")
def shared_imdb_dir() -> Path:
    path = shared_dir() / "data" / "imdb"
    if not (path / "train.parquet").exists():
        pytest.fail(f"shared IMDb data not found at {path}{MISSING_SHARED}")
    return path


def _trained(tmp_path_factory, name: str, train: Callable[[Path], object], run_name: str):
    """The run `train` writes, built once per session, read back as a `RunResult`."""
    from tfbert.base.files import read_json
    from tfbert.train import RunResult

    run_dir = built_once(tmp_path_factory, name, train) / run_name
    metrics = read_json(run_dir / "metrics.json")
    history = pd.read_csv(run_dir / "history.csv").to_dict(orient="list")
    return RunResult(run_dir, metrics, history, metrics["seconds_this_process"])


@pytest.fixture(scope="session")
def trained_run(tiny_model_dir, toy_data_dir, tmp_path_factory):
    """A tiny model fine-tuned on the toy reviews, with its default export (version 1).

    Trained once per session for every worker; read-only (copy it with `run_copy` to change it).
    """
    from tfbert.cli.train import train_and_export

    def train(folder: Path) -> None:
        train_and_export(RunConfig(
            data=DataConfig(sources=(str(toy_data_dir),), max_length=32),
            model=ModelConfig(name_or_path=str(tiny_model_dir)),
            train=TrainConfig(epochs=5, batch_size=16, learning_rate=5e-3, warmup_ratio=0.0,
                              early_stopping_patience=None),
            output=OutputConfig(output_dir=str(folder), run_name="tiny"),
        ))

    return _trained(tmp_path_factory, "trained_run", train, "tiny")


@pytest.fixture(scope="session")
def toy_pairs_dir(tmp_path_factory) -> Path:
    return built_once(tmp_path_factory, "toy_pairs", write_toy_pairs)


@pytest.fixture(scope="session")
def trained_pair_run(tiny_model_dir, toy_pairs_dir, tmp_path_factory):
    """The tiny model fine-tuned on toy pairs (columns found by their GLUE names), exported."""
    from tfbert.cli.train import train_and_export

    def train(folder: Path) -> None:
        train_and_export(RunConfig(
            data=DataConfig(sources=(str(toy_pairs_dir),), max_length=32),
            # float32 on every CPU: evaluations of the run compare with its own test metrics
            model=ModelConfig(name_or_path=str(tiny_model_dir), precision="float32"),
            train=TrainConfig(epochs=2, batch_size=16, learning_rate=5e-3, warmup_ratio=0.0,
                              early_stopping_patience=None),
            output=OutputConfig(output_dir=str(folder), run_name="pairs"),
        ))

    return _trained(tmp_path_factory, "trained_pair_run", train, "pairs")


@pytest.fixture
def run_copy(trained_run, tmp_path) -> Path:
    """A private copy of the trained run, for tests that add files to it (exports, evaluations)."""
    import shutil

    return Path(shutil.copytree(trained_run.run_dir, tmp_path / "run"))


def toy_targets(n: int, seed: int = 0) -> pd.DataFrame:
    """Toy reviews with a number and a label set: `score` (about 4 when positive, 1 when
    negative) and `tags` (the sentiment, plus "long" for texts of more than six words)."""
    import numpy as np

    frame = toy_reviews(n, seed)
    noise = np.random.default_rng(seed).normal(0.0, 0.3, n)
    frame["score"] = np.where(frame["label"] == "positive", 4.0, 1.0) + noise
    frame["tags"] = [[label] + (["long"] if len(text.split()) > 6 else [])
                     for label, text in zip(frame["label"], frame["text"], strict=True)]
    return frame.drop(columns="label")


def write_toy_targets(folder: Path) -> None:
    """train/validation/test.parquet with `score` and `tags` columns."""
    for split, n, seed in (("train", 320, 1), ("validation", 40, 2), ("test", 40, 3)):
        toy_targets(n, seed).to_parquet(folder / f"{split}.parquet")


@pytest.fixture(scope="session")
def toy_targets_dir(tmp_path_factory) -> Path:
    return built_once(tmp_path_factory, "toy_targets", write_toy_targets)


def _train_task(tiny_model_dir: Path, data_dir: Path, folder: Path, name: str, **data) -> None:
    from tfbert.cli.train import train_and_export

    train_and_export(RunConfig(
        data=DataConfig(sources=(str(data_dir),), max_length=32, **data),
        model=ModelConfig(name_or_path=str(tiny_model_dir), precision="float32"),
        train=TrainConfig(epochs=6, batch_size=16, learning_rate=2e-3, warmup_ratio=0.0,
                          early_stopping_patience=None),
        output=OutputConfig(output_dir=str(folder), run_name=name),
    ))


@pytest.fixture(scope="session")
def regression_run(tiny_model_dir, toy_targets_dir, tmp_path_factory):
    """The tiny model trained to predict `score` (task found by `auto`), with its export."""
    return _trained(tmp_path_factory, "regression_run", lambda folder: _train_task(
        tiny_model_dir, toy_targets_dir, folder, "score", label_column="score"), "score")


@pytest.fixture(scope="session")
def multilabel_run(tiny_model_dir, toy_targets_dir, tmp_path_factory):
    """The tiny model trained on the `tags` label sets (list column: `auto` says multi-label)."""
    return _trained(tmp_path_factory, "multilabel_run", lambda folder: _train_task(
        tiny_model_dir, toy_targets_dir, folder, "tags", label_column="tags"), "tags")
