"""Typed, frozen configuration: one dataclass per concern, composed into a `RunConfig`."""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfbert.base.files import write_json_atomic
from tfbert.encoder.weights import COMPUTE_DTYPES
from tfbert.tasks.kinds import (
    ALL_MONITORS,
    LOWER_IS_BETTER,
    MULTI_LABEL,
    REGRESSION,
    TASKS,
    monitor_for,
)

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
TRUNCATIONS = ("head", "tail", "head+tail")  # of one text
PAIR_TRUNCATIONS = ("longest_first", "only_first", "only_second")  # of a pair ("head": longest_first)
STRATEGIES = ("auto", "one-device", "mirrored", "multi-worker", "tpu")
MONITOR_METRICS = ("auto", *ALL_MONITORS)  # auto: the task's default (tasks/kinds.py)
CLASS_WEIGHTS = ("none", "auto")
LONG_TEXTS = ("truncate", "windows")  # what becomes of a text longer than max_length
AGGREGATES = ("mean-logits", "mean-probabilities", "max")  # window outputs -> the text's
WINDOW_KEYS = ("window_stride", "max_windows", "aggregate")  # meaningless when truncating
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_DATA = "imdb"
TABLE_TYPES = (".csv", ".tsv", ".jsonl", ".json", ".parquet")  # labelled data, to train on
TEXT_TYPES = (*TABLE_TYPES, ".txt")  # texts to label: also .txt, one text per line
DEFAULT_EXPORT_NAME = "classifier"
INFERENCE_DTYPES = ("auto", *COMPUTE_DTYPES)  # what a run predicts in (auto: the CPU decides)
# TF Serving model names become folder and URL parts: keep them to these characters.
EXPORT_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]*"


def _check_size(name: str, value: float | int | None, allow_fraction: bool) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if isinstance(value, float) and not value.is_integer():
        if not allow_fraction or not 0.0 < value < 1.0:
            raise ValueError(f"{name} must be a whole count or a fraction in (0, 1), got {value}")
    elif value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")


