"""Command lines of the scripts: argument parsing into configs, and one table of exit codes.

One vocabulary across the scripts: `--model` is a checkpoint to fine-tune, `--run` a run folder
written by train.py, `--export` an export version folder.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from tfbert.config import (
    BEAM_OUTPUT_FORMATS,
    MONITOR_METRICS,
    PRECISIONS,
    STRATEGIES,
    TRUNCATIONS,
    BeamPredictConfig,
    DataConfig,
    LabelFileConfig,
    ModelConfig,
    OutputConfig,
    RunConfig,
    TrainConfig,
)
from tfbert.console import VERBOSE_ENV, is_verbose, quiet_child_processes, setup_logging, start_tensorflow
from tfbert.errors import ExitCode, ExportError, TfbertError

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
    """Flags of train.py; every default is read from the config dataclasses."""
    d, m, t, o = DataConfig(), ModelConfig(), TrainConfig(), OutputConfig()
    parser = argparse.ArgumentParser(
        prog="train.py", description="Fine-tune a BERT-family checkpoint as a text classifier.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    data = parser.add_argument_group("data")
    data.add_argument("--data", nargs="+", default=list(d.sources), metavar="SOURCE",
                      help="hub data set name, aclImdb folder, folder of train/validation/test "
                           "files, or files (split=PATH); CSV, TSV, JSONL, JSON, parquet")
    data.add_argument("--text-column", default=d.text_column)
    data.add_argument("--label-column", default=d.label_column)
    data.add_argument("--label-names", type=_names, default=d.label_names,
                      help="comma-separated class names in id order, e.g. negative,positive")
    data.add_argument("--train-size", type=int, default=d.train_size, help="stratified subset of train")
    data.add_argument("--val-size", type=_size, default=d.val_size,
                      help="validation examples (or fraction of train when carved from it)")
    data.add_argument("--test-size", type=int, default=d.test_size, help="stratified subset of test")
    data.add_argument("--max-length", type=int, default=d.max_length, help="tokens per text, truncated")
    data.add_argument("--truncation", choices=TRUNCATIONS, default=d.truncation,
                      help="which tokens a longer text keeps: its start, its end, or both")
    data.add_argument("--head-tokens", type=int, default=d.head_tokens,
                      help="with head+tail: tokens kept from the start (default: a quarter)")
    data.add_argument("--strict", action="store_true", default=d.strict,
                      help="stop on empty texts, missing labels or invalid UTF-8 instead of "
                           "dropping/replacing them")
    model = parser.add_argument_group("model")
    model.add_argument("--model", default=m.name_or_path, help="checkpoint to fine-tune: hub name "
                                                               "or local folder")
    model.add_argument("--precision", choices=PRECISIONS, default=m.precision,
                       help="auto: mixed_float16 on a GPU, mixed_bfloat16 on a CPU with native "
                            "bfloat16 (avx512_bf16, AMX), else float32")
    train = parser.add_argument_group("training")
    train.add_argument("--epochs", type=int, default=t.epochs)
    train.add_argument("--batch-size", type=int, default=t.batch_size)
    train.add_argument("--eval-batch-size", type=int, default=t.eval_batch_size)
    train.add_argument("--learning-rate", type=float, default=t.learning_rate,
                       help="suits small encoders such as MiniLM; use 2e-5 to 5e-5 for bert-base")
    train.add_argument("--weight-decay", type=float, default=t.weight_decay)
    train.add_argument("--warmup-ratio", type=float, default=t.warmup_ratio)
    train.add_argument("--monitor", choices=MONITOR_METRICS, default=t.monitor,
                       help="metric that picks the best epoch and drives early stopping")
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
    return _add_verbose(parser)


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


def _add_verbose(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show TensorFlow's and transformers' own start-up and info lines "
                             f"(also: {VERBOSE_ENV}=1)")
    return parser


def _start(args: argparse.Namespace) -> None:
    """TensorFlow loaded quietly (unless -v) and our logging set up, before the command's work."""
    verbose = is_verbose(args.verbose)
    setup_logging(verbose)  # first: TensorFlow's logger then uses our handler, not one of its own
    start_tensorflow(verbose)


