"""`python -m benchmarks.speed.export_dtypes`: a run exported in float32 and in bfloat16, side by side.

Latency at batch 1 (p50/p99) and throughput at batch 32 through the raw-text signature, timed
interleaved so that neither export meets the machine in a different state, and how far the two
agree (labels, probabilities) on a sample of texts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.speed.serving import time_interleaved
from tfbert.cli.console import setup_logging, start_tensorflow


def _export(run: Path, dtype: str, base: Path, max_length: int | None):
    """The run's serving module built as export_run does, written and loaded back as TF Serving would."""
    import tensorflow as tf

    from tfbert.model import precision_policy
    from tfbert.run_folder import open_run_folder
    from tfbert.serving.export import build_run_module, write_version

    folder = open_run_folder(run)
    module = build_run_module(folder, folder.config(), dtype, max_length=max_length)
    with precision_policy(dtype):
        path = write_version(module, base / dtype, 1, "classifier")
    return tf.saved_model.load(str(path)).signatures["serving_default"]


def _probabilities(signature, texts: list[str], batch: int) -> np.ndarray:
    import tensorflow as tf

    order = np.argsort([len(t) for t in texts], kind="stable")
    out = np.zeros((len(texts), 0), np.float32)
    for start in range(0, len(texts), batch):
        rows = order[start:start + batch]
        probs = signature(text=tf.constant([texts[i] for i in rows]))["probabilities"].numpy()
        if out.shape[1] == 0:
            out = np.zeros((len(texts), probs.shape[1]), np.float32)
        out[rows] = probs
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed.export_dtypes", description=__doc__)
    parser.add_argument("--run", required=True, help="run folder written by train.py")
    parser.add_argument("--data", required=True, help="parquet file with a text column")
    parser.add_argument("--agreement-texts", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=200, help="batch-1 requests per export")
    parser.add_argument("--batches", type=int, default=20, help="batch-32 requests per export")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-length", type=int, default=None,
                        help="tokens read per text (default: the run's own; latency grows with it)")
    args = parser.parse_args(argv)
    setup_logging()
    start_tensorflow()
    import tensorflow as tf

    texts = pd.read_parquet(args.data, columns=["text"])["text"].sample(
        frac=1.0, random_state=args.seed).tolist()
    with tempfile.TemporaryDirectory(prefix="tfbert-dtypes-") as tmp:
        signatures = {dtype: _export(Path(args.run), dtype, Path(tmp), args.max_length)
                      for dtype in ("float32", "bfloat16")}
        single = [[t] for t in texts[:args.requests]]
        batches = [texts[i * 32:(i + 1) * 32] for i in range(args.batches)]
        timed = {name: (fn, lambda b: {"text": tf.constant(b)}) for name, fn in signatures.items()}
        for fn, make in timed.values():  # warm-up: every request shape once, untimed
            for request in single[:20] + batches[:2]:
                fn(**make(request))
        latency = time_interleaved(timed, single)
        throughput = time_interleaved(timed, batches)
        agreement = texts[:args.agreement_texts]
        probs = {name: _probabilities(fn, agreement, 64) for name, fn in signatures.items()}
    length = args.max_length or "as trained"
    print(f"run {args.run}, max length {length}; {len(single)} batch-1 requests and "
          f"{len(batches)} batches of 32 per export, interleaved\n")
    print("| export | p50 batch 1 (ms) | p99 batch 1 (ms) | batch 32 (texts/s) |\n|---|---|---|---|")
    for name in signatures:
        times = np.array(latency[name]) * 1000
        rate = len(batches) * 32 / sum(throughput[name])
        print(f"| {name} | {np.percentile(times, 50):.1f} | {np.percentile(times, 99):.1f} | {rate:.1f} |")
    ratio = np.percentile(latency["bfloat16"], 50) / np.percentile(latency["float32"], 50)
    same = (probs["float32"].argmax(1) == probs["bfloat16"].argmax(1)).mean()
    diff = np.abs(probs["float32"] - probs["bfloat16"])
    print(f"\nbfloat16 / float32 p50 latency: {ratio:.2f}")
    print(f"agreement on {len(agreement)} texts: labels {same:.4%} identical; probability difference "
          f"max {diff.max():.4f}, mean {diff.mean():.5f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
