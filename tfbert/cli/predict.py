"""`scripts/predict.py`: label a few texts, or a whole file streamed to an output (resumable)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from tfbert.base.errors import DataError, ExitCode
from tfbert.cli.common import (
    TEXT_COLUMN_HELP,
    add_compute_dtype_flag,
    add_run_flags,
    add_verbose_flag,
    guarded,
    parse_names,
    parse_text_columns,
    resolve_run_flags,
    start,
)
from tfbert.config import PredictConfig
from tfbert.labelling.config import LabelFileConfig

log = logging.getLogger("tfbert")


def build_parser() -> argparse.ArgumentParser:
    f = LabelFileConfig(input="in.csv", output="out.csv")  # only for its defaults
    parser = argparse.ArgumentParser(
        prog="predict.py", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Label texts with a fine-tuned run or its export: a few on the command "
                    "line, or a whole file streamed to an output file (resumable).")
    add_run_flags(parser, export_too=True)
    parser.add_argument("texts", nargs="*", help="texts to label")
    parser.add_argument("--text-pair", action="append", default=None, metavar="TEXT",
                        help="a pair model: the second text of each text given, in order "
                             "(repeat the flag for several texts)")
    parser.add_argument("--file", help="a text file with one text per line ('-' for stdin); for "
                                       "a pair model, JSON lines {\"text\": ..., \"text_pair\": ...}")
    parser.add_argument("--json", action="store_true", help="print one JSON object per text")
    parser.add_argument("--batch-size", type=int, default=PredictConfig().batch_size,
                        help="texts per forward pass")
    add_compute_dtype_flag(parser)
    big = parser.add_argument_group("a large file (read in chunks; run again to resume)")
    big.add_argument("--input", help="CSV, TSV, JSONL, JSON, parquet, or .txt (one text per line)")
    big.add_argument("--output", help="predictions file: .parquet, .csv or .jsonl")
    big.add_argument("--text-column", type=parse_text_columns, default=f.text_column,
                     help=TEXT_COLUMN_HELP)
    big.add_argument("--id-column", default=f.id_column,
                     help="column that identifies each row (default: the row number, from 0)")
    big.add_argument("--keep-columns", type=parse_names, default=f.keep_columns,
                     help="comma-separated input columns to copy into the output")
    big.add_argument("--chunk-rows", type=int, default=f.chunk_rows,
                     help="rows per committed chunk: at most this much work is redone after a crash")
    big.add_argument("--strict", action="store_true", default=f.strict,
                     help="stop at an empty or missing text, a malformed JSON line or invalid "
                          "UTF-8 instead of skipping")
    big.add_argument("--overwrite", action="store_true", default=f.overwrite,
                     help="label again even if the output (or an unfinished job) exists")
    return add_verbose_flag(parser)


def _read_lines(path: str) -> list[str]:
    if path == "-":
        return [line.rstrip("\n") for line in sys.stdin if line.strip()]
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return [line.rstrip("\n") for line in handle if line.strip()]
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror}") from err


def _read_pairs(lines: list[str], source: str) -> tuple[list[str], list[str]]:
    """JSON lines of {"text": ..., "text_pair": ...}: the inputs of a pair model."""
    texts, pairs = [], []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{source}: line {number} is not JSON ({err.msg}); a pair model reads "
                            'lines like {"text": "...", "text_pair": "..."}') from err
        if not isinstance(record, dict) or not all(isinstance(record.get(k), (str, int, float))
                                                   for k in ("text", "text_pair")):
            raise DataError(f"{source}: line {number} needs the strings \"text\" and "
                            "\"text_pair\"")
        # a number is read as its text, as the file reader does (a review "5" is a review)
        text, pair = (v if isinstance(v, str) else json.dumps(v)
                      for v in (record["text"], record["text_pair"]))
        texts.append(text)
        pairs.append(pair)
    return texts, pairs


def load_classifier(args: argparse.Namespace):
    """The run folder's Keras model, or the export's raw-text signature (no transformers)."""
    if getattr(args, "export", None):
        from tfbert.serving.exported import ExportedClassifier

        return ExportedClassifier(args.export, batch_size=args.batch_size)
    from tfbert.predict import Classifier

    return Classifier.from_run(args.run, batch_size=args.batch_size,
                               compute_dtype=args.compute_dtype or PredictConfig().compute_dtype)


def _model_key(args: argparse.Namespace, classifier) -> str:
    """The model's path, the time it was written and what it computes in: a job never continues
    with another model, nor mixes float32 and bfloat16 answers."""
    path = Path(args.export or args.run).resolve()
    weights = path / ("saved_model.pb" if args.export else "tf_model.h5")
    key = f"{path}@{weights.stat().st_mtime_ns if weights.exists() else 0}"
    dtype = getattr(classifier, "compute_dtype", "float32")
    return key if dtype == "float32" else f"{key}:{dtype}"


def _label_file(args: argparse.Namespace, cfg: LabelFileConfig) -> int:
    start(args.verbose)
    from tfbert.labelling.file_job import check_job, predict_file

    check_job(cfg)  # a bad input or output is refused before the model loads
    classifier = load_classifier(args)
    summary = predict_file(classifier, cfg, _model_key(args, classifier))
    if summary.already_complete:
        log.info("%s is already complete (--overwrite labels the file again)", cfg.output)
    else:
        log.info("%s in %.0f s", summary.describe(), summary.seconds)
    return ExitCode.OK


def _inputs(args: argparse.Namespace, is_pair: bool) -> tuple[list[str], list[str] | None]:
    """The texts (and second texts) of the command line and of --file."""
    lines = _read_lines(args.file) if args.file else []
    if not is_pair:
        if args.text_pair:
            raise DataError("--text-pair: this model classifies one text, not pairs")
        return list(args.texts) + lines, None
    given = list(args.text_pair or [])
    if len(given) != len(args.texts):
        raise DataError(f"a pair model needs one --text-pair per text: {len(args.texts)} texts, "
                        f"{len(given)} --text-pair")
    texts, pairs = _read_pairs(lines, "stdin" if args.file == "-" else str(args.file))
    return list(args.texts) + texts, given + pairs


def _line(prediction) -> str:
    """One tab-separated line: the answer (class, label set or score), probabilities, text."""
    shown = prediction.text + ("" if prediction.text_pair is None else f" || {prediction.text_pair}")
    snippet = shown if len(shown) <= 60 else shown[:57] + "..."
    if prediction.score is not None:
        return f"{prediction.score:.4f}\t{snippet}"
    probs = "  ".join(f"{k}={v:.3f}" for k, v in prediction.probabilities.items())
    answer = prediction.label if prediction.labels is None else "|".join(prediction.labels) or "(none)"
    return f"{answer}\t{probs}\t{snippet}"


def _label_texts(args: argparse.Namespace) -> int:
    start(args.verbose)
    classifier = load_classifier(args)
    texts, pairs = _inputs(args, classifier.is_pair)
    if not texts:
        raise DataError(f"{'stdin' if args.file == '-' else args.file}: no texts to label "
                        "(every line is empty)")
    for prediction in classifier.predict(texts, pairs):
        print(json.dumps(prediction.to_dict(), ensure_ascii=False) if args.json
              else _line(prediction))
    return ExitCode.OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    resolve_run_flags(args)
    try:
        PredictConfig(batch_size=args.batch_size)
    except ValueError as err:
        parser.error(str(err))
    if args.export and args.compute_dtype:
        parser.error("--compute-dtype applies to --run; an export computes in the dtype it was "
                     "exported with (scripts/export.py --compute-dtype)")
    if args.input or args.output:
        if args.texts or args.text_pair or args.file or args.json or not (args.input and args.output):
            parser.error("--input needs --output, and neither goes with texts, --text-pair, "
                         "--file or --json")
        try:
            cfg = LabelFileConfig(args.input, args.output, *args.text_column, args.id_column,
                                  args.keep_columns, args.chunk_rows, args.strict, args.overwrite)
        except ValueError as err:
            parser.error(str(err))
        return guarded(lambda: _label_file(args, cfg))
    if not args.texts and not args.file:
        parser.error("give texts as arguments, --file, or --input and --output")
    return guarded(lambda: _label_texts(args))
