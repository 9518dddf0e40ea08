"""Labelling a large file: read in chunks, resumable after any crash, written atomically.

Each labelled chunk is committed as one folder `<start>-<end>/` (its predictions and counts)
under `.<output name>.parts/`, by a rename, so a kill -9 loses at most the chunk in flight.
Running the same command again continues after the last committed row. The parts are joined
into the output under a temporary name that is renamed into place: a partial file never
appears under the final name.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import functools
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tfbert.errors import DataError, RunFolderError
from tfbert.files import write_json_atomic
from tfbert.labelling.columns import ROW_COLUMN, check_text_columns, output_columns
from tfbert.labelling.config import LabelFileConfig
from tfbert.tables import Utf8Counter, count_rows, iter_table

log = logging.getLogger(__name__)

SKIP_REASONS = ("missing text", "empty text")
JOB_FILE = "job.json"
COLUMN_HINT = "choose them with --text-column / --id-column / --keep-columns"


@dataclass
class LabelSummary:
    """What a labelling job did, summed over every run that worked on it."""

    output: Path
    rows_read: int = 0
    labelled: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SKIP_REASONS, 0))
    skipped_ids: list = field(default_factory=list)  # the first few, to look them up
    invalid_utf8: int = 0  # byte sequences replaced with U+FFFD (the rows are labelled)
    seconds: float = 0.0
    already_complete: bool = False  # an earlier run finished the output

    def add(self, part: dict) -> None:
        self.rows_read += part["rows"]
        self.labelled += part["labelled"]
        for reason, count in part["skipped"].items():
            self.skipped[reason] += count
        self.skipped_ids = (self.skipped_ids + part["skipped_ids"])[:10]
        self.invalid_utf8 += part["invalid_utf8"]

    def describe(self) -> str:
        why = ", ".join(f"{n} {reason}" for reason, n in self.skipped.items() if n) or "none"
        ids = f" (ids {', '.join(map(str, self.skipped_ids))})" if self.skipped_ids else ""
        utf8 = (f"; {self.invalid_utf8} invalid UTF-8 byte sequences replaced with U+FFFD"
                if self.invalid_utf8 else "")
        return (f"{self.rows_read:,} rows read, {self.labelled:,} labelled, "
                f"{sum(self.skipped.values()):,} skipped: {why}{ids}{utf8} -> {self.output}")


# ---------------------------------------------------------------------------- the job folder


def _parts_dir(output: Path) -> Path:
    return output.parent / f".{output.name}.parts"


def _committed(parts: Path) -> list[Path]:
    """Committed chunk folders in row order; each starts where the previous one ended."""
    found = sorted(p for p in parts.iterdir() if p.is_dir() and not p.name.startswith("."))
    end = 0
    for part in found:
        start, stop = map(int, part.name.split("-"))
        if start != end:
            raise RunFolderError(f"{parts}: chunk {part.name} does not follow row {end}; "
                                 "remove the folder to label the file from the start")
        end = stop
    return found


def _open_job(cfg: LabelFileConfig, job: dict) -> Path | None:
    """The parts folder to continue in, or None when the output is already complete."""
    output, parts = Path(cfg.output), _parts_dir(Path(cfg.output))
    if cfg.overwrite:
        shutil.rmtree(parts, ignore_errors=True)
        output.unlink(missing_ok=True)
    saved = json.loads((parts / JOB_FILE).read_text()) if (parts / JOB_FILE).exists() else None
    if saved is not None and saved != job and not _committed(parts):  # nothing done to lose
        shutil.rmtree(parts)
        saved = None
    if saved is not None and saved != job:
        raise RunFolderError(
            f"{parts} holds an unfinished job with other settings or another input/model "
            f"({', '.join(k for k in job if saved.get(k) != job[k])} differ); pass --overwrite "
            "to start again or choose another --output")
    if output.exists() and saved is None:
        raise RunFolderError(f"{output} exists; pass --overwrite to label the file again")
    if output.exists():  # joined, but killed before the clean-up
        shutil.rmtree(parts)
        return None
    parts.mkdir(parents=True, exist_ok=True)
    for stale in parts.glob(".tmp-*"):  # a chunk being written when the process died
        shutil.rmtree(stale, ignore_errors=True)
    write_json_atomic(parts / JOB_FILE, job)
    return parts


@contextlib.contextmanager
def _exclusive(output: Path) -> Iterator[None]:
    """Holds `.<output name>.lock` beside the output while a job works on it.

    A second job on the same output (two overlapping cron runs) stops at once instead of
    racing on the parts folder. The lock is the kernel's (`flock`): a job killed with -9 drops
    it with its process, so nothing is left stuck and a rerun resumes.
    """
    lock = output.parent / f".{output.name}.lock"
    output.parent.mkdir(parents=True, exist_ok=True)
    while True:
        handle = open(lock, "a+")  # noqa: SIM115 (held open until the job ends)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise RunFolderError(f"{output} is being written by another labelling job that is "
                                 f"still running (it holds {lock}); wait for it to end, or "
                                 "choose another --output") from None
        if lock.exists() and os.stat(lock).st_ino == os.fstat(handle.fileno()).st_ino:
            break  # not a lock file that the job before us removed just now
        handle.close()
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)  # removed while held: the next job makes a new one
        handle.close()


def _commit(parts: Path, start: int, stop: int, table: pd.DataFrame, meta: dict) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=parts))
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), tmp / "data.parquet")
    (tmp / "meta.json").write_text(json.dumps(meta, default=str), encoding="utf-8")
    os.replace(tmp, parts / f"{start:012d}-{stop:012d}")


def _join(parts: list[Path], output: Path) -> None:
    """Writes the parts as one file by the output's suffix, under a temporary name first."""
    suffix = output.suffix.lower()
    tmp = output.parent / f".{output.name}.tmp"
    files = [p / "data.parquet" for p in parts]
    schema = pa.unify_schemas([pq.read_schema(f) for f in files], promote_options="permissive")
    if suffix == ".parquet":
        with pq.ParquetWriter(tmp, schema) as writer:
            for file in files:
                writer.write_table(pq.read_table(file).cast(schema))
    else:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            for i, file in enumerate(files):
                frame = pq.read_table(file).cast(schema).to_pandas()
                if suffix == ".csv":
                    frame.to_csv(handle, header=i == 0, index=False)
                elif len(frame):
                    handle.write(frame.to_json(orient="records", lines=True, force_ascii=False)
                                 .rstrip("\n") + "\n")
    os.replace(tmp, output)


