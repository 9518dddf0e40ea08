"""A constructed text-pair task from the IMDb reviews: is the quote taken from this review?

No pair data set (NLI, paraphrase, QA) is reachable offline, so the pair tests and
`python -m benchmarks.tasks.pair_task` (its command line) build one whose label is a relation
*between* two texts, in the manner of evidence checking. Reviews are shuffled with the seed;
from each review i a quote is drawn: 8 to 15 consecutive words starting within its first
`within` words. Review i gives two pairs: (review i, quote of i) -> "quoted" and (review i+1 in
that order, quote of i) -> "not quoted". So every review and every quote appears exactly once
in each class: a model that reads only one of the two texts is right on exactly half the
pairs, whatever it learned. A constructed task, not a benchmark.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

LABELS = ("not quoted", "quoted")
COLUMNS = ("review", "quote")
MIN_WORDS = 20  # shorter reviews give no quote


def quote(text: str, rng: np.random.Generator, within: int = 60) -> str:
    """8 to 15 consecutive words of the review, starting within its first `within` words."""
    words = text.split()
    length = int(rng.integers(8, 16))
    first = int(rng.integers(0, min(within, len(words) - length) + 1))
    return " ".join(words[first:first + length])


def make_pairs(texts: list[str], seed: int, within: int = 60) -> pd.DataFrame:
    """Two pairs per review (with its own quote, and the next review with that quote)."""
    rng = np.random.default_rng(seed)
    reviews = [texts[i] for i in rng.permutation(len(texts))]
    quotes = [quote(review, rng, within) for review in reviews]
    rows = []
    for i, (review, quoted) in enumerate(zip(reviews, quotes, strict=True)):
        rows.append((review, quoted, LABELS[1]))
        rows.append((reviews[(i + 1) % len(reviews)], quoted, LABELS[0]))
    frame = pd.DataFrame(rows, columns=[*COLUMNS, "label"])
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def load_reviews(path: Path, count: int, seed: int, skip: int = 0) -> list[str]:
    """`count` reviews of a split after `skip`, in a seeded order (reviews under MIN_WORDS
    words are left out)."""
    texts = pd.read_parquet(path, columns=["text"])["text"]
    texts = texts[texts.str.split().str.len() >= MIN_WORDS]
    shuffled = texts.sample(frac=1.0, random_state=seed).tolist()
    if skip + count > len(shuffled):
        raise ValueError(f"{path}: {len(shuffled)} usable reviews, asked for {skip + count}")
    return shuffled[skip:skip + count]


def write_pair_task(imdb: Path, output: Path, train_reviews: int, validation_reviews: int,
                    test_reviews: int, seed: int = 13, within: int = 60) -> dict[str, int]:
    """train/validation/test.parquet in `output`: train and validation pairs from IMDb's train
    split (disjoint reviews), test pairs from its test split. Returns the pairs per split."""
    output.mkdir(parents=True, exist_ok=True)
    train = load_reviews(imdb / "train.parquet", train_reviews + validation_reviews, seed)
    splits = {"train": make_pairs(train[:train_reviews], seed, within),
              "validation": make_pairs(train[train_reviews:], seed + 1, within),
              "test": make_pairs(load_reviews(imdb / "test.parquet", test_reviews, seed),
                                 seed + 2, within)}
    for name, frame in splits.items():
        frame.to_parquet(output / f"{name}.parquet", index=False)
    return {name: len(frame) for name, frame in splits.items()}
