"""`python -m benchmarks.tasks.served_parity`: the export's answers against the run folder's.

Feeds the same held-out texts to a run's `Classifier` (Keras model, fast tokenizer) and to its
export's raw-text signature (in-graph tokenizer), and prints the largest difference of their
outputs (probabilities or scores) and how many answers (classes, label sets) differ.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

USAGE = """example:
    python -m benchmarks.tasks.served_parity --run saved_models/imdb-rating-full \\
        --texts ../shared/data/imdb/test.parquet --count 1000"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tasks.served_parity", description=__doc__,
                                     epilog=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, type=Path)
    parser.add_argument("--export", type=Path, help="default: the run's export/classifier/1")
    parser.add_argument("--texts", required=True, type=Path, help="a parquet file with a text column")
    parser.add_argument("--count", type=int, default=1000, help="the file's first this many texts")
    args = parser.parse_args(argv)
    from tfbert.cli.console import setup_logging, start_tensorflow

    setup_logging(False)
    start_tensorflow(False)
    from tfbert.predict import Classifier
    from tfbert.serving.exported import ExportedClassifier

    texts = pd.read_parquet(args.texts, columns=["text"])["text"].head(args.count).tolist()
    run = Classifier.from_run(args.run)
    export = ExportedClassifier(args.export or args.run / "export" / "classifier" / "1")
    ours, served = run.predict_outputs(texts), export.predict_outputs(texts)
    answers = [p.to_dict() for p in run.predict(texts)]
    served_answers = [p.to_dict() for p in export.predict(texts)]
    keys = [k for k in ("label", "labels") if k in answers[0]]
    differ = sum(a[k] != b[k] for a, b in zip(answers, served_answers, strict=True) for k in keys)
    print(f"{len(texts)} texts, task {run.task}: largest output difference "
          f"{float(np.abs(ours - served).max()):.2e}; answers that differ: {differ}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
