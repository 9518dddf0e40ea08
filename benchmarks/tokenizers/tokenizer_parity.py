"""`python -m benchmarks.tokenizers.tokenizer_parity`: the in-graph tokenizer vs the fast one, text by text
(or pair by pair, `--pairs`)."""

from __future__ import annotations

import argparse
import collections
import dataclasses
import random
import sys
import time
import unicodedata
from collections.abc import Sequence
from typing import Any

from tfbert.tokenizers import InGraphTokenizer

USAGE = """examples:
    python -m benchmarks.tokenizers.tokenizer_parity --model ../shared/models/all-MiniLM-L6-v2 \\
        --data ../shared/data/imdb/test.parquet --max-length 512
    python -m benchmarks.tokenizers.tokenizer_parity --model ../shared/models/all-MiniLM-L6-v2 \\
        --data ../shared/data/imdb/test.parquet --max-length 512 --pairs next"""
PAIRINGS = {
    "next": "each text with the next one in a fixed shuffled order (seed 0): as many pairs as texts",
    "halves": "the first and second half (by characters) of each text",
}


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


def make_pairs(texts: Sequence[str], pairing: str) -> tuple[list[str], list[str]]:
    """Pairs made from single texts (IMDb has none), as `PAIRINGS` describes."""
    if pairing == "halves":
        return [t[: len(t) // 2] for t in texts], [t[len(t) // 2 :] for t in texts]
    order = random.Random(0).sample(range(len(texts)), len(texts))
    return [texts[i] for i in order], [texts[i] for i in order[1:] + order[:1]]


def compare_tokenizers(
    reference: Any, tokenizer: InGraphTokenizer, texts: Sequence[str], batch_size: int = 32,
    text_pairs: Sequence[str] | None = None,
) -> ParityReport:
    """Encodes `texts` (and `text_pairs`, for a pair tokenizer) with both tokenizers, batch by
    batch, and records every disagreement in ids or type ids.

    Args:
        reference: the Hugging Face fast tokenizer (for pairs: truncation longest_first).
        tokenizer: the in-graph tokenizer built from it.
        texts: the texts to compare.
        batch_size: texts per call of each tokenizer.
        text_pairs: the second text of each pair.
    Returns:
        The counts, each mismatch and each tokenizer's total time.
    """
    report = ParityReport()
    for first in range(0, len(texts), batch_size):
        batch = [list(side[first : first + batch_size]) for side in (texts, text_pairs)
                 if side is not None]
        start = time.perf_counter()
        expected = reference(*batch, truncation=True, max_length=tokenizer.max_length,
                             return_offsets_mapping=True, return_token_type_ids=True)
        middle = time.perf_counter()
        encoded = tokenizer(*batch)
        ids, types = encoded["input_ids"].numpy(), encoded["token_type_ids"].numpy()
        lengths = encoded["attention_mask"].numpy().sum(1)
        report.reference_seconds += middle - start
        report.graph_seconds += time.perf_counter() - middle
        for row in range(len(batch[0])):
            want, got = expected["input_ids"][row], ids[row, : lengths[row]].tolist()
            report.total += 1
            if want == got and expected["token_type_ids"][row] == types[row, : lengths[row]].tolist():
                report.matched += 1
                continue
            report.mismatches.append(_mismatch(reference, expected, row, first, want, got, batch))
    return report


def _mismatch(reference: Any, expected: Any, row: int, first: int, want: list[int],
              got: list[int], batch: list[list[str]]) -> Mismatch:
    """Where a row first differs (in ids, else in type ids: the first token), with the text
    around it (of the pair's text that token comes from)."""
    at = _first_difference(want, got) if want != got else 0
    at_token = min(at, len(want) - 1)
    begin, end = expected["offset_mapping"][row][at_token]
    side = expected.sequence_ids(row)[at_token] or 0
    return Mismatch(index=first + row, position=at,
                    expected=reference.convert_ids_to_tokens(want[at : at + 5]),
                    got=reference.convert_ids_to_tokens(got[at : at + 5]),
                    context=batch[side][row][max(begin - 40, 0) : end + 40])


def mismatch_category(mismatch: Mismatch) -> str:
    """Groups mismatches by the least ordinary character near the first difference."""
    unusual = [c for c in mismatch.context if not (c.isascii() and c.isprintable())]
    if not unusual:
        return "ascii only"
    char = unusual[0]
    return f"U+{ord(char):04X} {unicodedata.category(char)} {unicodedata.name(char, '?')}"


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.tokenizers.tokenizer_parity", epilog=USAGE,
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
    parser.add_argument("--pairs", choices=sorted(PAIRINGS), default=None,
                        help="compare pairs (truncation longest_first) made from the texts: "
                             + "; ".join(f"{k}: {v}" for k, v in PAIRINGS.items()))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Prints the agreement, the throughput and the mismatches; exit code 1 if any text differs."""
    args = _parse_args(argv)
    import pandas as pd
    from transformers import AutoTokenizer

    from tfbert.tokenizers import in_graph_tokenizer

    texts = pd.read_parquet(args.data, columns=[args.column])[args.column].tolist()
    texts = texts[: args.limit] if args.limit else texts
    texts, text_pairs = make_pairs(texts, args.pairs) if args.pairs else (texts, None)
    reference = AutoTokenizer.from_pretrained(args.model)
    start = time.perf_counter()
    tokenizer = in_graph_tokenizer(reference, args.max_length, pair=bool(args.pairs))
    print(f"built the {tokenizer.family} tables in {time.perf_counter() - start:.1f} s", flush=True)
    tokenizer(*[["warm up the graph"]] * (2 if args.pairs else 1))
    report = compare_tokenizers(reference, tokenizer, texts, args.batch_size, text_pairs)

    what = f"pairs ({args.pairs}, longest_first)" if args.pairs else "texts"
    print(f"exact agreement: {report.matched}/{report.total} {what} "
          f"({100 * report.agreement:.3f} %)")
    print(
        f"throughput: in-graph {report.total / report.graph_seconds:.0f} {what.split()[0]}/s, "
        f"fast tokenizer {report.total / report.reference_seconds:.0f} {what.split()[0]}/s "
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
