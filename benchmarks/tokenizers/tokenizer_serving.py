"""`python -m benchmarks.tokenizers.tokenizer_serving`: what raw-text serving costs for a tokenizer family.

Builds a MiniLM-sized random-weight classifier of the architecture that goes with the tokenizer
(the weights do not change the timing), exports it and times batch-1 requests through the
raw-text `serving_default` and the token-id signature (ids made outside the timing), the two
taking turns. Also prints how many bytes the in-graph tokenizer adds to the export. `--pairs`
exports a pair classifier (raw `text` + `text_pair`, longest_first) and times pairs of reviews
made as `tokenizer_parity --pairs` makes them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

USAGE = """examples (after benchmarks.tokenizers.train_tokenizer):
    python -m benchmarks.tokenizers.tokenizer_serving --tokenizer saved_models/tok-bpe \\
        --data ../shared/data/imdb/test.parquet --max-length 512
    python -m benchmarks.tokenizers.tokenizer_serving --tokenizer saved_models/tok-bpe \\
        --data ../shared/data/imdb/test.parquet --max-length 512 --pairs next"""
ARCHITECTURES = {"RobertaTokenizerFast": "roberta", "XLMRobertaTokenizerFast": "xlm-roberta",
                 "AlbertTokenizerFast": "albert", "MPNetTokenizerFast": "mpnet",
                 "BertTokenizerFast": "bert", "DebertaV2TokenizerFast": "deberta-v2"}


def save_random_checkpoint(tokenizer, folder: Path, max_length: int) -> Path:
    """6 layers, hidden 384, 12 heads (MiniLM-L6's shape), of the tokenizer's architecture."""
    import transformers

    model_type = ARCHITECTURES[type(tokenizer).__name__]
    config = transformers.AutoConfig.for_model(
        model_type, vocab_size=len(tokenizer), hidden_size=384, num_hidden_layers=6,
        num_attention_heads=12, intermediate_size=1536, max_position_embeddings=max_length + 2,
        pad_token_id=tokenizer.pad_token_id, num_labels=2)
    model = transformers.TFAutoModelForSequenceClassification.from_config(config)
    model(model.dummy_inputs)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def tokenizer_bytes(tokenizer, max_length: int, folder: Path) -> int:
    """Size on disk of a SavedModel holding only the in-graph tokenizer."""
    import tensorflow as tf

    from tfbert.tokenizers import in_graph_tokenizer

    module = tf.Module()
    module.tokenizer = in_graph_tokenizer(tokenizer, max_length)
    serve = tf.function(lambda texts: module.tokenizer(texts),
                        input_signature=[tf.TensorSpec([None], tf.string)])
    tf.saved_model.save(module, str(folder), signatures={"serving_default": serve})
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def measure_pairs(checkpoint: Path, tokenizer, data: str, pairing: str, max_length: int,
                  requests: int, folder: Path) -> dict:
    """Batch-1 latency of a pair export's raw `text` + `text_pair` signature and its token-id
    signature (ids made outside the timing, by the fast tokenizer, longest_first), taking turns,
    after one untimed pass over every request."""
    import numpy as np
    import pandas as pd
    import tensorflow as tf

    from benchmarks.speed.serving import time_interleaved
    from benchmarks.tokenizers.tokenizer_parity import make_pairs
    from tfbert.config import DEFAULT_EXPORT_NAME
    from tfbert.data import LabelSet
    from tfbert.model import build_model, precision_policy
    from tfbert.serving.export import write_version
    from tfbert.serving.module import build_serving_module

    with precision_policy("float32"):  # as `export_run` serves: full precision
        model = build_model(str(checkpoint), LabelSet(("negative", "positive")))
        module = build_serving_module(model, tokenizer, max_length, pair=True)
        version = write_version(module, folder, 1, DEFAULT_EXPORT_NAME)
    signatures = tf.saved_model.load(str(version)).signatures
    names = sorted(signatures["token_ids"].structured_input_signature[1])
    texts = pd.read_parquet(data, columns=["text"])["text"].tolist()
    firsts, seconds = make_pairs(texts, pairing)
    pairs = list(zip(firsts[:requests], seconds[:requests], strict=True))

    def ids(pair: tuple[str, str]) -> dict:
        encoded = tokenizer(*pair, truncation="longest_first", max_length=max_length,
                            return_token_type_ids=True, return_tensors="np")
        return {name: tf.constant(encoded[name].astype(np.int32)) for name in names}

    timed = {"token_ids": (signatures["token_ids"], ids),
             "serving_default": (signatures["serving_default"],
                                 lambda pair: {"text": tf.constant([pair[0]]),
                                               "text_pair": tf.constant([pair[1]])})}
    for call, make_inputs in timed.values():
        for pair in pairs:
            call(**make_inputs(pair))["label_id"].numpy()
    times = time_interleaved(timed, pairs)
    result = {name: {"p50_ms": 1000 * float(np.percentile(t, 50)),
                     "p99_ms": 1000 * float(np.percentile(t, 99))} for name, t in times.items()}
    result["mean_tokens"] = float(np.mean([ids(pair)["input_ids"].shape[1] for pair in pairs]))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.tokenizers.tokenizer_serving", epilog=USAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Batch-1 latency of raw text vs token ids, and the export size the "
                    "in-graph tokenizer adds.")
    parser.add_argument("--tokenizer", required=True, help="folder of a fast tokenizer")
    parser.add_argument("--data", required=True, help="parquet file with text and label columns")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--requests", type=int, default=200, help="batch-1 requests timed")
    parser.add_argument("--pairs", choices=("next", "halves"), default=None,
                        help="time pairs of reviews (as tokenizer_parity --pairs makes them) "
                             "through a pair export")
    args = parser.parse_args(argv)
    from transformers import AutoTokenizer

    import tfbert  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
    from benchmarks.speed.serving import measure_serving
    from benchmarks.speed.settings import BenchmarkConfig

    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    with tempfile.TemporaryDirectory(prefix="tfbert-tokenizer-serving-") as tmp:
        checkpoint = save_random_checkpoint(tokenizer, Path(tmp) / "model", args.max_length)
        if args.pairs:
            return _print_pairs(tokenizer, measure_pairs(
                checkpoint, tokenizer, args.data, args.pairs, args.max_length, args.requests,
                Path(tmp) / "export"), args)
        size = tokenizer_bytes(tokenizer, args.max_length, Path(tmp) / "tokenizer")
        result = measure_serving(BenchmarkConfig(
            model=str(checkpoint), data=args.data, max_length=args.max_length,
            serving_requests=args.requests, serving_batches=2, train_size=1, eval_size=256))
    if result.get("status") != "ok":
        print(json.dumps(result))
        return 1
    sigs = result["signatures"]
    print(f"tokenizer: {type(tokenizer).__name__}, {len(tokenizer)} tokens; in-graph tables "
          f"{size / 1e6:.2f} MB on disk")
    print(f"batch-1 p50 over {args.requests} reviews (mean {result['mean_tokens_per_request']:.0f} "
          f"tokens): raw text {sigs['serving_default']['p50_ms']:.2f} ms, token ids "
          f"{sigs['token_ids']['p50_ms']:.2f} ms -> {result['text_over_token_ids_p50']:.3f}x")
    print(f"p99: raw text {sigs['serving_default']['p99_ms']:.2f} ms, token ids "
          f"{sigs['token_ids']['p99_ms']:.2f} ms")
    return 0


def _print_pairs(tokenizer, result: dict, args) -> int:
    text, ids = result["serving_default"], result["token_ids"]
    print(f"tokenizer: {type(tokenizer).__name__}, {len(tokenizer)} tokens; pairs: {args.pairs}, "
          f"longest_first, max length {args.max_length}")
    print(f"batch-1 p50 over {args.requests} pairs (mean {result['mean_tokens']:.0f} tokens): raw "
          f"text pair {text['p50_ms']:.2f} ms, token ids {ids['p50_ms']:.2f} ms -> "
          f"{text['p50_ms'] / ids['p50_ms']:.3f}x")
    print(f"p99: raw text pair {text['p99_ms']:.2f} ms, token ids {ids['p99_ms']:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
