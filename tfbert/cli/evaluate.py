"""`scripts/evaluate.py`: a finished run's metrics and report on any labelled data."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from tfbert.base.errors import ExitCode, TfbertError
from tfbert.cli import common
from tfbert.cli.common import (
    TEXT_COLUMN_HELP,
    add_compute_dtype_flag,
    add_run_flags,
    add_verbose_flag,
    guarded,
    parse_text_columns,
    resolve_run_flags,
    start,
)
from tfbert.config import DataConfig, PredictConfig, TrainConfig
from tfbert.run_folder import RunFolder


def build_parser() -> argparse.ArgumentParser:
    d = DataConfig()
    parser = argparse.ArgumentParser(prog="evaluate.py",
                                     description="Evaluate a fine-tuned run on labelled data.")
    add_run_flags(parser, export_too=False)
    parser.add_argument("--data", nargs="+", required=True, metavar="SOURCE",
                        help="same forms as train.py --data")
    parser.add_argument("--split", default=None, help="default: test, or the only split")
    parser.add_argument("--text-column", type=parse_text_columns, default=None,
                        help=TEXT_COLUMN_HELP + "; default: the columns the run trained on")
    parser.add_argument("--label-column", default=None,
                        help="default: the column the run trained on")
    parser.add_argument("--label-columns", type=common.parse_names, default=None,
                        help="multi-label 0/1 columns; default: the run's")
    parser.add_argument("--label-separator", default=None,
                        help="multi-label sets in one string; default: the run's separator")
    parser.add_argument("--test-size", type=int, default=d.test_size, help="stratified subset size")
    parser.add_argument("--batch-size", type=int, default=TrainConfig().eval_batch_size)
    add_compute_dtype_flag(parser)
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    return add_verbose_flag(parser)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    resolve_run_flags(args)
    try:
        trained = RunFolder(Path(args.run)).config().data  # a wrong path is reported later
    except TfbertError:
        trained = DataConfig()
    text, pair = args.text_column or (trained.text_column, trained.text_pair_column)
    try:
        data_cfg = DataConfig(sources=tuple(args.data), text_column=text, text_pair_column=pair,
                              label_column=args.label_column or trained.label_column,
                              label_columns=args.label_columns or trained.label_columns,
                              label_separator=args.label_separator or trained.label_separator,
                              test_size=args.test_size, seed=args.seed)
    except ValueError as err:
        parser.error(str(err))

    def body() -> int:
        start(args.verbose)
        from tfbert.evaluate import evaluate_run, format_metrics

        metrics = evaluate_run(args.run, data_cfg, args.split, args.batch_size,
                               args.compute_dtype or PredictConfig().compute_dtype)
        print(json.dumps(metrics, indent=2) if args.json else format_metrics(metrics, "evaluation"))
        return ExitCode.OK

    return guarded(body)
