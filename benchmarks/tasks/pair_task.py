"""`python -m benchmarks.tasks.pair_task`: the constructed text-pair task, written as parquet files.

Is the quote taken from this review? Built from the real IMDb reviews by `tests/pair_tasks.py`
(the task the pair tests train on); this is only its command line. See docs/pairs.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

USAGE = """example:
    python -m benchmarks.tasks.pair_task --data ../shared/data/imdb --output saved_models/pair-task \\
        --train-reviews 2000 --validation-reviews 250 --test-reviews 2500"""
TESTS = Path(__file__).resolve().parents[2] / "tests"


def main(argv: list[str] | None = None) -> int:
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))  # imported as the tests import it
    from pair_tasks import __doc__ as task_doc
    from pair_tasks import write_pair_task

    parser = argparse.ArgumentParser(prog="python -m benchmarks.tasks.pair_task", description=task_doc,
                                     epilog=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="folder with IMDb's train.parquet and test.parquet")
    parser.add_argument("--output", required=True, help="folder for train/validation/test.parquet")
    parser.add_argument("--train-reviews", type=int, default=2000, help="gives twice as many pairs")
    parser.add_argument("--validation-reviews", type=int, default=250)
    parser.add_argument("--test-reviews", type=int, default=2500)
    parser.add_argument("--quote-within", type=int, default=60,
                        help="quotes start within the first this many words of the review")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    sizes = write_pair_task(Path(args.data), Path(args.output), args.train_reviews,
                            args.validation_reviews, args.test_reviews, args.seed, args.quote_within)
    for name, count in sizes.items():
        print(f"{name}: {count} pairs -> {Path(args.output) / f'{name}.parquet'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