def _guarded(body: Callable[[], int]) -> int:
    """Runs a command, turning a user-fixable error into one line on stderr and its exit code."""
    try:
        return body()
    except TfbertError as err:
        print(f"{err.kind}: {err}", file=sys.stderr)
        return err.exit_code


def train_main(argv: Sequence[str] | None = None) -> int:
    parser = build_train_parser()
    args = parser.parse_args(argv)
    try:
        cfg = train_config_from_args(args)
    except ValueError as err:
        parser.error(str(err))

    def body() -> int:
        _start(args)
        from tfbert import train

        result = train.run(cfg)
        log.info("done in %.0f s; run folder: %s", result.seconds, result.run_dir)
        return ExitCode.OK

    return _guarded(body)


def _add_run_flags(parser: argparse.ArgumentParser, export_too: bool) -> None:
    """`--run` (and `--export`), plus the old `--model` that meant a run folder."""
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--run", help="run folder written by train.py")
    if export_too:
        group.add_argument("--export", help="export version folder, e.g. "
                                            "saved_models/<run>/export/classifier/1")
    group.add_argument("--model", dest="legacy_model", help="deprecated: use --run"
                       + (" or --export" if export_too else ""))


def _resolve_run_flags(args: argparse.Namespace) -> None:
    """Maps the deprecated `--model` onto `--run` (or `--export` for a SavedModel folder)."""
    path = args.legacy_model
    if path is None:
        return
    as_export = hasattr(args, "export") and (Path(path) / "saved_model.pb").is_file()
    kind, flag = ("an export", "--export") if as_export else ("a run", "--run")
    print(f"note: --model for {kind} folder is deprecated; use {flag}", file=sys.stderr)
    setattr(args, "export" if as_export else "run", path)


def build_predict_parser() -> argparse.ArgumentParser:
    f = LabelFileConfig(input="in.csv", output="out.csv")  # only for its defaults
    parser = argparse.ArgumentParser(
        prog="predict.py", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Label texts with a fine-tuned run or its export: a few on the command "
                    "line, or a whole file streamed to an output file (resumable).")
    _add_run_flags(parser, export_too=True)
    parser.add_argument("texts", nargs="*", help="texts to label")
    parser.add_argument("--file", help="a text file with one text per line ('-' for stdin)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per text")
    parser.add_argument("--batch-size", type=int, default=32, help="texts per forward pass")
    big = parser.add_argument_group("a large file (read in chunks; run again to resume)")
    big.add_argument("--input", help="CSV, TSV, JSONL, JSON, parquet, or .txt (one text per line)")
    big.add_argument("--output", help="predictions file: .parquet, .csv or .jsonl")
    big.add_argument("--text-column", default=f.text_column)
    big.add_argument("--id-column", default=f.id_column,
                     help="column that identifies each row (default: the row number, from 0)")
    big.add_argument("--keep-columns", type=_names, default=f.keep_columns,
                     help="comma-separated input columns to copy into the output")
    big.add_argument("--chunk-rows", type=int, default=f.chunk_rows,
                     help="rows per committed chunk: at most this much work is redone after a crash")
    big.add_argument("--strict", action="store_true", default=f.strict,
                     help="stop at an empty or missing text or invalid UTF-8 instead of skipping")
    big.add_argument("--overwrite", action="store_true", default=f.overwrite,
                     help="label again even if the output (or an unfinished job) exists")
    return _add_verbose(parser)


def _read_lines(path: str) -> list[str]:
    from tfbert.errors import DataError

    if path == "-":
        return [line.rstrip("\n") for line in sys.stdin if line.strip()]
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return [line.rstrip("\n") for line in handle if line.strip()]
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror}") from err


def _load_classifier(args: argparse.Namespace):
    """The run folder's Keras model, or the export's raw-text signature (no transformers)."""
    if getattr(args, "export", None):
        from tfbert.exported import ExportedClassifier

        return ExportedClassifier(args.export, batch_size=args.batch_size)
    from tfbert.predict import Classifier

    return Classifier.from_run(args.run, batch_size=args.batch_size)


