"""`python -m benchmarks.tasks.rating_baselines`: what a rating regression adds over two baselines.

On the held-out reviews of a regression run (its own test split, read again the way training
read it), compares:

- the regression run's scores;
- the training mean, predicted for every review;
- a rating read off a single-label sentiment run: rating = a + b * P(positive), with a and b
  fitted by least squares on the sentiment run's own validation reviews (their ratings looked
  up by text in `--ratings`), so no review the baseline was fitted or trained on is scored.

Prints a markdown table (RMSE, MAE, Pearson, Spearman) and writes it as JSON with `--json`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

USAGE = """example:
    python -m benchmarks.tasks.rating_baselines --regression-run saved_models/imdb-rating-full \\
        --sentiment-run saved_models/imdb-sentiment-4k --ratings ../shared/data/imdb/train.parquet"""


def _test_split(run: Path) -> pd.DataFrame:
    from tfbert.data import LabelSet, load_eval_split
    from tfbert.run_folder import RunFolder

    data = RunFolder(run).config().data
    return load_eval_split(data, LabelSet((data.label_column,), data.task), "test")


def _sentiment_fit(run: Path, ratings: Path, classifier) -> tuple[float, float, int]:
    """(a, b) of rating = a + b * P(positive) on the sentiment run's validation reviews."""
    from tfbert.data import load_splits
    from tfbert.run_folder import RunFolder

    validation = load_splits(RunFolder(run).config().data).validation
    known = pd.read_parquet(ratings, columns=["text", "rating"]).drop_duplicates("text")
    rows = validation.merge(known, on="text", how="inner")
    positive = classifier.label_names.index("positive") if "positive" in classifier.label_names else 1
    p = classifier.predict_proba(list(rows["text"]))[:, positive]
    slope, intercept = np.polyfit(p, rows["rating"].to_numpy(dtype=np.float64), 1)
    return float(intercept), float(slope), len(rows)


def compare(regression_run: Path, sentiment_run: Path, ratings: Path) -> dict:
    from tfbert.predict import Classifier
    from tfbert.scoring.regression import regression_metrics

    test = _test_split(regression_run)
    texts, targets = list(test["text"]), test["label"].to_numpy(dtype=np.float64)
    regression = Classifier.from_run(regression_run)
    sentiment = Classifier.from_run(sentiment_run)
    intercept, slope, fitted_on = _sentiment_fit(sentiment_run, ratings, sentiment)
    positive = sentiment.label_names.index("positive") if "positive" in sentiment.label_names else 1
    from_sentiment = intercept + slope * sentiment.predict_proba(texts)[:, positive]
    rows = {
        "regression run": regression_metrics(targets, regression.predict_outputs(texts)[:, 0]),
        "training mean": regression_metrics(targets, np.full(len(targets), regression.head.mean)),
        "sentiment probability, linear fit": regression_metrics(targets, from_sentiment),
    }
    return {"test_reviews": len(targets), "training_mean": regression.head.mean,
            "sentiment_fit": {"intercept": intercept, "slope": slope, "reviews": fitted_on},
            "rows": rows}


def as_table(result: dict) -> str:
    def cell(value):
        return "undefined" if value is None else f"{value:.4f}"

    lines = ["| predictor | RMSE | MAE | Pearson | Spearman |", "|---|---|---|---|---|"]
    for name, m in result["rows"].items():
        lines.append(f"| {name} | {cell(m['rmse'])} | {cell(m['mae'])} | {cell(m['pearson'])} | "
                     f"{cell(m['spearman'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tasks.rating_baselines", description=__doc__,
                                     epilog=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--regression-run", required=True, type=Path)
    parser.add_argument("--sentiment-run", required=True, type=Path)
    parser.add_argument("--ratings", required=True, type=Path,
                        help="a parquet file with text and rating of the sentiment run's reviews")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    from tfbert.cli.console import setup_logging, start_tensorflow

    setup_logging(False)
    start_tensorflow(False)
    result = compare(args.regression_run, args.sentiment_run, args.ratings)
    print(f"{result['test_reviews']} test reviews; baseline fit on {result['sentiment_fit']['reviews']} "
          f"validation reviews: rating = {result['sentiment_fit']['intercept']:.3f} + "
          f"{result['sentiment_fit']['slope']:.3f} * P(positive)")
    print(as_table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
