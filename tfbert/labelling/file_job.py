"""Labelling a large file: read in chunks, resumable after any crash, written atomically.

Chunks are committed one by one into the job's folder (`job_folder`); running the same command
again continues after the last committed row.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import json
import logging
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tfbert.base.errors import DataError, RunFolderError, is_disk_full
from tfbert.labelling.columns import ROW_COLUMN, check_text_columns, output_columns
from tfbert.labelling.config import LABEL_OUTPUT_TYPES, LabelFileConfig
from tfbert.labelling.job_folder import commit_part, committed_parts, exclusive, join_parts, open_job
from tfbert.prediction import answer_columns
from tfbert.tables import Utf8Counter, count_rows, iter_table
from tfbert.tasks.head import TaskHead, single_label_head

log = logging.getLogger(__name__)

SKIP_REASONS = ("missing text", "empty text")
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
    bad_lines: list[int] = field(default_factory=list)  # JSON lines skipped: the first few
    bad_line_count: int = 0
    last_bad_line: int = 0  # file line of the last one counted: a resumed job counts after it
    seconds: float = 0.0
    already_complete: bool = False  # an earlier run finished the output

    def add(self, part: dict) -> None:
        self.rows_read += part["rows"]
        self.labelled += part["labelled"]
        for reason, count in part["skipped"].items():
            self.skipped[reason] += count
        self.skipped_ids = (self.skipped_ids + part["skipped_ids"])[:10]
        self.invalid_utf8 += part["invalid_utf8"]
        self.add_bad_lines(part.get("bad_lines", []), part.get("bad_line_count", 0))
        self.last_bad_line = max(self.last_bad_line, part.get("last_bad_line", 0))

    def add_bad_lines(self, first: list[int], count: int) -> None:
        self.bad_lines = (self.bad_lines + first)[:10]
        self.bad_line_count += count

    def describe(self) -> str:
        why = ", ".join(f"{n} {reason}" for reason, n in self.skipped.items() if n) or "none"
        ids = f" (ids {', '.join(map(str, self.skipped_ids))})" if self.skipped_ids else ""
        utf8 = (f"; {self.invalid_utf8} invalid UTF-8 byte sequences replaced with U+FFFD"
                if self.invalid_utf8 else "")
        bad = (f"; {self.bad_line_count:,} malformed JSON lines skipped (file lines "
               f"{', '.join(map(str, self.bad_lines))}{' ...' if self.bad_line_count > 10 else ''})"
               if self.bad_line_count else "")
        return (f"{self.rows_read:,} rows read, {self.labelled:,} labelled, "
                f"{sum(self.skipped.values()):,} skipped: {why}{ids}{utf8}{bad} -> {self.output}")


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
    predict = getattr(classifier, "predict_outputs", None) or classifier.predict_proba
    outputs = predict(list(columns[0][keep]), pairs, on_batch=on_batch) \
        if keep.any() else np.zeros((0, len(classifier.label_names)), np.float32)
    table = pd.DataFrame({cfg.id_column or ROW_COLUMN: ids.to_numpy()[keep],
                          **answer_columns(_head(classifier), outputs)})
    if getattr(classifier, "windowed", False):  # how many windows each text was read in
        table["windows"] = classifier.last_windows if keep.any() else np.zeros(0, np.int64)
    for column in cfg.keep_columns:
        table[column] = frame[column].to_numpy()[keep]
    skipped_ids = ids.to_numpy()[~keep][:10].tolist()
    meta = {"rows": len(frame), "labelled": int(keep.sum()),
            "skipped": {"missing text": int(missing.sum()), "empty text": int(empty.sum())},
            "skipped_ids": skipped_ids, "invalid_utf8": utf8.count - utf8_before}
    return table, meta


def _head(classifier) -> TaskHead:
    """What the classifier's outputs mean; one with only `predict_proba` and `label_names`
    (the contract before regression and multi-label) is single-label."""
    return getattr(classifier, "head", None) or single_label_head(classifier.label_names)


def predict_file(classifier, cfg: LabelFileConfig, model_key: str) -> LabelSummary:
    """Labels `cfg.input` chunk by chunk into `cfg.output`, continuing an interrupted job.

    Args:
        classifier: anything with `predict_outputs(texts, text_pairs, on_batch=...)`, `head`
            and `label_names` (a run's `Classifier` or an `ExportedClassifier`; `is_pair` if
            it reads pairs), or, single-label, `predict_proba` and `label_names`; `on_batch`
            drives the progress line.
        cfg: the file, its columns and the output.
        model_key: identifies the model, so a job is never continued with another one.
    Raises:
        DataError: unreadable input, missing columns, or a bad row under `strict`.
        RunFolderError: the output exists, or an unfinished job has other settings.
    """
    started = time.monotonic()
    source, output = Path(cfg.input), Path(cfg.output)
    check_job(cfg)
    task = _head(classifier).task
    output_columns(cfg.id_column, classifier.label_names, cfg.keep_columns, task,
                   getattr(classifier, "windowed", False))
    check_text_columns(getattr(classifier, "is_pair", False), cfg.text_pair_column is not None)
    stat = source.stat()
    job = {"input": str(source.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
           "text_column": cfg.text_column, "text_pair_column": cfg.text_pair_column,
           "id_column": cfg.id_column,
           "keep_columns": list(cfg.keep_columns), "model": model_key,
           "labels": list(classifier.label_names), "task": task}
    summary = LabelSummary(output)
    try:
        with exclusive(output):
            parts = open_job(cfg, job)
            if parts is None:
                summary.already_complete = True
                return summary
            _label_rows(classifier, cfg, parts, summary)
            join_parts(committed_parts(parts), output)
            shutil.rmtree(parts)
    except OSError as err:  # reading errors are DataErrors by now: this is the output's side
        raise RunFolderError(_write_failure(output, err)) from err
    summary.seconds = time.monotonic() - started
    return summary


def check_job(cfg: LabelFileConfig) -> None:
    """Refuses an input without a usable first row, or an output that is a folder.

    Cheap (the first row only), so a command can call it before it spends time loading a model.
    """
    source, output = Path(cfg.input), Path(cfg.output)
    if not source.is_file():
        raise DataError(f"input file {source} does not exist")
    if output.is_dir():
        raise RunFolderError(f"--output {output} is a folder; name a file in it, e.g. "
                             f"{output / ('labels' + LABEL_OUTPUT_TYPES[0])}")
    count_rows(source)  # a parquet file's footer
    first = next(iter_table(source, _input_columns(cfg), 1, strict=cfg.strict,
                            text_columns=_text_columns(cfg), column_hint=COLUMN_HINT), None)
    if first is None or not len(first):
        raise DataError(f"{source}: no rows to label")


def _input_columns(cfg: LabelFileConfig) -> list[str]:
    return list(dict.fromkeys([*_text_columns(cfg), *filter(None, [cfg.id_column]),
                               *cfg.keep_columns]))


def _write_failure(output: Path, err: OSError) -> str:
    where = err.filename or output
    if is_disk_full(err):
        return (f"no space left while writing {where}; free some space on that disk and run the "
                "same command again: it continues after the last committed chunk")
    return f"cannot write {where} ({err.strerror}); choose an --output in a folder you can write"


def _label_rows(classifier, cfg: LabelFileConfig, parts: Path, summary: LabelSummary) -> None:
    """Labels the rows after the last committed chunk, committing one chunk at a time."""
    source = Path(cfg.input)
    done = committed_parts(parts)
    for part in done:
        summary.add(json.loads((part / "meta.json").read_text()))
    start = int(done[-1].name.split("-")[1]) if done else 0
    if start:
        log.info("continuing after row %d (%d chunks already labelled)", start, len(done))
    progress = _Progress(count_rows(source), start)
    utf8 = Utf8Counter()
    columns = _input_columns(cfg)
    before, bad = 0, _NewBadLines(utf8.bad_lines, summary.last_bad_line)
    chunks = iter_table(source, columns, cfg.chunk_rows, start=start, strict=cfg.strict, utf8=utf8,
                        text_columns=_text_columns(cfg), column_hint=COLUMN_HINT)
    for frame in chunks:
        if not len(frame):
            continue
        # Progress moves with every model batch: a chunk can take minutes on a CPU.
        table, meta = _label_chunk(frame.reset_index(drop=True), start, classifier, cfg, before, utf8,
                                   progress.update)
        before = utf8.count
        meta["bad_lines"], meta["bad_line_count"], meta["last_bad_line"] = bad.take()
        commit_part(parts, start, start + len(frame), table, meta)
        summary.add(meta)
        start += len(frame)
        progress.update(len(frame) - meta["labelled"])  # the skipped rows are done too
        del frame, table
        _return_freed_memory()
    progress.update(0, final=True)
    summary.add_bad_lines(*bad.take()[:2])  # lines after the last committed row
    if not start:
        raise DataError(f"{source}: no rows to label" + (
            f" ({summary.bad_line_count} malformed JSON lines, e.g. line "
            f"{summary.bad_lines[0]})" if summary.bad_line_count else ""))


class _NewBadLines:
    """The malformed lines met since the last chunk, without those a resumed job counted."""

    def __init__(self, found: list[int], last_counted: int):
        self.found, self.seen, self.last = found, 0, last_counted

    def take(self) -> tuple[list[int], int, int]:
        new = [n for n in self.found[self.seen:] if n > self.last]
        self.seen = len(self.found)
        self.last = max([self.last, *new])
        return new[:10], len(new), self.last