# ---------------------------------------------------------------------------- the job


class _Progress:
    """One line on stderr: texts done, texts/s and time left (rewritten in place on a terminal)."""

    def __init__(self, total: int | None, done: int):
        self.total, self.done, self.first = total, done, done
        self.start = self.last = time.monotonic()
        self.tty = sys.stderr.isatty()

    def update(self, rows: int, final: bool = False) -> None:
        self.done += rows
        now = time.monotonic()
        if not final and now - self.last < (1 if self.tty else 30):
            return
        self.last = now
        rate = (self.done - self.first) / max(now - self.start, 1e-9)
        line = f"labelled {self.done:,}"
        if self.total:
            left = (self.total - self.done) / rate if rate else float("inf")
            line += f"/{self.total:,} rows ({self.done / self.total:.0%}), {rate:,.0f} texts/s, "
            line += f"{left:,.0f} s left" if np.isfinite(left) else "time left unknown"
        else:
            line += f" rows, {rate:,.0f} texts/s"
        print(("\r" if self.tty else "") + line, end="\n" if final or not self.tty else "",
              file=sys.stderr, flush=True)


@functools.cache
def _malloc_trim():
    """glibc's `malloc_trim`, or None on other C libraries."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def _return_freed_memory() -> None:
    """Hands the heap pages freed by a chunk back to the system.

    glibc keeps freed pages for reuse; after a chunk of model calls that was tens of MB the
    process no longer used (docs/labelling.md), and it added up over a long file.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _text_columns(cfg: LabelFileConfig) -> list[str]:
    return [cfg.text_column, *filter(None, [cfg.text_pair_column])]