@dataclass(frozen=True)
class DataConfig:
    """Where the examples come from and how they are cut into splits.

    `sources` holds one hub data set name, one local path, or several `split=path` items.
    Sizes are example counts (stratified by label); `val_size` may also be a fraction of
    train, used when the data has no validation split of its own. `strict` turns dropped rows
    (empty texts, missing labels) and invalid UTF-8 into errors instead of warnings. With a
    `text_pair_column` every example is a pair of texts (premise and hypothesis, question and
    answer), and `truncation` says which of the two loses tokens ("head" = "longest_first").

    `task` is the problem type ("auto" decides from the labels; a run saves what it chose).
    Multi-label sets come from a list column, a `label_separator`-delimited string, or several
    0/1 `label_columns`; a regression target is standardised for training when `standardise`.

    `long_text="windows"` reads a longer text whole, as overlapping windows of `max_length`
    tokens (neighbours share `window_stride`, default a quarter of `max_length`; at most
    `max_windows` per text, the rest cut); `aggregate` turns the windows' outputs into the
    text's. For a pair the first text is windowed and the second kept in every window.
    """

    sources: tuple[str, ...] = (DEFAULT_DATA,)
    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str = "label"
    label_names: tuple[str, ...] | None = None
    train_size: int | None = None
    val_size: float | int = 0.1
    test_size: int | None = None
    max_length: int = 256
    truncation: str = "head"
    head_tokens: int | None = None
    strict: bool = False
    seed: int = 42
    task: str = "auto"
    label_columns: tuple[str, ...] | None = None
    label_separator: str | None = None
    standardise: bool = True
    long_text: str = "truncate"
    window_stride: int | None = None
    max_windows: int = 16
    aggregate: str = "mean-logits"

    def __post_init__(self) -> None:
        if not self.sources:
            raise ValueError("data sources must not be empty")
        if not self.text_column or not self.label_column:
            raise ValueError("text_column and label_column must be non-empty")
        if self.label_names is not None and len(set(self.label_names)) != len(self.label_names):
            raise ValueError(f"label_names must be distinct, got {list(self.label_names)}")
        self._check_task()
        _check_size("train_size", self.train_size, allow_fraction=False)
        _check_size("val_size", self.val_size, allow_fraction=True)
        _check_size("test_size", self.test_size, allow_fraction=False)
        if self.max_length < 8:
            raise ValueError(f"max_length must be at least 8, got {self.max_length}")
        self._check_truncation()
        self._check_windows()

    @property
    def windowed(self) -> bool:
        return self.long_text == "windows"

    @property
    def stride(self) -> int:
        """Tokens neighbouring windows share (the default: a quarter of `max_length`)."""
        return self.max_length // 4 if self.window_stride is None else self.window_stride

    def _check_windows(self) -> None:
        if self.long_text not in LONG_TEXTS:
            raise ValueError(f"long_text must be one of {', '.join(LONG_TEXTS)}, "
                             f"got {self.long_text!r}")
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"aggregate must be one of {', '.join(AGGREGATES)}, "
                             f"got {self.aggregate!r}")
        if isinstance(self.max_windows, bool) or not isinstance(self.max_windows, int) \
                or self.max_windows < 1:
            raise ValueError(f"max_windows must be a whole number of at least 1, "
                             f"got {self.max_windows!r}")
        if self.window_stride is not None and not 0 <= self.window_stride <= self.max_length // 2:
            raise ValueError(f"window_stride must be between 0 and half of max_length "
                             f"({self.max_length // 2}), got {self.window_stride}")
        if self.windowed and (self.truncation != "head" or self.head_tokens is not None):
            raise ValueError("with long_text 'windows' every token is read: truncation and "
                             "head_tokens do not apply")

    def _check_task(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.label_columns is not None:
            if len(self.label_columns) < 2 or len(set(self.label_columns)) != len(self.label_columns):
                raise ValueError("label_columns needs two or more distinct columns of 0/1, got "
                                 f"{list(self.label_columns)}")
            if self.task not in ("auto", MULTI_LABEL):
                raise ValueError(f"several label columns make a multi-label task, not {self.task}")
        if self.label_separator is not None and (not self.label_separator
                                                 or self.task not in ("auto", MULTI_LABEL)):
            raise ValueError("label_separator must be non-empty and splits multi-label sets only")
        if self.task == REGRESSION and self.label_names is not None:
            raise ValueError("label_names name classes or labels; a regression target has none")
        least = 1 if self.task == MULTI_LABEL else 2
        if self.label_names is not None and len(self.label_names) < least:
            raise ValueError(f"label_names needs at least {least} names")

    @property
    def is_pair(self) -> bool:
        return self.text_pair_column is not None

    @property
    def pair_truncation(self) -> str:
        """The truncation of a pair: "head" (the default) cuts the longer text first."""
        return "longest_first" if self.truncation == "head" else self.truncation

    def _check_truncation(self) -> None:
        if self.text_pair_column is not None:
            if self.text_pair_column == self.text_column:
                raise ValueError(f"the two text columns are the same ({self.text_column!r})")
            if self.truncation not in ("head", *PAIR_TRUNCATIONS):
                raise ValueError(f"truncation {self.truncation!r} cuts one text; a pair is cut with "
                                 f"one of {', '.join(PAIR_TRUNCATIONS)} (default longest_first)")
            if self.head_tokens is not None:
                raise ValueError("head_tokens applies to one text cut head+tail, not to pairs")
            return
        if self.truncation not in TRUNCATIONS:
            raise ValueError(f"truncation {self.truncation!r}: one text is cut with one of "
                             f"{', '.join(TRUNCATIONS)} ({', '.join(PAIR_TRUNCATIONS)} cut pairs)")
        if self.head_tokens is not None:
            if self.truncation != "head+tail":
                raise ValueError("head_tokens applies to truncation 'head+tail' only")
            if not 0 < self.head_tokens < self.max_length - 3:
                raise ValueError(f"head_tokens must be between 1 and max_length - 4 "
                                 f"({self.max_length - 4}), got {self.head_tokens}")


@dataclass(frozen=True)
class ModelConfig:
    """Which pretrained checkpoint to fine-tune and at what numeric precision."""

    name_or_path: str = DEFAULT_MODEL
    precision: str = "auto"
    precision_reason: str | None = None  # why `auto` chose the policy; filled in at run time

    def __post_init__(self) -> None:
        if not self.name_or_path:
            raise ValueError("model name_or_path must be non-empty")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, evaluation cadence and checkpoint policy."""

    epochs: int = 2
    batch_size: int = 16
    eval_batch_size: int = 64
    learning_rate: float = 1e-4  # for the default small encoder; see docs/results.md
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    monitor: str = "auto"
    early_stopping_patience: int | None = 2
    bucketing: bool = True
    pad_multiple: int = 16
    jit_compile: bool = False
    save_every_steps: int = 0
    deterministic: bool = False
    strategy: str = "auto"
    calibrate: bool = False
    class_weights: str = "none"
    seed: int = 42

    def __post_init__(self) -> None:
        if self.class_weights not in CLASS_WEIGHTS:
            raise ValueError(f"class_weights must be one of {CLASS_WEIGHTS}, got {self.class_weights!r}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1 or self.eval_batch_size < 1:
            raise ValueError("batch sizes must be at least 1")
        if not 0.0 < self.learning_rate < 1.0:
            raise ValueError(f"learning_rate must be in (0, 1), got {self.learning_rate}")
        if not 0.0 <= self.weight_decay < 1.0:
            raise ValueError(f"weight_decay must be in [0, 1), got {self.weight_decay}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.monitor not in MONITOR_METRICS:
            raise ValueError(f"monitor must be one of {MONITOR_METRICS}, got {self.monitor!r}")
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise ValueError("early_stopping_patience must be at least 1 (or None to disable)")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.save_every_steps < 0:
            raise ValueError(f"save_every_steps must be 0 (epoch ends only) or more, "
                             f"got {self.save_every_steps}")
        if not 1 <= self.pad_multiple <= 512:
            raise ValueError(f"pad_multiple must be in [1, 512], got {self.pad_multiple}")

    @property
    def monitor_mode(self) -> str:
        return "min" if self.monitor in LOWER_IS_BETTER else "max"


@dataclass(frozen=True)
class OutputConfig:
    """Where the run folder goes and what it is called."""

    output_dir: str = "saved_models"
    run_name: str | None = None
    overwrite: bool = False
    export: bool = True
    export_name: str = DEFAULT_EXPORT_NAME

    def __post_init__(self) -> None:
        if not self.output_dir:
            raise ValueError("output_dir must be non-empty")
        if not re.fullmatch(EXPORT_NAME_PATTERN, self.export_name):
            raise ValueError(f"export_name {self.export_name!r}: use letters, digits, '.', '_', '-'")
        if self.run_name is not None:
            if not self.run_name or "/" in self.run_name or self.run_name in (".", ".."):
                raise ValueError(f"run_name must be a plain folder name, got {self.run_name!r}")


@dataclass(frozen=True)
class PredictConfig:
    """How texts are fed to a model when a few are labelled (command line, Python).

    `compute_dtype` is what a run's forward pass computes in: `auto` is bfloat16 on a CPU with
    native bfloat16 arithmetic (as training's `--precision auto`), float32 elsewhere.
    """

    batch_size: int = 32
    compute_dtype: str = "auto"

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {self.batch_size}")
        if self.compute_dtype not in INFERENCE_DTYPES:
            raise ValueError(f"compute dtype must be one of {INFERENCE_DTYPES}, "
                             f"got {self.compute_dtype!r}")


@dataclass(frozen=True)
class RunConfig:
    """Everything one training run needs; written to the run folder as `run_config.json`."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def __post_init__(self) -> None:
        if self.data.task != "auto":  # an `auto` task is checked once the data has decided it
            monitor_for(self.data.task, self.train.monitor)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def identity(self) -> dict[str, Any]:
        """What determines the run's results: everything but the output settings and the
        human-readable reason `auto` gave for its precision (it names CPU flags, which differ
        between machines that resolve the same precision)."""
        parts = {k: v for k, v in self.to_dict().items() if k != "output"}
        parts["model"] = {k: v for k, v in parts["model"].items() if k != "precision_reason"}
        if not self.data.windowed:  # runs that truncate keep the names they had before windows
            parts["data"] = {k: v for k, v in parts["data"].items()
                             if k not in ("long_text", *WINDOW_KEYS)}
        return json.loads(json.dumps(parts))  # tuples as lists, as in the saved file

    def fingerprint(self) -> str:
        """A short hash of `identity()`: the same command gives the same run name."""
        import hashlib

        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:8]

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunConfig:
        """Rebuilds a config from `to_dict` output (JSON turns tuples into lists)."""
        parts = {}
        for name, part_cls in (("data", DataConfig), ("model", ModelConfig),
                               ("train", TrainConfig), ("output", OutputConfig)):
            raw = dict(values.get(name, {}))
            known = {f.name for f in dataclasses.fields(part_cls)}
            unknown = set(raw) - known
            if unknown:
                raise ValueError(f"unknown {name} config keys: {sorted(unknown)}")
            for key, val in raw.items():
                if isinstance(val, list):
                    raw[key] = tuple(val)
            parts[name] = part_cls(**raw)
        return cls(**parts)

    def save(self, path: str | Path) -> None:
        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        with open(path, encoding="utf-8") as handle:
            return cls.from_dict(json.load(handle))
