"""`python -m benchmarks.tokenizers.train_tokenizer`: a real tokenizer of another family, trained offline.

No RoBERTa, XLM-R, ALBERT or MPNet tokenizer files are at hand offline, so the parity checks of
the in-graph tokenizers use ones trained with the `tokenizers` library, configured and loaded as
those models' tokenizers are. The trainers are the tests' (`tests/tokenizer_builders.py`), so the
benchmarks measure the very set-ups the tests check; this is only their command line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

USAGE = """example:
    python -m benchmarks.tokenizers.train_tokenizer --family byte-level-bpe \\
        --data ../shared/data/imdb/train.parquet --vocab-size 8000 --output saved_models/tok-bpe
    python -m benchmarks.tokenizers.tokenizer_parity --model saved_models/tok-bpe \\
        --data ../shared/data/imdb/test.parquet --max-length 512"""
FAMILY_NAMES = ("albert-unigram", "byte-level-bpe", "mpnet-wordpiece", "xlmr-unigram",
                "xlmr-spm", "albert-spm", "albert-published-spm", "deberta-spm")
TESTS = Path(__file__).resolve().parents[2] / "tests"


def family_trainers() -> dict[str, Callable[..., Any]]:
    """Trainer of each family: (folder, texts, vocab_size, **options) -> fast tokenizer."""
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))  # imported as the tests import it
    from tokenizer_builders import (
        SENTENCEPIECE_STYLES,
        train_byte_level_bpe,
        train_mpnet_wordpiece,
        train_sentencepiece,
        train_unigram,
    )

    def sentencepiece_trainer(style: str) -> Callable[..., Any]:
        return lambda *a, **k: train_sentencepiece(*a, style=style, **k)

    return {
        "byte-level-bpe": train_byte_level_bpe,
        "mpnet-wordpiece": train_mpnet_wordpiece,
        "albert-unigram": lambda *a, **k: train_unigram(*a, style="albert", **k),
        "xlmr-unigram": lambda *a, **k: train_unigram(*a, style="xlmr", **k),
        **{f"{style}-spm": sentencepiece_trainer(style) for style in SENTENCEPIECE_STYLES},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.tokenizers.train_tokenizer", epilog=USAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Trains a tokenizer of the given family on a parquet of texts.")
    parser.add_argument("--family", choices=FAMILY_NAMES, required=True)
    parser.add_argument("--data", required=True, help="parquet file with a text column")
    parser.add_argument("--column", default="text")
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--add-prefix-space", action="store_true", help="byte-level BPE only")
    parser.add_argument("--output", required=True, help="folder to save the tokenizer in")
    args = parser.parse_args(argv)
    import pandas as pd

    texts = pd.read_parquet(args.data, columns=[args.column])[args.column].tolist()
    options = {"add_prefix_space": True} if args.add_prefix_space else {}
    tokenizer = family_trainers()[args.family](Path(args.output), texts, args.vocab_size, **options)
    print(f"trained a {args.family} tokenizer of {len(tokenizer)} tokens on {len(texts)} texts; "
          f"saved in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
