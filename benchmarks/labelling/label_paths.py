"""`python -m benchmarks.labelling.label_paths`: does file labelling gain what in-memory predict gains?

One run, one process, three forward paths over the same rows: transformers' own layers in float32
(what every command ran before the fast encoder), the fast encoder in float32 and in the compute
dtype `auto` picks on this CPU. Each path labels the rows in memory (`Classifier.predict_proba`)
and streamed from a parquet file to a parquet file (`predict_file`, as predict.py `--input`
runs it). The paths take turns, round after round, so the CPU's drift hits them alike; the
report gives texts/s per path and each path's factor over the reference, in memory and on files.

    python -m benchmarks.labelling.label_paths --run saved_models/quickstart \\
        --data ../shared/data/imdb/test.parquet --rows 4000 --rounds 2
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


def _classifiers(run: str, batch_size: int) -> dict:
    """Reference float32, fast float32 and fast `auto` classifiers sharing one loaded model."""
    from tfbert.model import build_model, load_tokenizer, output_names
    from tfbert.predict import Classifier
    from tfbert.run_folder import open_run_folder

    folder = open_run_folder(run)
    model = build_model(str(folder.path))
    tokenizer, data = load_tokenizer(str(folder.path)), folder.config().data
    head = folder.task_head(output_names(model))
    paths = {"reference float32": ("float32", False), "fast float32": ("float32", True),
             "fast auto": ("auto", True)}
    return {name: Classifier(model, tokenizer, data, batch_size, folder.temperature(), head,
                             compute_dtype=dtype, fast_encoder=fast)
            for name, (dtype, fast) in paths.items()}


def _time_file(classifier, source: Path, folder: Path, name: str) -> tuple[float, np.ndarray]:
    from tfbert.labelling.config import LabelFileConfig
    from tfbert.labelling.file_job import predict_file

    output = folder / f"{name.replace(' ', '-')}-{time.monotonic_ns()}.parquet"
    start = time.perf_counter()
    predict_file(classifier, LabelFileConfig(str(source), str(output)), name)
    seconds = time.perf_counter() - start
    labelled = pd.read_parquet(output)
    return seconds, labelled[[c for c in labelled.columns if c.startswith("prob_")]].to_numpy()


def measure(run: str, data: str, rows: int, rounds: int, batch_size: int) -> dict:
    """Seconds per round of every path, in memory and on files, and their labels."""
    classifiers = _classifiers(run, batch_size)
    texts = pd.read_parquet(data, columns=["text"])["text"].iloc[:rows]
    seconds = {name: {"memory": [], "file": []} for name in classifiers}
    labels = {}
    with tempfile.TemporaryDirectory(prefix="tfbert-label-paths-") as tmp:
        source = Path(tmp) / "input.parquet"
        texts.to_frame().to_parquet(source)
        listed = texts.tolist()
        for classifier in classifiers.values():
            classifier.predict_proba(listed[:64])  # traces the functions, untimed
        names = list(classifiers)
        for index in range(rounds):
            for name in names[index % len(names):] + names[:index % len(names)]:
                start = time.perf_counter()
                in_memory = classifiers[name].predict_proba(listed)
                seconds[name]["memory"].append(time.perf_counter() - start)
                file_seconds, streamed = _time_file(classifiers[name], source, Path(tmp), name)
                seconds[name]["file"].append(file_seconds)
                labels[name] = (in_memory.argmax(1), streamed.argmax(1))
    return {"rows": len(listed), "seconds": seconds, "labels": labels,
            "auto_dtype": classifiers["fast auto"].compute_dtype}


def format_report(result: dict) -> str:
    """Texts/s per path and factor over the reference (median of per-round ratios)."""
    rows, seconds = result["rows"], result["seconds"]
    reference = seconds["reference float32"]
    lines = ["| path | in memory texts/s | on files texts/s | in memory ÷ reference | "
             "on files ÷ reference | files ÷ memory | labels: file = memory, = reference |",
             "|---|---|---|---|---|---|---|"]
    ref_labels = result["labels"]["reference float32"][0]
    for name, times in seconds.items():
        memory, file = np.array(times["memory"]), np.array(times["file"])
        over_memory = np.median(np.array(reference["memory"]) / memory)
        over_file = np.median(np.array(reference["file"]) / file)
        mem_labels, file_labels = result["labels"][name]
        lines.append(f"| {name} | {rows / np.median(memory):.1f} | {rows / np.median(file):.1f} | "
                     f"{over_memory:.2f}× | {over_file:.2f}× | {np.median(memory / file):.2f} | "
                     f"{(mem_labels == file_labels).mean():.2%}, "
                     f"{(mem_labels == ref_labels).mean():.2%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.labelling.label_paths",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="run folder written by train.py")
    parser.add_argument("--data", required=True, help="parquet file with a text column")
    parser.add_argument("--rows", type=int, default=4000, help="the file's first rows")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    if args.rows < 1 or args.rounds < 1:
        parser.error("--rows and --rounds must be at least 1")
    setup_logging()
    start_tensorflow()
    result = measure(args.run, args.data, args.rows, args.rounds, args.batch_size)
    print(f"{result['rows']:,} texts of {args.data}, batch {args.batch_size}, run {args.run}, "
          f"{args.rounds} rounds; 'fast auto' computes in {result['auto_dtype']} here")
    print(format_report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
