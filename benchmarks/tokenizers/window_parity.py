"""`python -m benchmarks.tokenizers.window_parity`: the served graph's windows vs the fast
tokenizer's overflow windows, text by text, over a parquet of texts."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

USAGE = """example:
    python -m benchmarks.tokenizers.window_parity --model ../shared/models/all-MiniLM-L6-v2 \\
        --data ../shared/data/imdb/test.parquet --max-length 256 --stride 64 --max-windows 16"""


def _windows_by_text(rows: list[list[int]], owners: np.ndarray, texts: int) -> list[list]:
    found: list[list] = [[] for _ in range(texts)]
    for row, owner in zip(rows, owners, strict=True):
        found[owner].append(row)
    return found


def compare(reference, graph, texts: list[str], max_length: int, stride: int, max_windows: int,
            batch_size: int) -> tuple[int, list[int], float, float]:
    """Texts whose every window agrees (ids and type ids), the indices of the others, and each
    side's seconds."""
    from tfbert.tokenizers.windows import encode_windows

    matched, different, reference_seconds, graph_seconds = 0, [], 0.0, 0.0
    for first in range(0, len(texts), batch_size):
        batch = texts[first:first + batch_size]
        start = time.perf_counter()
        expected = encode_windows(reference, batch, None, max_length, stride, max_windows)
        middle = time.perf_counter()
        encoded = graph(batch)
        graph_seconds += time.perf_counter() - middle
        reference_seconds += middle - start
        lengths = encoded["attention_mask"].numpy().sum(1)
        got = [[ids[:n].tolist(), types[:n].tolist()] for ids, types, n in zip(
            encoded["input_ids"].numpy(), encoded["token_type_ids"].numpy(), lengths, strict=True)]
        ids = expected.encoded["input_ids"]
        types = expected.encoded.get("token_type_ids", [[0] * len(r) for r in ids])
        want = [[row, row_types] for row, row_types in zip(ids, types, strict=True)]
        got_by = _windows_by_text(got, encoded["window_text"].numpy(), len(batch))
        want_by = _windows_by_text(want, expected.text_ids, len(batch))
        for i, (a, b) in enumerate(zip(want_by, got_by, strict=True)):
            if a == b:
                matched += 1
            else:
                different.append(first + i)
    return matched, different, reference_seconds, graph_seconds


def main(argv: list[str] | None = None) -> int:
    """Prints the agreement; exit code 1 if any text's windows differ."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tokenizers.window_parity",
                                     description=__doc__, epilog=USAGE,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="folder of a fast tokenizer")
    parser.add_argument("--data", required=True, help="parquet file with a text column")
    parser.add_argument("--column", default="text")
    parser.add_argument("--limit", type=int, default=None, help="only the first N texts")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--stride", type=int, default=64)
    parser.add_argument("--max-windows", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    import pandas as pd
    from transformers import AutoTokenizer

    from tfbert.tokenizers import in_graph_tokenizer

    texts = pd.read_parquet(args.data, columns=[args.column])[args.column].tolist()[:args.limit]
    reference = AutoTokenizer.from_pretrained(args.model)
    graph = in_graph_tokenizer(reference, args.max_length)
    graph.set_windows(args.stride, args.max_windows)
    matched, different, reference_seconds, graph_seconds = compare(
        reference, graph, texts, args.max_length, args.stride, args.max_windows, args.batch_size)
    print(f"{graph.family}: every window identical for {matched}/{len(texts)} texts "
          f"(max length {args.max_length}, stride {args.stride}, at most {args.max_windows} "
          f"windows); fast tokenizer {reference_seconds:.1f} s, in-graph {graph_seconds:.1f} s")
    if different:
        print(f"texts that differ (first 20): {different[:20]}")
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