def _model_key(args: argparse.Namespace) -> str:
    """The model's path and the time it was written: a job never continues with another model."""
    path = Path(args.export or args.run).resolve()
    weights = path / ("saved_model.pb" if args.export else "tf_model.h5")
    return f"{path}@{weights.stat().st_mtime_ns if weights.exists() else 0}"


def _label_file(args: argparse.Namespace, cfg: LabelFileConfig) -> int:
    _start(args)
    from tfbert.batch_predict import predict_file

    summary = predict_file(_load_classifier(args), cfg, _model_key(args))
    if summary.already_complete:
        log.info("%s is already complete (--overwrite labels the file again)", cfg.output)
    else:
        log.info("%s in %.0f s", summary.describe(), summary.seconds)
    return ExitCode.OK


def predict_main(argv: Sequence[str] | None = None) -> int:
    parser = build_predict_parser()
    args = parser.parse_args(argv)
    _resolve_run_flags(args)
    if args.input or args.output:
        if args.texts or args.file or args.json or not (args.input and args.output):
            parser.error("--input needs --output, and neither goes with texts, --file or --json")
        try:
            cfg = LabelFileConfig(args.input, args.output, args.text_column, args.id_column,
                                  args.keep_columns, args.chunk_rows, args.strict, args.overwrite)
        except ValueError as err:
            parser.error(str(err))
        return _guarded(lambda: _label_file(args, cfg))
    if not args.texts and not args.file:
        parser.error("give texts as arguments, --file, or --input and --output")

    def body() -> int:
        _start(args)
        texts = list(args.texts) + (_read_lines(args.file) if args.file else [])
        for prediction in _load_classifier(args).predict(texts):
            if args.json:
                print(json.dumps(prediction.to_dict(), ensure_ascii=False))
            else:
                probs = "  ".join(f"{k}={v:.3f}" for k, v in prediction.probabilities.items())
                snippet = prediction.text if len(prediction.text) <= 60 else prediction.text[:57] + "..."
                print(f"{prediction.label}\t{probs}\t{snippet}")
        return ExitCode.OK

    return _guarded(body)


def build_evaluate_parser() -> argparse.ArgumentParser:
    d = DataConfig()
    parser = argparse.ArgumentParser(prog="evaluate.py",
                                     description="Evaluate a fine-tuned run on labelled data.")
    _add_run_flags(parser, export_too=False)
    parser.add_argument("--data", nargs="+", required=True, metavar="SOURCE",
                        help="same forms as train.py --data")
    parser.add_argument("--split", default=None, help="default: test, or the only split")
    parser.add_argument("--text-column", default=d.text_column)
    parser.add_argument("--label-column", default=d.label_column)
    parser.add_argument("--test-size", type=int, default=d.test_size, help="stratified subset size")
    parser.add_argument("--batch-size", type=int, default=TrainConfig().eval_batch_size)
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    return _add_verbose(parser)


def evaluate_main(argv: Sequence[str] | None = None) -> int:
    parser = build_evaluate_parser()
    args = parser.parse_args(argv)
    _resolve_run_flags(args)
    try:
        data_cfg = DataConfig(sources=tuple(args.data), text_column=args.text_column,
                              label_column=args.label_column, test_size=args.test_size,
                              seed=args.seed)
    except ValueError as err:
        parser.error(str(err))

    def body() -> int:
        _start(args)
        from tfbert.evaluate import evaluate_run, format_metrics

        metrics = evaluate_run(args.run, data_cfg, args.split, args.batch_size)
        print(json.dumps(metrics, indent=2) if args.json else format_metrics(metrics, "evaluation"))
        return ExitCode.OK

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
    parser.add_argument("--name", default=OutputConfig().export_name,
                        help="model name (export/<name>/<version>)")
    parser.add_argument("--compute-dtype", choices=("float32", "bfloat16"), default="float32",
                        help="bfloat16: faster on CPUs with native bfloat16 (avx512_bf16, AMX), "
                             "slower elsewhere; inputs and outputs stay the same")
    return _add_verbose(parser)


def export_main(argv: Sequence[str] | None = None) -> int:
    args = build_export_parser().parse_args(argv)

    def body() -> int:
        _start(args)
        from tfbert.export import export_run

        result = export_run(args.run, version=args.version, model_name=args.name,
                            compute_dtype=args.compute_dtype)
        print(result.path)
        return ExitCode.OK

    return _guarded(body)


