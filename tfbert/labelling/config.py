"""Configuration of the labelling jobs: a file on one machine, or files on Apache Beam."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tfbert.config import TEXT_TYPES

LABEL_OUTPUT_TYPES = (".parquet", ".csv", ".jsonl")
BEAM_OUTPUT_FORMATS = ("jsonl", "parquet", "csv")


@dataclass(frozen=True)
class LabelFileConfig:
    """A file to label, read in chunks of `chunk_rows`, and where its predictions go.

    `id_column=None` makes the row number (from 0) the id. `keep_columns` are input columns
    copied to the output. `strict` stops at the first empty text, missing text or invalid UTF-8
    instead of counting and skipping it.
    """

    input: str
    output: str
    text_column: str = "text"
    text_pair_column: str | None = None  # the second text of each pair, for a pair model
    id_column: str | None = None
    keep_columns: tuple[str, ...] = ()
    chunk_rows: int = 4096
    strict: bool = False
    overwrite: bool = False

    def __post_init__(self) -> None:
        suffix_in, suffix_out = Path(self.input).suffix.lower(), Path(self.output).suffix.lower()
        if suffix_in not in TEXT_TYPES:
            raise ValueError(f"input {self.input}: use one of {', '.join(TEXT_TYPES)}")
        if suffix_out not in LABEL_OUTPUT_TYPES:
            raise ValueError(f"output {self.output}: use one of {', '.join(LABEL_OUTPUT_TYPES)}")
        if Path(self.input).resolve() == Path(self.output).resolve():
            raise ValueError("output must not be the input file")
        if self.chunk_rows < 1:
            raise ValueError(f"chunk_rows must be at least 1, got {self.chunk_rows}")
        if not self.text_column:
            raise ValueError("text_column must be non-empty")


@dataclass(frozen=True)
class BeamPredictConfig:
    """What to label, with which export, where the predictions go, and Beam's own options."""

    export: str
    input: str
    output: str
    output_format: str = "jsonl"
    text_column: str = "text"
    text_pair_column: str | None = None  # the second text of each pair, for a pair model
    id_column: str | None = None  # None: a `row` column of "<file>:<row>", rows from 0 in each file
    keep_columns: tuple[str, ...] = ()  # input columns copied to the output (as text)
    batch_size: int = 32
    num_shards: int = 0  # 0: the runner decides
    share_model: bool = False  # one model per machine for all worker processes (Beam's large_model)
    pipeline_args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("export", "input", "output", "text_column"):
            if not getattr(self, name):
                raise ValueError(f"{name} must not be empty")
        if self.output_format not in BEAM_OUTPUT_FORMATS:
            raise ValueError(f"format must be one of {', '.join(BEAM_OUTPUT_FORMATS)}, "
                             f"got {self.output_format!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {self.batch_size}")
        if self.num_shards < 0:
            raise ValueError(f"number of shards must be 0 (runner decides) or more, got {self.num_shards}")
