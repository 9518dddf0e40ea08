"""`python -m benchmarks.tasks.long_task`: a constructed long-text task from the IMDb reviews.

No long-document data set is reachable offline, so this one is built from real reviews so that
its label can only be read from the whole text: each example is three short IMDb reviews
(`--min-words` to `--max-words` words each) joined by a blank line, drawn at random without
replacement, and its label is the sentiment most of the three share (`positive` when two or
three are positive). A model that reads only the first window sees about one review, which
agrees with the majority three times in four: a one-window reader is capped near 0.75 accuracy,
while one that reads every window can reach 1.0. Train and validation examples come from
IMDb's train split, test examples from its test split. A constructed task, not a benchmark:
see docs/long_documents.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

PARTS = 3
USAGE = """example:
    python -m benchmarks.tasks.long_task --data ../shared/data/imdb \\
        --output saved_models/long-task --train 1500 --validation 200 --test 1000"""


def _short_reviews(frame: pd.DataFrame, min_words: int, max_words: int) -> pd.DataFrame:
    words = frame["text"].str.split().str.len()
    return frame[(words >= min_words) & (words <= max_words)].reset_index(drop=True)


def joined(pool: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """`n` examples of PARTS reviews each, with the majority sentiment and the parts' own."""
    if n * PARTS > len(pool):
        raise ValueError(f"{n} examples need {n * PARTS} short reviews; only {len(pool)} qualify")
    chosen = rng.permutation(len(pool))[:n * PARTS].reshape(n, PARTS)
    texts = ["\n\n".join(pool["text"].iloc[row]) for row in chosen]
    parts = pool["label"].to_numpy()[chosen]
    majority = (parts.sum(axis=1) * 2 > PARTS).astype(int)
    return pd.DataFrame({"text": texts, "label": np.where(majority == 1, "positive", "negative"),
                         "parts": ["".join(map(str, row)) for row in parts],
                         "first_agrees": parts[:, 0] == majority})


def write_task(data: Path, output: Path, train: int, validation: int, test: int, seed: int,
               min_words: int, max_words: int) -> dict[str, pd.DataFrame]:
    """Builds the splits with `seed` and writes train/validation/test.parquet."""
    rng = np.random.default_rng(seed)
    pool = _short_reviews(pd.read_parquet(data / "train.parquet"), min_words, max_words)
    held_out = _short_reviews(pd.read_parquet(data / "test.parquet"), min_words, max_words)
    both = joined(pool, train + validation, rng)
    splits = {"train": both.iloc[:train], "validation": both.iloc[train:],
              "test": joined(held_out, test, rng)}
    output.mkdir(parents=True, exist_ok=True)
    for name, frame in splits.items():
        frame.reset_index(drop=True).to_parquet(output / f"{name}.parquet", index=False)
    return splits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tasks.long_task", description=__doc__,
                                     epilog=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="folder with IMDb's train.parquet and test.parquet")
    parser.add_argument("--output", required=True, help="folder for train/validation/test.parquet")
    parser.add_argument("--train", type=int, default=1500, help="examples from IMDb's train split")
    parser.add_argument("--validation", type=int, default=200, help="further train examples")
    parser.add_argument("--test", type=int, default=1000, help="examples from IMDb's test split")
    parser.add_argument("--min-words", type=int, default=40, help="shortest review used")
    parser.add_argument("--max-words", type=int, default=130, help="longest review used")
    parser.add_argument("--seed", type=int, default=29)
    args = parser.parse_args(argv)
    splits = write_task(Path(args.data), Path(args.output), args.train, args.validation, args.test,
                        args.seed, args.min_words, args.max_words)
    for name, frame in splits.items():
        words = frame["text"].str.split().str.len()
        print(f"{name}: {len(frame)} examples, {(frame['label'] == 'positive').mean():.3f} "
              f"positive, {words.median():.0f} words (median), first review agrees with the "
              f"label in {frame['first_agrees'].mean():.3f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