def build_demo_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="demo.py", description="Serve a web demo of an exported classifier.")
    parser.add_argument("--export", required=True,
                        help="export version folder, e.g. saved_models/<run>/export/classifier/1")
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to listen on every interface")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--title", default="tfbert classifier")
    return _add_verbose(parser)


def demo_main(argv: Sequence[str] | None = None) -> int:
    """Serves the demo; imports neither transformers nor the training code."""
    args = build_demo_parser().parse_args(argv)
    _start(args)
    from tfbert.demo import build_app
    from tfbert.exported import ExportedClassifier

    try:
        classifier = ExportedClassifier(args.export)
    except (ExportError, OSError) as err:
        print(f"export error: {err}", file=sys.stderr)
        return ExitCode.RUN_FOLDER
    app = build_app(classifier, args.title)
    print(f"demo of {args.export} on http://{args.host}:{args.port}", flush=True)
    app.queue().launch(server_name=args.host, server_port=args.port, show_error=True)
    return ExitCode.OK


def build_predict_beam_parser() -> argparse.ArgumentParser:
    d = BeamPredictConfig(export="e", input="i", output="o")  # only for its defaults
    parser = argparse.ArgumentParser(
        prog="predict_beam.py", allow_abbrev=False, formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Label files of texts with an export on Apache Beam. Other --options go to Beam "
                    "(--runner, --direct_num_workers, --direct_running_mode, ...).")
    parser.add_argument("--export", required=True,
                        help="export version folder, e.g. saved_models/<run>/export/classifier/1")
    parser.add_argument("--input", required=True,
                        help="glob of CSV, TSV, JSONL, JSON, parquet or .txt (one text a line) files")
    parser.add_argument("--output", required=True, help="prefix of the output shards")
    parser.add_argument("--format", dest="output_format", choices=BEAM_OUTPUT_FORMATS,
                        default=d.output_format)
    parser.add_argument("--text-column", default=d.text_column)
    parser.add_argument("--id-column", default=d.id_column,
                        help="column that names each row (default: <file>:<row>, rows from 0)")
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--num-shards", type=int, default=d.num_shards,
                        help="output files; 0 lets the runner decide")
    parser.add_argument("--share-model", action="store_true", default=d.share_model,
                        help="one model per machine, shared by its worker processes")
    return _add_verbose(parser)


def predict_beam_main(argv: Sequence[str] | None = None) -> int:
    """Labels files on Apache Beam; flags this command does not know go to Beam."""
    parser = build_predict_beam_parser()
    args, pipeline_args = parser.parse_known_args(argv)
    verbose = vars(args).pop("verbose")
    _start(argparse.Namespace(verbose=verbose))  # before Beam's import sets up logging its way
    if not is_verbose(verbose):  # Beam's notes about cloud clients and its memory probe
        logging.getLogger().handlers[0].addFilter(
            lambda record: record.levelno >= logging.ERROR or "apache_beam" not in record.pathname)
    from tfbert.predict_beam import describe_skipped, run, unknown_pipeline_option

    if bad := unknown_pipeline_option(pipeline_args):
        parser.error(f"{bad} is neither a flag of this script nor a Beam pipeline option")
    if not is_verbose(verbose):
        if not any(a.startswith("--default_sdk_harness_log_level") for a in pipeline_args):
            pipeline_args.append("--default_sdk_harness_log_level=WARNING")  # worker processes too
    try:
        cfg = BeamPredictConfig(**vars(args), pipeline_args=tuple(pipeline_args))
    except ValueError as err:
        parser.error(str(err))

    def body() -> int:
        import tensorflow as tf

        has_gpu = bool(tf.config.list_physical_devices("GPU"))
        with quiet_child_processes(is_verbose(verbose), has_gpu):  # Beam's workers print to our stderr
            counts = run(cfg)
        log.info("labelled %d texts into %s-*.%s; skipped: %s", counts["labelled"], cfg.output,
                 cfg.output_format, describe_skipped(counts))
        return ExitCode.OK

    return _guarded(body)
