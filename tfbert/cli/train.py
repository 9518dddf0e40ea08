"""`scripts/train.py`: flags -> `RunConfig` -> `train.run`, then the export for TF Serving."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from tfbert.base.errors import ExitCode
from tfbert.cli.common import (
    TEXT_COLUMN_HELP,
    add_verbose_flag,
    guarded,
    parse_names,
    parse_size,
    parse_text_columns,
    start,
)
from tfbert.config import (
    AGGREGATES,
    CLASS_WEIGHTS,
    LONG_TEXTS,
    MONITOR_METRICS,
    PAIR_TRUNCATIONS,
    PRECISIONS,
    STRATEGIES,
    TRUNCATIONS,
    DataConfig,
    ModelConfig,
    OutputConfig,
    RunConfig,
    TrainConfig,
)
from tfbert.tasks.kinds import TASKS

log = logging.getLogger("tfbert")


def _add_data_flags(parser: argparse.ArgumentParser, d: DataConfig) -> None:
    data = parser.add_argument_group("data")
    data.add_argument("--data", nargs="+", default=list(d.sources), metavar="SOURCE",
                      help="hub data set name, aclImdb folder, folder of train/validation/test "
                           "files, or files (split=PATH); CSV, TSV, JSONL, JSON, parquet")
    data.add_argument("--text-column", type=parse_text_columns, default=d.text_column,
                      help=TEXT_COLUMN_HELP + "; without it, GLUE-style pair columns (sentence1/"
                           "sentence2, premise/hypothesis, question1/question2) are found")
    data.add_argument("--label-column", default=d.label_column,
                      help="the class, the number (regression) or the label set (multi-label)")
    data.add_argument("--label-names", type=parse_names, default=d.label_names,
                      help="comma-separated class names in id order, e.g. negative,positive; "
                           "multi-label: every label, so that any other one is refused")
    data.add_argument("--task", choices=TASKS, default=d.task,
                      help="auto: lists or delimited label sets -> multi-label, numbers that are "
                           "not all whole -> regression, otherwise single-label")
    data.add_argument("--label-columns", type=parse_names, default=d.label_columns,
                      help="multi-label: several 0/1 columns, one per label, e.g. toxic,insult")
    data.add_argument("--label-separator", default=d.label_separator,
                      help="multi-label: the separator of label sets written as one string, "
                           "e.g. '|' for action|drama")
    data.add_argument("--no-standardise", dest="standardise", action="store_false",
                      default=d.standardise,
                      help="regression: train on the raw target instead of its z-scores")
    data.add_argument("--train-size", type=int, default=d.train_size, help="stratified subset of train")
    data.add_argument("--val-size", type=parse_size, default=d.val_size,
                      help="validation examples (or fraction of train when carved from it)")
    data.add_argument("--test-size", type=int, default=d.test_size, help="stratified subset of test")
    data.add_argument("--max-length", type=int, default=d.max_length, help="tokens per text (or per window)")
    data.add_argument("--truncation", choices=(*TRUNCATIONS, *PAIR_TRUNCATIONS),
                      default=d.truncation,
                      help="which tokens a longer text keeps: its start, its end, or both; for "
                           "pairs which text loses tokens (head = longest_first)")
    data.add_argument("--head-tokens", type=int, default=d.head_tokens,
                      help="with head+tail: tokens kept from the start (default: a quarter)")
    _add_window_flags(data, d)
    data.add_argument("--strict", action="store_true", default=d.strict,
                      help="stop on empty texts, missing labels, malformed JSON lines or invalid "
                           "UTF-8 instead of dropping/replacing them")


def _add_window_flags(data, d: DataConfig) -> None:
    data.add_argument("--long-text", choices=LONG_TEXTS, default=d.long_text,
                      help="a text longer than --max-length: cut it (--truncation), or read it "
                           "whole as overlapping windows of --max-length tokens")
    data.add_argument("--window-stride", type=int, default=d.window_stride,
                      help="windows: tokens neighbouring windows share (default: a quarter of "
                           "--max-length)")
    data.add_argument("--max-windows", type=int, default=d.max_windows,
                      help="windows: at most this many per text; the rest of a longer text is "
                           "cut, and counted in the logs")
    data.add_argument("--aggregate", choices=AGGREGATES, default=d.aggregate,
                      help="windows: how the windows' outputs become the text's answer")


def _add_model_flags(parser: argparse.ArgumentParser, m: ModelConfig) -> None:
    model = parser.add_argument_group("model")
    model.add_argument("--model", default=m.name_or_path, help="checkpoint to fine-tune: hub name "
                                                               "or local folder")
    model.add_argument("--precision", choices=PRECISIONS, default=m.precision,
                       help="auto: mixed_float16 on a GPU, mixed_bfloat16 on a CPU with native "
                            "bfloat16 (avx512_bf16, AMX), else float32")


def _add_training_flags(parser: argparse.ArgumentParser, t: TrainConfig) -> None:
    train = parser.add_argument_group("training")
    train.add_argument("--epochs", type=int, default=t.epochs)
    train.add_argument("--batch-size", type=int, default=t.batch_size)
    train.add_argument("--eval-batch-size", type=int, default=t.eval_batch_size)
    train.add_argument("--learning-rate", type=float, default=t.learning_rate,
                       help="suits small encoders such as MiniLM; use 2e-5 to 5e-5 for bert-base")
    train.add_argument("--weight-decay", type=float, default=t.weight_decay)
    train.add_argument("--warmup-ratio", type=float, default=t.warmup_ratio)
    train.add_argument("--monitor", choices=MONITOR_METRICS, default=t.monitor,
                       help="metric that picks the best epoch and drives early stopping; auto: "
                            "val_f1 (single-label), val_micro_f1 (multi-label), val_rmse "
                            "(regression)")
    train.add_argument("--class-weights", choices=CLASS_WEIGHTS, default=t.class_weights,
                       help="auto: weigh rare classes up (multi-label: each label's positives; "
                            "regression: rare target values)")
    train.add_argument("--early-stopping-patience", type=int, default=t.early_stopping_patience or 0,
                       help="epochs without improvement before stopping; 0 disables")
    train.add_argument("--no-bucketing", dest="bucketing", action="store_false", default=t.bucketing,
                       help="pad each batch to its longest text instead of length bucketing")
    train.add_argument("--pad-multiple", type=int, default=t.pad_multiple,
                       help="bucket width: padded lengths are multiples of this")
    train.add_argument("--jit-compile", action="store_true", default=t.jit_compile,
                       help="compile the training step with XLA")
    train.add_argument("--save-every-steps", type=int, default=t.save_every_steps,
                       help="also back up for resume every N steps (0: at epoch ends only)")
    train.add_argument("--deterministic", action="store_true", default=t.deterministic,
                       help="deterministic TensorFlow ops: identical results for the same seed")
    train.add_argument("--strategy", choices=STRATEGIES, default=t.strategy,
                       help="tf.distribute strategy; auto: mirrored over several GPUs, else one "
                            "device; multi-worker reads TF_CONFIG")
    train.add_argument("--calibrate", action="store_true", default=t.calibrate,
                       help="fit a probability temperature on the validation split; the export "
                            "serves calibrated probabilities")
    train.add_argument("--seed", type=int, default=t.seed)


def _add_output_flags(parser: argparse.ArgumentParser, o: OutputConfig) -> None:
    output = parser.add_argument_group("output")
    output.add_argument("--output-dir", default=o.output_dir)
    output.add_argument("--run-name", default=o.run_name,
                        help="default: <model>-<data>-<config hash>, so re-running the same "
                             "command resumes an interrupted run")
    output.add_argument("--overwrite", action="store_true", default=o.overwrite,
                        help="replace an existing run folder")
    output.add_argument("--no-export", dest="export", action="store_false", default=o.export,
                        help="skip the SavedModel export at the end")
    output.add_argument("--export-name", default=o.export_name,
                        help="model name in the export path (export/<name>/<version>)")


def build_parser() -> argparse.ArgumentParser:
    """Flags of train.py; every default is read from the config dataclasses."""
    parser = argparse.ArgumentParser(
        prog="train.py", description="Fine-tune a BERT-family checkpoint as a text classifier.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _add_data_flags(parser, DataConfig())
    _add_model_flags(parser, ModelConfig())
    _add_training_flags(parser, TrainConfig())
    _add_output_flags(parser, OutputConfig())
    return add_verbose_flag(parser)


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Builds the run config; invalid values raise ValueError."""
    return RunConfig(
        data=DataConfig(
            sources=tuple(args.data), text_column=args.text_column[0],
            text_pair_column=args.text_column[1], label_column=args.label_column,
            label_names=args.label_names,
            train_size=args.train_size, val_size=args.val_size, test_size=args.test_size,
            max_length=args.max_length, truncation=args.truncation,
            head_tokens=args.head_tokens, strict=args.strict, seed=args.seed, task=args.task,
            label_columns=args.label_columns, label_separator=args.label_separator,
            standardise=args.standardise, long_text=args.long_text,
            window_stride=args.window_stride, max_windows=args.max_windows,
            aggregate=args.aggregate,
        ),
        model=ModelConfig(name_or_path=args.model, precision=args.precision),
        train=TrainConfig(
            epochs=args.epochs, batch_size=args.batch_size, eval_batch_size=args.eval_batch_size,
            learning_rate=args.learning_rate, weight_decay=args.weight_decay,
            warmup_ratio=args.warmup_ratio, monitor=args.monitor,
            early_stopping_patience=args.early_stopping_patience or None,
            bucketing=args.bucketing, pad_multiple=args.pad_multiple,
            jit_compile=args.jit_compile, save_every_steps=args.save_every_steps,
            deterministic=args.deterministic, strategy=args.strategy,
            calibrate=args.calibrate, class_weights=args.class_weights, seed=args.seed,
        ),
        output=OutputConfig(output_dir=args.output_dir, run_name=args.run_name,
                            overwrite=args.overwrite, export=args.export,
                            export_name=args.export_name),
    )


def train_and_export(cfg: RunConfig):
    """Fine-tunes, then (on the chief, unless `--no-export`) writes the SavedModel for TF Serving.

    The export is called from here, not from the training spine, so training never imports
    the serving system.
    """
    from tfbert import train

    result = train.run(cfg)
    if cfg.output.export and result.is_chief:
        from tfbert.serving.export import export_run

        exported = export_run(result.run_dir, model_name=cfg.output.export_name)
        log.info("SavedModel for TF Serving: %s", exported.path)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cfg = config_from_args(args)
    except ValueError as err:
        parser.error(str(err))

    def body() -> int:
        start(args.verbose)
        result = train_and_export(cfg)
        log.info("done in %.0f s; run folder: %s", result.seconds, result.run_dir)
        return ExitCode.OK

    return guarded(body)
