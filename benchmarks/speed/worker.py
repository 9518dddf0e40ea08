"""The worker side of one benchmark row: read the spec and the sample, record batches, write results."""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.speed.flops import BatchStats
from benchmarks.speed.timing import peak_rss_mb

# The PyTorch worker imports this module: it must not import TensorFlow or tfbert.


def read_sample(sample: dict) -> tuple[pd.DataFrame, pd.DataFrame, tuple[str, ...]]:
    """The training pool, the held-out sample and the label names that `sample.write_sample` handed over."""
    return pd.read_parquet(sample["train"]), pd.read_parquet(sample["eval"]), tuple(sample["labels"])


def dataset_batches(dataset: Iterable) -> list[list[int]]:
    """The shape figures of every `(features, labels)` batch of one pass of a `tf.data` dataset."""
    return [BatchStats.from_mask(features["attention_mask"].numpy()).as_list()
            for features, _ in dataset]


class RecordingCollator:
    """Wraps a data collator and notes every batch it builds, in order.

    Loaders consume batches first in, first out, so the i-th recorded batch is the i-th one
    the model trained on, whatever was prefetched after it.
    """

    def __init__(self, collate: Callable) -> None:
        self.collate = collate
        self.batches: list[list[int]] = []

    def __call__(self, features: Any, *args: Any, **kwargs: Any) -> Any:
        batch = self.collate(features, *args, **kwargs)
        mask = batch["attention_mask"]
        self.batches.append(BatchStats.from_mask(mask.numpy() if hasattr(mask, "numpy") else mask).as_list())
        return batch


def worker_main(measure: Callable[[dict], dict], prog: str, argv: list[str] | None = None) -> int:
    """`python -m benchmarks.<kind>_worker SPEC OUT`: measures one row and writes its JSON to OUT.

    Args:
        measure: the row's measurement, from the spec (`cfg`, `row`, `sample`) to raw figures.
        prog: the command's name in its usage line.
        argv: the arguments (default: the command line).
    """
    parser = argparse.ArgumentParser(prog=prog, description="Measures one benchmark row (started by "
                                     "`python -m benchmarks.speed`, each row in a process of its own).")
    parser.add_argument("spec", help="JSON file: settings, the row, the sample's files")
    parser.add_argument("out", help="JSON file to write the raw figures to")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    spec = json.loads(Path(args.spec).read_text(encoding="utf-8"))
    started = time.monotonic()
    result = measure(spec)
    result.update(status="ok", peak_rss_mb=peak_rss_mb(), seconds=time.monotonic() - started)
    tmp = Path(args.out).with_suffix(".tmp")
    tmp.write_text(json.dumps(result), encoding="utf-8")
    os.replace(tmp, args.out)
    return 0
