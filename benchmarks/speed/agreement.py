"""`python -m benchmarks.speed.agreement`: what the faster paths cost in accuracy, on a trained run.

The same labelled texts through the reference (transformers' own layers, float32) and the fast
encoder in float32 and bfloat16, in-process and through a bfloat16 export's raw-text signature:
accuracy of each, and how often each agrees with the reference's label.

    python -m benchmarks.speed.agreement --run saved_models/quickstart \\
        --data ../shared/data/imdb/test.parquet --texts 5000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd


def _export_probabilities(run: Path, texts: list[str], folder: Path, batch: int) -> np.ndarray:
    """The run exported in bfloat16 as export_run writes it, loaded back as TF Serving would."""
    import tensorflow as tf

    from tfbert.run_folder import open_run_folder
    from tfbert.serving.export import build_run_module, write_version

    run_folder = open_run_folder(run)
    module = build_run_module(run_folder, run_folder.config(), "bfloat16")
    signature = tf.saved_model.load(str(write_version(module, folder, 1, "classifier"))
                                    ).signatures["serving_default"]
    order = np.argsort([len(t) for t in texts], kind="stable")  # neighbours in length share batches
    out = None
    for start in range(0, len(texts), batch):
        rows = order[start:start + batch]
        probs = signature(text=tf.constant([texts[i] for i in rows]))["probabilities"].numpy()
        out = np.zeros((len(texts), probs.shape[1]), np.float32) if out is None else out
        out[rows] = probs
    return out


def measure(run: str, data: str, texts: int, seed: int, batch: int) -> tuple[dict, int]:
    """Accuracy and agreement with the reference of every path, on `texts` shuffled rows."""
    from tfbert.model import build_model, load_tokenizer
    from tfbert.predict import Classifier
    from tfbert.run_folder import open_run_folder

    frame = pd.read_parquet(data).sample(frac=1.0, random_state=seed).iloc[:texts]
    folder = open_run_folder(run)
    model, tokenizer = build_model(str(folder.path)), load_tokenizer(str(folder.path))
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    truth = np.array([names.index(v) if isinstance(v, str) else int(v) for v in frame["label"]])
    listed = frame["text"].tolist()
    paths = {"reference float32 (transformers' layers)": ("float32", False),
             "fast encoder float32": ("float32", True), "fast encoder bfloat16": ("bfloat16", True)}
    probabilities = {}
    for name, (dtype, fast) in paths.items():
        classifier = Classifier(model, tokenizer, folder.config().data, batch, folder.temperature(),
                                compute_dtype=dtype, fast_encoder=fast)
        probabilities[name] = classifier.predict_proba(listed)
    with tempfile.TemporaryDirectory(prefix="tfbert-agreement-") as tmp:
        probabilities["export bfloat16, raw text"] = _export_probabilities(folder.path, listed,
                                                                           Path(tmp), batch)
    reference = probabilities["reference float32 (transformers' layers)"]
    table = {}
    for name, probs in probabilities.items():
        diff = np.abs(probs - reference)
        table[name] = {"accuracy": float((probs.argmax(1) == truth).mean()),
                       "agreement": float((probs.argmax(1) == reference.argmax(1)).mean()),
                       "max_probability_difference": float(diff.max()),
                       "mean_probability_difference": float(diff.mean())}
    return table, len(frame)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed.agreement", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a single-label run folder written by train.py")
    parser.add_argument("--data", required=True, help="parquet with text and label columns")
    parser.add_argument("--texts", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    from tfbert.cli.console import setup_logging, start_tensorflow

    setup_logging()
    start_tensorflow()
    table, n = measure(args.run, args.data, args.texts, args.seed, args.batch_size)
    reference = table["reference float32 (transformers' layers)"]["accuracy"]
    print(f"{args.run} on {n} texts of {args.data}\n")
    print("| path | accuracy | Δ accuracy | labels as the reference | max / mean Δ probability |")
    print("|---|---|---|---|---|")
    for name, row in table.items():
        print(f"| {name} | {row['accuracy']:.4f} | {row['accuracy'] - reference:+.4f} | "
              f"{row['agreement']:.2%} | {row['max_probability_difference']:.4f} / "
              f"{row['mean_probability_difference']:.5f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
