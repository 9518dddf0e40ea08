"""The folder of a labelling job: committed chunks, the job's identity, its lock, the join.

Each labelled chunk is committed as one folder `<start>-<end>/` (its predictions and counts)
under `.<output name>.parts/`, by a rename, so a kill -9 loses at most the chunk in flight.
The parts are joined into the output under a temporary name that is renamed into place: a
partial file never appears under the final name.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tfbert.base.errors import RunFolderError
from tfbert.base.files import write_json_atomic
from tfbert.labelling.columns import LABEL_SEPARATOR
from tfbert.labelling.config import LabelFileConfig

JOB_FILE = "job.json"


def parts_dir(output: Path) -> Path:
    return output.parent / f".{output.name}.parts"


def committed_parts(parts: Path) -> list[Path]:
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


def open_job(cfg: LabelFileConfig, job: dict) -> Path | None:
    """The parts folder to continue in, or None when the output is already complete."""
    output, parts = Path(cfg.output), parts_dir(Path(cfg.output))
    if cfg.overwrite:
        shutil.rmtree(parts, ignore_errors=True)
        output.unlink(missing_ok=True)
    saved = json.loads((parts / JOB_FILE).read_text()) if (parts / JOB_FILE).exists() else None
    if saved is not None and saved != job and not committed_parts(parts):  # nothing done to lose
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
def exclusive(output: Path) -> Iterator[None]:
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


def commit_part(parts: Path, start: int, stop: int, table: pd.DataFrame, meta: dict) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=parts))
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), tmp / "data.parquet")
    (tmp / "meta.json").write_text(json.dumps(meta, default=str), encoding="utf-8")
    os.replace(tmp, parts / f"{start:012d}-{stop:012d}")


def join_parts(parts: list[Path], output: Path) -> None:
    """Writes the parts as one file by the output's suffix, under a temporary name first."""
    suffix = output.suffix.lower()
    tmp = output.parent / f".{output.name}.tmp"
    try:
        _write_joined([p / "data.parquet" for p in parts], tmp, suffix)
    except BaseException:  # a full disk, a kill signal: no half file left behind
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, output)


def _write_joined(files: list[Path], tmp: Path, suffix: str) -> None:
    schema = pa.unify_schemas([pq.read_schema(f) for f in files], promote_options="permissive")
    if suffix == ".parquet":
        with pq.ParquetWriter(tmp, schema) as writer:
            for file in files:
                writer.write_table(pq.read_table(file).cast(schema))
    else:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            for i, file in enumerate(files):
                frame = pq.read_table(file).cast(schema).to_pandas()
                if suffix == ".csv" and "labels" in frame.columns:  # a label set in one field
                    frame["labels"] = frame["labels"].map(LABEL_SEPARATOR.join)
                if suffix == ".csv":
                    frame.to_csv(handle, header=i == 0, index=False)
                elif len(frame):
                    handle.write(frame.to_json(orient="records", lines=True, force_ascii=False)
                                 .rstrip("\n") + "\n")
