"""`python -m benchmarks.labelling.label_file`: labelling a parquet file against `Classifier.predict`
in memory.

Both use one loaded classifier in one process, so only the path differs: all texts held in memory
and sorted by length at once, or the file streamed in chunks with every chunk committed to disk.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tfbert.cli.console import setup_logging, start_tensorflow


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.labelling.label_file", description=__doc__)
    parser.add_argument("--run", required=True, help="run folder written by train.py")
    parser.add_argument("--data", required=True, help="parquet file with a text column")
    parser.add_argument("--id-column", default=None)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    setup_logging()
    start_tensorflow()
    from tfbert.labelling.config import LabelFileConfig
    from tfbert.labelling.file_job import predict_file
    from tfbert.predict import Classifier

    classifier = Classifier.from_run(args.run, batch_size=args.batch_size)
    texts = pd.read_parquet(args.data, columns=["text"])["text"].tolist()
    classifier.predict_proba(texts[:64])  # warm-up: graph tracing, untimed
    start = time.perf_counter()
    in_memory = classifier.predict_proba(texts)
    memory_seconds = time.perf_counter() - start
    with tempfile.TemporaryDirectory(prefix="tfbert-label-") as tmp:
        output = Path(tmp) / "labels.parquet"
        start = time.perf_counter()
        summary = predict_file(classifier, LabelFileConfig(args.data, str(output), id_column=args.id_column),
                               "benchmark")
        file_seconds = time.perf_counter() - start
        labelled = pd.read_parquet(output)
    streamed = labelled[[c for c in labelled.columns if c.startswith("prob_")]].to_numpy()
    same = (streamed.argmax(1) == in_memory.argmax(1)).mean()
    print(f"{len(texts):,} texts, batch {args.batch_size}, run {args.run}")
    print(f"Classifier.predict, in memory: {memory_seconds:.1f} s, {len(texts) / memory_seconds:.1f} texts/s")
    print(f"predict_file, parquet -> parquet: {file_seconds:.1f} s, {summary.labelled / file_seconds:.1f} "
          f"texts/s ({summary.describe()})")
    print(f"file / in memory throughput: {memory_seconds / file_seconds:.3f}; labels identical: {same:.4%}; "
          f"max probability difference {np.abs(streamed - in_memory).max():.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
