"""`python -m benchmarks.speed.encoder_variants`: one lever of the fast encoder, on and off.

Both variants of `FastEncoder` read the same weights in one process and take turns pass by pass
over the same token batches (the inference benchmark's held-out reviews, sorted by length, batch
32), so the CPU's drift hits them alike; then batch-1 requests, also in turns. Today's lever:
computing the last layer for each text's first token only (the head reads nothing else) against
the whole last layer.

    python -m benchmarks.speed.encoder_variants --model ../shared/models/all-MiniLM-L6-v2 \\
        --data ../shared/data/imdb/train.parquet --compute-dtype bfloat16
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from benchmarks.speed.sample import load_sample

VARIANTS = {"first-token last layer (shipped)": True, "whole last layer": False}


def _batches(tokenizer, texts: list[str], max_length: int, size: int) -> list[dict]:
    import tensorflow as tf

    lengths = [len(tokenizer(t, truncation=True, max_length=max_length)["input_ids"]) for t in texts]
    order = np.argsort(lengths, kind="stable")
    out = []
    for start in range(0, len(texts), size):
        rows = [texts[i] for i in order[start:start + size]]
        encoded = tokenizer(rows, truncation=True, max_length=max_length, padding=True,
                            return_tensors="np")
        out.append({k: tf.constant(v.astype(np.int32)) for k, v in encoded.items()})
    return out


def measure(model_path: str, data: str, compute_dtype: str, rounds: int, texts: int,
            max_length: int, batch_size: int, latency_texts: int) -> dict:
    """Seconds per pass and per batch-1 request of every variant, round by round."""
    import tensorflow as tf

    from tfbert.data import LabelSet
    from tfbert.encoder.module import FastEncoder
    from tfbert.encoder.weights import read_weights
    from tfbert.model import build_model, load_tokenizer

    _, held_out, names = load_sample(data, 42, 4000, texts)
    listed = held_out["text"].tolist()
    tokenizer = load_tokenizer(model_path)
    weights = read_weights(build_model(model_path, LabelSet(tuple(names))))
    functions = {name: tf.function(FastEncoder(weights, compute_dtype, first_token_last_layer=flag),
                                   reduce_retracing=True) for name, flag in VARIANTS.items()}
    batches = _batches(tokenizer, listed, max_length, batch_size)
    singles = _batches(tokenizer, listed[:latency_texts], max_length, 1)
    reference = {}
    for name, fn in functions.items():  # traces, warms up, and keeps one pass's logits
        reference[name] = np.concatenate([fn(b).numpy() for b in batches])
        for b in singles:
            fn(b).numpy()
    passes = {name: [] for name in functions}
    requests = {name: [] for name in functions}
    keys = list(functions)
    for index in range(rounds):
        for name in keys[index % 2:] + keys[:index % 2]:
            start = time.perf_counter()
            for b in batches:
                functions[name](b).numpy()
            passes[name].append(time.perf_counter() - start)
        for b in singles:
            for name in keys:
                start = time.perf_counter()
                functions[name](b).numpy()
                requests[name].append(time.perf_counter() - start)
    gap = float(np.abs(reference[keys[0]] - reference[keys[1]]).max())
    return {"texts": len(listed), "passes": passes, "requests": requests, "max_logit_gap": gap}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed.encoder_variants",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="local model folder")
    parser.add_argument("--data", required=True, help="the file the held-out reviews come from")
    parser.add_argument("--compute-dtype", default="bfloat16", choices=("float32", "bfloat16"))
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--latency-texts", type=int, default=50)
    args = parser.parse_args(argv)
    from tfbert.cli.console import start_tensorflow

    start_tensorflow()
    result = measure(args.model, args.data, args.compute_dtype, args.rounds, args.texts,
                     args.max_length, args.batch_size, args.latency_texts)
    keys = list(VARIANTS)
    base = np.array(result["passes"][keys[1]])
    print(f"{result['texts']} reviews, max length {args.max_length}, batch {args.batch_size}, "
          f"{args.compute_dtype}, {args.rounds} rounds; largest logit difference "
          f"{result['max_logit_gap']:.2e}")
    print("| variant | texts/s (median) | ÷ whole last layer (median of rounds) | p50 batch 1 (ms) |")
    print("|---|---|---|---|")
    for name in keys:
        seconds = np.array(result["passes"][name])
        print(f"| {name} | {result['texts'] / np.median(seconds):.1f} | "
              f"{np.median(base / seconds):.3f}× | {np.median(result['requests'][name]) * 1e3:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
