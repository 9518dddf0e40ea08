"""Checks the in-graph tokenizer against the Hugging Face fast tokenizer on a parquet of texts.

    python scripts/tokenizer_parity.py --model ../shared/models/all-MiniLM-L6-v2 \
        --data ../shared/data/imdb/test.parquet --max-length 512
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
import unicodedata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tfbert  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from tfbert.text_tokenizer import BertTextTokenizer, Mismatch, compare_tokenizers  # noqa: E402


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="folder of a BERT fast tokenizer")
    parser.add_argument("--data", required=True, help="parquet file with a text column")
    parser.add_argument("--column", default="text")
    parser.add_argument("--limit", type=int, default=None, help="only the first N texts")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--show", type=int, default=20, help="mismatches to print")
    return parser.parse_args(argv)


def _category(mismatch: Mismatch) -> str:
    """Groups mismatches by the least ordinary character near the first difference."""
    unusual = [c for c in mismatch.context if not (c.isascii() and c.isprintable())]
    if not unusual:
        return "ascii only"
    char = unusual[0]
    return f"U+{ord(char):04X} {unicodedata.category(char)} {unicodedata.name(char, '?')}"


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    import pandas as pd
    from transformers import AutoTokenizer

    texts = pd.read_parquet(args.data, columns=[args.column])[args.column].tolist()
    texts = texts[: args.limit] if args.limit else texts
    reference = AutoTokenizer.from_pretrained(args.model)
    start = time.perf_counter()
    tokenizer = BertTextTokenizer.from_fast_tokenizer(reference, args.max_length)
    print(f"built tables in {time.perf_counter() - start:.1f} s", flush=True)
    tokenizer(["warm up the graph"])
    report = compare_tokenizers(reference, tokenizer, texts, args.batch_size)

    print(f"exact agreement: {report.matched}/{report.total} ({100 * report.agreement:.3f} %)")
    print(
        f"throughput: in-graph {report.total / report.graph_seconds:.0f} texts/s, "
        f"fast tokenizer {report.total / report.reference_seconds:.0f} texts/s "
        f"(batches of {args.batch_size}, max length {args.max_length})"
    )
    for category, count in collections.Counter(map(_category, report.mismatches)).most_common():
        print(f"  {count:5d}  {category}")
    for mismatch in report.mismatches[: args.show]:
        print(
            f"#{mismatch.index} token {mismatch.position}: expected {mismatch.expected} "
            f"got {mismatch.got}\n    context: {mismatch.context!r}"
        )
    return 0 if not report.mismatches else 1


if __name__ == "__main__":
    sys.exit(main())
