"""`python -m benchmarks.tokenizer_parity`: the in-graph tokenizer vs the fast one, text by text."""

from __future__ import annotations

import argparse
import collections
import dataclasses
import sys
import time
import unicodedata
from collections.abc import Sequence
from typing import Any

from tfbert.tokenizers import InGraphTokenizer

USAGE = """example:
    python -m benchmarks.tokenizer_parity --model ../shared/models/all-MiniLM-L6-v2 \\
        --data ../shared/data/imdb/test.parquet --max-length 512"""


@dataclasses.dataclass
class Mismatch:
    """One text the two tokenizers encode differently, located at the first differing token."""

    index: int
    position: int
    expected: list[str]
    got: list[str]
    context: str


@dataclasses.dataclass
class ParityReport:
    """Exact-agreement count of the in-graph tokenizer against the fast tokenizer."""

    total: int = 0
    matched: int = 0
    mismatches: list[Mismatch] = dataclasses.field(default_factory=list)
    reference_seconds: float = 0.0
    graph_seconds: float = 0.0

    @property
    def agreement(self) -> float:
        return self.matched / self.total if self.total else 1.0


def _first_difference(expected: list[int], got: list[int]) -> int:
    for i, (a, b) in enumerate(zip(expected, got, strict=False)):
        if a != b:
            return i
    return min(len(expected), len(got))


def compare_tokenizers(
    reference: Any, tokenizer: InGraphTokenizer, texts: Sequence[str], batch_size: int = 32
) -> ParityReport:
    """Encodes `texts` with both tokenizers, batch by batch, and records every disagreement.

    Args:
        reference: the Hugging Face fast tokenizer.
        tokenizer: the in-graph tokenizer built from it.
        texts: the texts to compare.
        batch_size: texts per call of each tokenizer.
    Returns:
        The counts, each mismatch and each tokenizer's total time.
    """
    report = ParityReport()
    for first in range(0, len(texts), batch_size):
        batch = list(texts[first : first + batch_size])
        start = time.perf_counter()
        expected = reference(
            batch, truncation=True, max_length=tokenizer.max_length, return_offsets_mapping=True
        )
        middle = time.perf_counter()
        encoded = tokenizer(batch)
        ids, lengths = encoded["input_ids"].numpy(), encoded["attention_mask"].numpy().sum(1)
        report.reference_seconds += middle - start
        report.graph_seconds += time.perf_counter() - middle
        for row, text in enumerate(batch):
            want, got = expected["input_ids"][row], ids[row, : lengths[row]].tolist()
            report.total += 1
            if want == got:
                report.matched += 1
                continue
            at = _first_difference(want, got)
            begin, end = expected["offset_mapping"][row][min(at, len(want) - 1)]
            report.mismatches.append(
                Mismatch(
                    index=first + row,
                    position=at,
                    expected=reference.convert_ids_to_tokens(want[at : at + 5]),
                    got=reference.convert_ids_to_tokens(got[at : at + 5]),
                    context=text[max(begin - 40, 0) : end + 40],
                )
            )
    return report


def mismatch_category(mismatch: Mismatch) -> str:
    """Groups mismatches by the least ordinary character near the first difference."""
    unusual = [c for c in mismatch.context if not (c.isascii() and c.isprintable())]
    if not unusual:
        return "ascii only"
    char = unusual[0]
    return f"U+{ord(char):04X} {unicodedata.category(char)} {unicodedata.name(char, '?')}"


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.tokenizer_parity", epilog=USAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Checks the in-graph tokenizer against the Hugging Face fast tokenizer on a "
                    "parquet of texts.")
    parser.add_argument("--model", required=True,
                        help="folder of a fast tokenizer (WordPiece, byte-level BPE or Unigram)")
    parser.add_argument("--data", required=True, help="parquet file with a text column")
    parser.add_argument("--column", default="text")
    parser.add_argument("--limit", type=int, default=None, help="only the first N texts")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--show", type=int, default=20, help="mismatches to print")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Prints the agreement, the throughput and the mismatches; exit code 1 if any text differs."""
    args = _parse_args(argv)
    import pandas as pd
    from transformers import AutoTokenizer

    from tfbert.tokenizers import in_graph_tokenizer

    texts = pd.read_parquet(args.data, columns=[args.column])[args.column].tolist()
    texts = texts[: args.limit] if args.limit else texts
    reference = AutoTokenizer.from_pretrained(args.model)
    start = time.perf_counter()
    tokenizer = in_graph_tokenizer(reference, args.max_length)
    print(f"built the {tokenizer.family} tables in {time.perf_counter() - start:.1f} s", flush=True)
    tokenizer(["warm up the graph"])
    report = compare_tokenizers(reference, tokenizer, texts, args.batch_size)

    print(f"exact agreement: {report.matched}/{report.total} ({100 * report.agreement:.3f} %)")
    print(
        f"throughput: in-graph {report.total / report.graph_seconds:.0f} texts/s, "
        f"fast tokenizer {report.total / report.reference_seconds:.0f} texts/s "
        f"(batches of {args.batch_size}, max length {args.max_length})"
    )
    for category, count in collections.Counter(map(mismatch_category, report.mismatches)).most_common():
        print(f"  {count:5d}  {category}")
    for mismatch in report.mismatches[: args.show]:
        print(
            f"#{mismatch.index} token {mismatch.position}: expected {mismatch.expected} "
            f"got {mismatch.got}\n    context: {mismatch.context!r}"
        )
    return 0 if not report.mismatches else 1


if __name__ == "__main__":
    sys.exit(main())
