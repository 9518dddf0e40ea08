"""The one reader of tables of texts: training data, file labelling and Beam read files through it.

So a file gets the same verdict wherever it is read: CSV/TSV fields are text (a review "007"
keeps its zeros; only an empty field is missing), rows whose field count differs from the
header's are refused with their line numbers, invalid UTF-8 is replaced with U+FFFD and counted
(or refused under `strict`), a number in a text column is read as its text, and files stream in
chunks so a labelling job never holds a whole file.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tfbert.base.errors import DataError
from tfbert.config import TEXT_TYPES

TYPED = "typed"  # frame.attrs key: False where every field was read as text (CSV, TSV, .txt)
_BLOCK = 1 << 20  # characters of JSON parsed at a time

csv.field_size_limit(2**31 - 1)  # a 10 MB review is one field; the default stops at 128 KB


class Utf8Counter:
    """A codecs error handler counting invalid UTF-8 (made U+FFFD); also notes `bad_lines`."""

    def __init__(self) -> None:
        self.count, self.first = 0, None
        self.bad_lines: list[int] = []
        self.name = f"tfbert.utf8.{id(self)}"
        codecs.register_error(self.name, self)

    def __call__(self, error: UnicodeDecodeError) -> tuple[str, int]:
        self.count += 1
        if self.first is None:
            self.first = error.object[error.start:error.end]
        return "\ufffd", error.end

    def check(self, path: str | Path, strict: bool, before: int = 0) -> None:
        """Under `strict`, refuses a file in which sequences were replaced since `before`."""
        if strict and self.count > before:
            raise DataError(f"{path}: {self.count - before} invalid UTF-8 byte sequences (the "
                            f"first {self.first!r}); re-save the file as UTF-8 or drop --strict "
                            "to replace them")


def suffix_of(path: str | Path) -> str:
    return Path(str(path)).suffix.lower()


def _binary_open(path: str | Path) -> IO[bytes]:
    return open(path, "rb")


def iter_table(path: str | Path, columns: Sequence[str] | None = None, chunk_rows: int | None = None,
               *, start: int = 0, strict: bool = False, utf8: Utf8Counter | None = None,
               text_columns: Sequence[str] = (), column_hint: str = "",
               opener: Callable[[str], IO[bytes]] = _binary_open) -> Iterator[pd.DataFrame]:
    """Frames of at most `chunk_rows` rows (None: the whole file in one) from row `start` on.

    Args:
        columns: the columns to read (all when None); a missing one is a `DataError` that
            ends with `column_hint` (which flags choose columns).
        text_columns: columns whose non-missing values are made text (numbers included).
        utf8: counts replaced invalid UTF-8 across calls (one is made when None).
        opener: opens the path for binary reading (Beam passes its file systems' `open`).

    Raises:
        DataError: unknown type, empty or unreadable file, missing column, ragged CSV rows,
            malformed JSON, or invalid UTF-8 under `strict`.
    """
    suffix = suffix_of(path)
    if suffix not in TEXT_TYPES:
        raise DataError(f"{path}: unknown file type {suffix or '(none)'}; "
                        f"use one of {', '.join(TEXT_TYPES)}")
    utf8 = utf8 or Utf8Counter()
    size = chunk_rows or math.inf
    try:
        with opener(str(path)) as handle:
            if suffix == ".parquet":
                yield from _parquet_chunks(path, handle, columns, size, start, text_columns,
                                           column_hint)
                return
            before = utf8.count
            text = io.TextIOWrapper(handle, encoding="utf-8", errors=utf8.name,
                                    newline=None if suffix == ".txt" else "")
            chunks = _text_chunks(path, text, suffix, columns, size, text_columns,
                                  None if strict else utf8.bad_lines)
            for frame in _from_row(chunks, start):
                utf8.check(path, strict, before)
                _check_columns(path, columns, frame, column_hint)
                yield frame[list(columns)] if columns else frame
            utf8.check(path, strict, before)
    except (OSError, pa.ArrowException, UnicodeError, csv.Error) as err:
        raise DataError(f"{path}: cannot be read as {suffix[1:]} ({err})") from err


def read_table(path: str | Path, strict: bool = False, text_columns: Sequence[str] = (),
               utf8: Utf8Counter | None = None,
               opener: Callable[[str], IO[bytes]] = _binary_open) -> pd.DataFrame:
    """A whole file as one frame (training data, a Beam worker's file); see `iter_table`."""
    frames = list(iter_table(path, strict=strict, utf8=utf8, text_columns=text_columns,
                             opener=opener))
    frame = frames[0] if frames else pd.DataFrame()
    frame.attrs[TYPED] = suffix_of(path) in (".parquet", ".json", ".jsonl")
    return frame


def count_rows(path: str | Path) -> int | None:
    """Rows of a parquet file, from its footer (progress can show time left); None for others."""
    if suffix_of(path) != ".parquet":
        return None
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (OSError, pa.ArrowException) as err:
        raise DataError(f"{path}: cannot be read as parquet ({err})") from err


def _from_row(chunks: Iterator[pd.DataFrame], start: int) -> Iterator[pd.DataFrame]:
    """The chunks with the first `start` rows dropped (a resumed job continues after them)."""
    row = 0
    for frame in chunks:
        if row + len(frame) > start or (row == 0 and not len(frame)):
            yield frame.iloc[max(0, start - row):].reset_index(drop=True)
        row += len(frame)


def _check_columns(path, columns: Sequence[str] | None, frame: pd.DataFrame, hint: str) -> None:
    missing = [c for c in columns or () if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: column {missing[0]!r} not found; columns are "
                        f"{list(map(str, frame.columns))}" + (f"; {hint}" if hint else ""))


# ---------------------------------------------------------------------------- by file type


def _parquet_chunks(path, handle, columns, size, start, text_columns, hint) -> Iterator[pd.DataFrame]:
    # pre_buffer (pyarrow's default) keeps the row groups it has read: the process grew with
    # the file (about 1 MB per 1,000 IMDb reviews) until it held the whole of it.
    parquet = pq.ParquetFile(handle, pre_buffer=False)
    names = parquet.schema_arrow.names
    _check_columns(path, columns, pd.DataFrame(columns=names), hint)
    first, offset = 0, 0  # skip whole row groups that are already done
    while first < parquet.num_row_groups and offset + parquet.metadata.row_group(first).num_rows <= start:
        offset += parquet.metadata.row_group(first).num_rows
        first += 1
    batch_size = parquet.metadata.num_rows + 1 if size == math.inf else size
    batches = parquet.iter_batches(batch_size=max(1, batch_size),
                                   row_groups=range(first, parquet.num_row_groups),
                                   columns=list(columns) if columns else None)
    empty = True
    for batch in batches:
        frame = _parquet_text(pa.Table.from_batches([batch]), text_columns).to_pandas()
        empty = False
        yield frame.iloc[max(0, start - offset):].reset_index(drop=True)
        offset += len(frame)
    if empty:  # no rows: the columns are still named
        yield parquet.schema_arrow.empty_table().select(list(columns or names)).to_pandas()


def _parquet_text(table: pa.Table, text_columns: Sequence[str]) -> pa.Table:
    """Numbers and booleans in text columns cast to their text, as JSON and CSV read them."""
    for column in text_columns:
        at = table.schema.get_field_index(column)
        kind = table.schema.field(at).type if at >= 0 else None
        if kind is not None and (pa.types.is_integer(kind) or pa.types.is_floating(kind)
                                 or pa.types.is_boolean(kind)):
            table = table.set_column(at, column, table.column(at).cast(pa.string()))
    return table


def _text_chunks(path, text: io.TextIOWrapper, suffix: str, columns, size,
                 text_columns: Sequence[str], bad_lines: list[int] | None
                 ) -> Iterator[pd.DataFrame]:
    if suffix == ".txt":  # one text per line: the text column is the only one
        name = columns[0] if columns else "text"
        lines = (line.rstrip("\n") for line in text)
        return (pd.DataFrame({name: rows}, dtype=object) for rows in _batched(lines, size, True))
    if suffix in (".csv", ".tsv"):
        return _csv_chunks(path, text, "\t" if suffix == ".tsv" else ",", size)
    values = (_json_lines(path, text, bad_lines, text_columns) if suffix == ".jsonl"
              else _json_values(path, text))
    records = (_record(path, value, line, text_columns) for value, line in values)
    return (pd.DataFrame.from_records(rows) for rows in _batched(records, size, False))


def _batched(items: Iterator, size: float, keep_empty: bool) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch or keep_empty:
        yield batch


def _csv_chunks(path, text: io.TextIOWrapper, sep: str, size: float) -> Iterator[pd.DataFrame]:
    """CSV records as frames of text; ragged rows are refused with their file line numbers.

    Without the field count check, pandas took an extra first-row field for an index column
    and shifted every column: texts became labels and a run failed later, misleadingly.
    """
    reader = csv.reader(text, delimiter=sep)
    header, line, yielded = None, 1, False
    rows, ragged = [], []
    for row in reader:
        if row and not (len(row) == 1 and not row[0].strip()):  # blank lines are skipped
            if header is None:
                header = row
            elif len(row) != len(header):
                ragged.append((line, len(row)))
            else:
                rows.append([field if field != "" else None for field in row])
        line = reader.line_num + 1  # where the next record starts
        if len(rows) >= size:
            yield _csv_frame(path, header, rows, ragged, sep)
            rows, yielded = [], True
    if header is None:
        raise DataError(f"{path}: the file is empty")
    if rows or ragged or not yielded:  # a header alone still names the columns
        yield _csv_frame(path, header, rows, ragged, sep)


def _csv_frame(path, header: list[str], rows: list[list], ragged: list, sep: str) -> pd.DataFrame:
    if ragged:
        what = "a tab" if sep == "\t" else "a comma"
        shown = ", ".join(f"line {n} has {k}" for n, k in ragged[:5]) + (" ..." if len(ragged) > 5 else "")
        raise DataError(
            f"{path}: {len(ragged)} rows do not have the header's {len(header)} fields ({shown}; file "
            f"line numbers); put double quotes around texts that contain {what} or fix those lines")
    return pd.DataFrame(rows, columns=header, dtype=object)


def _fault(value, text_columns: Sequence[str]) -> str:
    """What makes a JSON value unusable as a row ("" when it is a row)."""
    if not isinstance(value, dict):
        return f"holds a JSON {type(value).__name__}, not an object with named fields"
    for column in text_columns:
        if isinstance(value.get(column), (list, dict)):
            return f"holds a JSON {type(value[column]).__name__} in {column!r}, not a text"
    return ""


def _record(path, value, line: int, text_columns: Sequence[str]) -> dict:
    """One row; numbers and booleans in text columns become their JSON text (a review "5")."""
    if why := _fault(value, text_columns):
        raise DataError(f"{path}: line {line} {why}; write one object per row, e.g. "
                        "[{\"text\": \"...\", \"label\": \"...\"}, ...]")
    for column in text_columns:
        if isinstance(value.get(column), (int, float, bool)):
            value[column] = json.dumps(value[column])
    return value


def _json_lines(path, text: io.TextIOWrapper, bad_lines: list[int] | None,
                text_columns: Sequence[str]) -> Iterator[tuple[object, int]]:
    """(value, line number) of each non-blank line.

    A line that is not a JSON object is a row-level fault: its number goes to `bad_lines` and
    the line is skipped (one bad line in millions must not end a job), or, when `bad_lines` is
    None (`strict`), it stops the read naming the line.
    """
    seen = False
    for number, line in enumerate(text, start=1):
        if line.strip():
            seen = True
            try:
                value = json.loads(line)
            except json.JSONDecodeError as err:
                value, why = None, f"is not valid JSON ({err.msg})"
            else:
                why = _fault(value, text_columns)
            if not why:
                yield value, number
            elif bad_lines is None:
                raise DataError(f"{path}: line {number} {why}; fix or remove that line, or drop "
                                "--strict to skip such lines")
            else:
                bad_lines.append(number)
    if not seen:
        raise DataError(f"{path}: the file is empty")


def _json_values(path, text: io.TextIOWrapper) -> Iterator[tuple[object, int]]:
    """(value, line number) of each item of a JSON array, or of JSON lines, as the text streams in."""
    decoder, buffer, done, line, seen = json.JSONDecoder(), "", False, 1, False
    while not done:
        block = text.read(_BLOCK)
        done = not block
        seen = seen or bool(block.strip())
        buffer += block
        position = 0
        while True:
            while position < len(buffer) and buffer[position] in " \t\r\n,[]":
                position += 1
            if position == len(buffer):
                break
            try:
                value, end = decoder.raw_decode(buffer, position)
            except json.JSONDecodeError as err:
                if done:
                    at = line + buffer.count("\n", 0, err.pos)
                    raise DataError(f"{path}: not valid JSON at line {at} ({err.msg})") from err
                break  # the value continues in the next block
            yield value, line + buffer.count("\n", 0, position)
            position = end
        line += buffer.count("\n", 0, position)
        buffer = buffer[position:]
    if not seen:
        raise DataError(f"{path}: the file is empty")
