"""`python -m benchmarks.tasks.multilabel_task`: a constructed multi-label task from the IMDb reviews.

No multi-label data set is reachable offline, so this one is built from the real reviews and
their real attributes, with overlapping labels and texts that have none:

    positive     the review's sentiment label is positive
    extreme      its rating is 1 or 10 (the ends of the scale)
    long         it has at least 300 words
    comedy, horror, action, drama, romance, documentary, animation
                 its first 150 words name the genre (comedy/comedies, horror, action,
                 drama/dramas, romance/romantic, documentary/documentaries, animated/animation,
                 any case)

Genres count only in the first 150 words, which a model reading 256 tokens sees. Train and
validation reviews are drawn from IMDb's train split, test reviews from its test split, each a
seeded random sample without overlap. A constructed task, not a benchmark: see docs/tasks.md.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

GENRES = {
    "comedy": r"\bcomed(y|ies)\b", "horror": r"\bhorror\b", "action": r"\baction\b",
    "drama": r"\bdramas?\b", "romance": r"\bromance|romantic\b",
    "documentary": r"\bdocumentar(y|ies)\b", "animation": r"\banimat(ed|ion)\b",
}
LABELS = ("positive", "extreme", "long", *GENRES)
LONG_WORDS, GENRE_WORDS = 300, 150
USAGE = """example:
    python -m benchmarks.tasks.multilabel_task --data ../shared/data/imdb \\
        --output saved_models/multilabel-task --train 4000 --validation 500 --test 5000"""


def labels_of(text: str, sentiment: int, rating: int) -> list[str]:
    """The labels of one review, in LABELS order."""
    words = text.split()
    opening = " ".join(words[:GENRE_WORDS])
    found = [name for name, flag in (("positive", sentiment == 1),
                                     ("extreme", rating in (1, 10)),
                                     ("long", len(words) >= LONG_WORDS)) if flag]
    return found + [name for name, pattern in GENRES.items()
                    if re.search(pattern, opening, flags=re.IGNORECASE)]


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """`review_id`, `text` and the `labels` list of each review."""
    labels = [labels_of(t, int(s), int(r)) for t, s, r in
              zip(frame["text"], frame["label"], frame["rating"], strict=True)]
    return pd.DataFrame({"review_id": frame["review_id"].to_numpy(), "text": frame["text"].to_numpy(),
                         "labels": labels})


def write_task(data: Path, output: Path, train: int, validation: int, test: int,
               seed: int) -> dict[str, pd.DataFrame]:
    """Samples the splits with `seed` and writes train/validation/test.parquet."""
    rng = np.random.default_rng(seed)
    pool = pd.read_parquet(data / "train.parquet")
    chosen = rng.permutation(len(pool))[:train + validation]
    held_out = pd.read_parquet(data / "test.parquet")
    splits = {"train": labelled(pool.iloc[chosen[:train]]),
              "validation": labelled(pool.iloc[chosen[train:]]),
              "test": labelled(held_out.iloc[rng.permutation(len(held_out))[:test]])}
    output.mkdir(parents=True, exist_ok=True)
    for name, frame in splits.items():
        frame.to_parquet(output / f"{name}.parquet", index=False)
    return splits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tasks.multilabel_task", description=__doc__,
                                     epilog=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="folder with IMDb's train.parquet and test.parquet")
    parser.add_argument("--output", required=True, help="folder for train/validation/test.parquet")
    parser.add_argument("--train", type=int, default=4000, help="reviews from IMDb's train split")
    parser.add_argument("--validation", type=int, default=500, help="further train reviews")
    parser.add_argument("--test", type=int, default=5000, help="reviews from IMDb's test split")
    parser.add_argument("--seed", type=int, default=23)
    args = parser.parse_args(argv)
    splits = write_task(Path(args.data), Path(args.output), args.train, args.validation, args.test,
                        args.seed)
    for name, frame in splits.items():
        counts = pd.Series([label for row in frame["labels"] for label in row]).value_counts()
        none = sum(not row for row in frame["labels"])
        shown = ", ".join(f"{label} {counts.get(label, 0)}" for label in LABELS)
        print(f"{name}: {len(frame)} reviews, {none} with no label; {shown}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