def _label_chunk(frame: pd.DataFrame, start: int, classifier, cfg: LabelFileConfig,
                 utf8_before: int, utf8: Utf8Counter, on_batch) -> tuple[pd.DataFrame, dict]:
    ids = frame[cfg.id_column] if cfg.id_column else pd.Series(np.arange(start, start + len(frame)))
    columns = [frame[c].to_numpy() for c in _text_columns(cfg)]  # one, or a pair's two
    missing = np.logical_or.reduce([[not isinstance(t, str) for t in c] for c in columns])
    empty = ~missing & np.logical_or.reduce([[isinstance(t, str) and not t.strip() for t in c]
                                             for c in columns])
    if cfg.strict and (missing.any() or empty.any()):
        row = start + int(np.flatnonzero(missing | empty)[0])
        raise DataError(f"{cfg.input}: row {row} (from 0) has {'no' if missing.any() else 'an empty'} "
                        "text; fix it or drop --strict to skip such rows")
    keep = ~(missing | empty)
    pairs = list(columns[1][keep]) if len(columns) == 2 else None
    probabilities = classifier.predict_proba(list(columns[0][keep]), pairs, on_batch=on_batch) \
        if keep.any() else np.zeros((0, len(classifier.label_names)), np.float32)
    best = probabilities.argmax(axis=-1) if len(probabilities) else np.zeros((0,), np.int64)
    table = pd.DataFrame({cfg.id_column or ROW_COLUMN: ids.to_numpy()[keep],
                          "label": np.asarray(classifier.label_names, dtype=object)[best],
                          "label_id": best.astype(np.int32)})
    for i, name in enumerate(classifier.label_names):
        table[f"prob_{name}"] = probabilities[:, i]
    for column in cfg.keep_columns:
        table[column] = frame[column].to_numpy()[keep]
    skipped_ids = ids.to_numpy()[~keep][:10].tolist()
    meta = {"rows": len(frame), "labelled": int(keep.sum()),
            "skipped": {"missing text": int(missing.sum()), "empty text": int(empty.sum())},
            "skipped_ids": skipped_ids, "invalid_utf8": utf8.count - utf8_before}
    return table, meta


def predict_file(classifier, cfg: LabelFileConfig, model_key: str) -> LabelSummary:
    """Labels `cfg.input` chunk by chunk into `cfg.output`, continuing an interrupted job.

    Args:
        classifier: anything with `predict_proba(texts, text_pairs, on_batch=...)` and
            `label_names` (a run's `Classifier` or an `ExportedClassifier`; `is_pair` if it
            reads pairs); `on_batch` drives the progress line.
        cfg: the file, its columns and the output.
        model_key: identifies the model, so a job is never continued with another one.
    Raises:
        DataError: unreadable input, missing columns, or a bad row under `strict`.
        RunFolderError: the output exists, or an unfinished job has other settings.
    """
    started = time.monotonic()
    source, output = Path(cfg.input), Path(cfg.output)
    if not source.is_file():
        raise DataError(f"input file {source} does not exist")
    output_columns(cfg.id_column, classifier.label_names, cfg.keep_columns)
    check_text_columns(getattr(classifier, "is_pair", False), cfg.text_pair_column is not None)
    stat = source.stat()
    job = {"input": str(source.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
           "text_column": cfg.text_column, "text_pair_column": cfg.text_pair_column,
           "id_column": cfg.id_column,
           "keep_columns": list(cfg.keep_columns), "model": model_key,
           "labels": list(classifier.label_names)}
    summary = LabelSummary(output)
    with _exclusive(output):
        parts = _open_job(cfg, job)
        if parts is None:
            summary.already_complete = True
            return summary
        _label_rows(classifier, cfg, parts, summary)
        _join(_committed(parts), output)
        shutil.rmtree(parts)
    summary.seconds = time.monotonic() - started
    return summary


def _label_rows(classifier, cfg: LabelFileConfig, parts: Path, summary: LabelSummary) -> None:
    """Labels the rows after the last committed chunk, committing one chunk at a time."""
    source = Path(cfg.input)
    done = _committed(parts)
    for part in done:
        summary.add(json.loads((part / "meta.json").read_text()))
    start = int(done[-1].name.split("-")[1]) if done else 0
    if start:
        log.info("continuing after row %d (%d chunks already labelled)", start, len(done))
    progress = _Progress(count_rows(source), start)
    utf8 = Utf8Counter()
    columns = list(dict.fromkeys([*_text_columns(cfg), *filter(None, [cfg.id_column]),
                                  *cfg.keep_columns]))
    before = 0
    chunks = iter_table(source, columns, cfg.chunk_rows, start=start, strict=cfg.strict, utf8=utf8,
                        text_columns=_text_columns(cfg), column_hint=COLUMN_HINT)
    for frame in chunks:
        if not len(frame):
            continue
        # Progress moves with every model batch: a chunk can take minutes on a CPU.
        table, meta = _label_chunk(frame.reset_index(drop=True), start, classifier, cfg, before, utf8,
                                   progress.update)
        before = utf8.count
        _commit(parts, start, start + len(frame), table, meta)
        summary.add(meta)
        start += len(frame)
        progress.update(len(frame) - meta["labelled"])  # the skipped rows are done too
        del frame, table
        _return_freed_memory()
    progress.update(0, final=True)
    if not start:
        raise DataError(f"{source}: no rows to label")
