"""Command lines of the scripts: argument parsing into configs, and exit codes for errors.

Exit codes: 0 success, 2 usage error (bad flags or values), 3 data error, 4 model error,
5 run-folder or export error, 6 training diverged (NaN/Inf loss).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence

from tfbert.config import (
    DEFAULT_DATA,
    DEFAULT_MODEL,
    MONITOR_METRICS,
    PRECISIONS,
    STRATEGIES,
    TRUNCATIONS,
    DataConfig,
    ModelConfig,
    OutputConfig,
    RunConfig,
    TrainConfig,
)

EXIT_USAGE, EXIT_DATA, EXIT_MODEL, EXIT_RUN_FOLDER, EXIT_DIVERGED = 2, 3, 4, 5, 6
log = logging.getLogger("tfbert")


def _size(text: str) -> float | int:
    """`200` -> 200 examples; `0.1` -> a fraction."""
    try:
        value = float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from err
    return int(value) if value.is_integer() else value


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def build_train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="train.py", description="Fine-tune a BERT-family checkpoint as a text classifier.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    data = parser.add_argument_group("data")
    data.add_argument("--data", nargs="+", default=[DEFAULT_DATA], metavar="SOURCE",
                      help="hub data set name, aclImdb folder, folder of train/validation/test "
                           "files, or files (split=PATH); CSV, TSV, JSONL, JSON, parquet")
    data.add_argument("--text-column", default="text")
    data.add_argument("--label-column", default="label")
    data.add_argument("--label-names", type=_names, default=None,
                      help="comma-separated class names in id order, e.g. negative,positive")
    data.add_argument("--train-size", type=int, default=None, help="stratified subset of train")
    data.add_argument("--val-size", type=_size, default=0.1,
                      help="validation examples (or fraction of train when carved from it)")
    data.add_argument("--test-size", type=int, default=None, help="stratified subset of test")
    data.add_argument("--max-length", type=int, default=256, help="tokens per text, truncated")
    data.add_argument("--truncation", choices=TRUNCATIONS, default="head",
                      help="which tokens a longer text keeps: its start, its end, or both")
    data.add_argument("--head-tokens", type=int, default=None,
                      help="with head+tail: tokens kept from the start (default: a quarter)")
    data.add_argument("--strict", action="store_true",
                      help="stop on empty texts, missing labels or invalid UTF-8 instead of "
                           "dropping/replacing them")
    model = parser.add_argument_group("model")
    model.add_argument("--model", default=DEFAULT_MODEL, help="hub name or local folder")
    model.add_argument("--precision", choices=PRECISIONS, default="auto",
                       help="auto: mixed_float16 on a GPU, float32 on a CPU")
    train = parser.add_argument_group("training")
    train.add_argument("--epochs", type=int, default=2)
    train.add_argument("--batch-size", type=int, default=16)
    train.add_argument("--eval-batch-size", type=int, default=64)
    train.add_argument("--learning-rate", type=float, default=1e-4,
                       help="suits small encoders such as MiniLM; use 2e-5 to 5e-5 for bert-base")
    train.add_argument("--weight-decay", type=float, default=0.01)
    train.add_argument("--warmup-ratio", type=float, default=0.1)
    train.add_argument("--monitor", choices=MONITOR_METRICS, default="val_f1",
                       help="metric that picks the best epoch and drives early stopping")
    train.add_argument("--early-stopping-patience", type=int, default=2,
                       help="epochs without improvement before stopping; 0 disables")
    train.add_argument("--no-bucketing", dest="bucketing", action="store_false",
                       help="pad each batch to its longest text instead of length bucketing")
    train.add_argument("--pad-multiple", type=int, default=16,
                       help="bucket width: padded lengths are multiples of this")
    train.add_argument("--jit-compile", action="store_true",
                       help="compile the training step with XLA")
    train.add_argument("--save-every-steps", type=int, default=0,
                       help="also back up for resume every N steps (0: at epoch ends only)")
    train.add_argument("--deterministic", action="store_true",
                       help="deterministic TensorFlow ops: identical results for the same seed")
    train.add_argument("--strategy", choices=STRATEGIES, default="auto",
                       help="tf.distribute strategy; auto: mirrored over several GPUs, else one "
                            "device; multi-worker reads TF_CONFIG")
    train.add_argument("--calibrate", action="store_true",
                       help="fit a probability temperature on the validation split; the export "
                            "serves calibrated probabilities")
    train.add_argument("--seed", type=int, default=42)
    output = parser.add_argument_group("output")
    output.add_argument("--output-dir", default="saved_models")
    output.add_argument("--run-name", default=None,
                        help="default: <model>-<data>-<config hash>, so re-running the same "
                             "command resumes an interrupted run")
    output.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    output.add_argument("--no-export", dest="export", action="store_false",
                        help="skip the SavedModel export at the end")
    output.add_argument("--export-name", default="classifier",
                        help="model name in the export path (export/<name>/<version>)")
    return parser


def train_config_from_args(args: argparse.Namespace) -> RunConfig:
    """Builds the run config; invalid values raise ValueError."""
    return RunConfig(
        data=DataConfig(
            sources=tuple(args.data), text_column=args.text_column,
            label_column=args.label_column, label_names=args.label_names,
            train_size=args.train_size, val_size=args.val_size, test_size=args.test_size,
            max_length=args.max_length, truncation=args.truncation,
            head_tokens=args.head_tokens, strict=args.strict, seed=args.seed,
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
            calibrate=args.calibrate, seed=args.seed,
        ),
        output=OutputConfig(output_dir=args.output_dir, run_name=args.run_name,
                            overwrite=args.overwrite, export=args.export,
                            export_name=args.export_name),
    )


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")
    import warnings

    import transformers

    warnings.filterwarnings("ignore", message=".*seed_generator.*is deprecated")
    # The "newly initialized classifier" notice is expected when fine-tuning; keep real errors.
    transformers.logging.set_verbosity_error()


def _guarded(body: Callable[[], int]) -> int:
    """Runs a command, turning known errors into one line on stderr and an exit code."""
    from tfbert.data import DataError
    from tfbert.export import ExportError
    from tfbert.model import ModelLoadError
    from tfbert.run_folder import RunFolderError
    from tfbert.train import TrainingDivergedError

    try:
        return body()
    except DataError as err:
        print(f"data error: {err}", file=sys.stderr)
        return EXIT_DATA
    except ModelLoadError as err:
        print(f"model error: {err}", file=sys.stderr)
        return EXIT_MODEL
    except (RunFolderError, ExportError) as err:
        print(f"run folder error: {err}", file=sys.stderr)
        return EXIT_RUN_FOLDER
    except TrainingDivergedError as err:
        print(f"training diverged: {err}", file=sys.stderr)
        return EXIT_DIVERGED


def train_main(argv: Sequence[str] | None = None) -> int:
    parser = build_train_parser()
    args = parser.parse_args(argv)
    try:
        cfg = train_config_from_args(args)
    except ValueError as err:
        parser.error(str(err))

    def body() -> int:
        setup_logging()
        from tfbert import train

        result = train.run(cfg)
        log.info("done in %.0f s; run folder: %s", result.seconds, result.run_dir)
        return 0

    return _guarded(body)


def build_predict_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="predict.py",
                                     description="Label texts with a fine-tuned run.")
    parser.add_argument("--model", required=True, help="run folder written by train.py")
    parser.add_argument("texts", nargs="*", help="texts to label")
    parser.add_argument("--file", help="a text file with one text per line ('-' for stdin)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per text")
    parser.add_argument("--batch-size", type=int, default=32)
    return parser


def _read_lines(path: str) -> list[str]:
    from tfbert.data import DataError

    if path == "-":
        return [line.rstrip("\n") for line in sys.stdin if line.strip()]
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return [line.rstrip("\n") for line in handle if line.strip()]
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror}") from err


def predict_main(argv: Sequence[str] | None = None) -> int:
    parser = build_predict_parser()
    args = parser.parse_args(argv)
    if not args.texts and not args.file:
        parser.error("give texts as arguments or --file")

    def body() -> int:
        setup_logging()
        texts = list(args.texts) + (_read_lines(args.file) if args.file else [])
        from tfbert.predict import Classifier

        classifier = Classifier.from_run(args.model, batch_size=args.batch_size)
        for prediction in classifier.predict(texts):
            if args.json:
                print(json.dumps(prediction.to_dict(), ensure_ascii=False))
            else:
                probs = "  ".join(f"{k}={v:.3f}" for k, v in prediction.probabilities.items())
                snippet = prediction.text if len(prediction.text) <= 60 else prediction.text[:57] + "..."
                print(f"{prediction.label}\t{probs}\t{snippet}")
        return 0

    return _guarded(body)


def build_evaluate_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evaluate.py",
                                     description="Evaluate a fine-tuned run on labelled data.")
    parser.add_argument("--model", required=True, help="run folder written by train.py")
    parser.add_argument("--data", nargs="+", required=True, metavar="SOURCE",
                        help="same forms as train.py --data")
    parser.add_argument("--split", default=None, help="default: test, or the only split")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--test-size", type=int, default=None, help="stratified subset size")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    return parser


def evaluate_main(argv: Sequence[str] | None = None) -> int:
    parser = build_evaluate_parser()
    args = parser.parse_args(argv)
    try:
        data_cfg = DataConfig(sources=tuple(args.data), text_column=args.text_column,
                              label_column=args.label_column, test_size=args.test_size,
                              seed=args.seed)
    except ValueError as err:
        parser.error(str(err))

    def body() -> int:
        setup_logging()
        from tfbert.evaluate import evaluate_run, format_metrics

        metrics = evaluate_run(args.model, data_cfg, args.split, args.batch_size)
        print(json.dumps(metrics, indent=2) if args.json else format_metrics(metrics, "evaluation"))
        return 0

    return _guarded(body)


def _version(text: str) -> int | None:
    if text == "auto":
        return None
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"version must be a positive integer or 'auto', got {text!r}")
    return int(text)


def build_export_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="export.py", description="Export a run as a SavedModel for TensorFlow Serving.")
    parser.add_argument("--run", required=True, help="run folder written by train.py")
    parser.add_argument("--version", type=_version, default=None,
                        help="integer version folder; default 'auto' = next free number")
    parser.add_argument("--name", default="classifier", help="model name (export/<name>/<version>)")
    return parser


def export_main(argv: Sequence[str] | None = None) -> int:
    args = build_export_parser().parse_args(argv)

    def body() -> int:
        setup_logging()
        from tfbert.export import export_run

        result = export_run(args.run, version=args.version, model_name=args.name)
        print(result.path)
        return 0

    return _guarded(body)
