"""`python -m benchmarks.speed`: tfbert vs the transformers TF recipe and the PyTorch Trainer; see docs."""

from __future__ import annotations

import argparse
import os
import sys

from benchmarks.speed.report import format_report
from benchmarks.speed.settings import BASE_ROWS, BenchmarkConfig
from tfbert.cli.console import is_verbose, setup_logging, start_tensorflow
from tfbert.config import PRECISIONS

DEFAULTS = BenchmarkConfig(model="", data="")  # the one source of every default below
TORCH_PYTHON_ENV = "TFBERT_TORCH_PYTHON"


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's options; the PyTorch interpreter defaults to $TFBERT_TORCH_PYTHON."""
    d = DEFAULTS
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.speed", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Training, inference and serving speed of tfbert vs the transformers TF recipe "
                    "and the PyTorch Trainer, same model, data and sizes, one row per process.")
    parser.add_argument("--model", default="../shared/models/all-MiniLM-L6-v2",
                        help="local model folder (PyTorch safetensors load in both venvs)")
    parser.add_argument("--data", default="../shared/data/imdb/train.parquet",
                        help="a file with text and label columns (shuffled with --seed first)")
    parser.add_argument("--max-length", type=int, default=d.max_length, help="tokens per text, truncated")
    parser.add_argument("--batch-size", type=int, default=d.batch_size, help="training examples per step")
    parser.add_argument("--steps", type=int, default=d.steps, help="timed training steps per row")
    parser.add_argument("--warmup-steps", type=int, default=d.warmup_steps, help="untimed steps before them")
    parser.add_argument("--train-size", type=int, default=d.train_size,
                        help="training pool drawn from --data")
    parser.add_argument("--eval-size", type=int, default=d.eval_size, help="held-out examples for inference")
    parser.add_argument("--eval-batch-size", type=int, default=d.eval_batch_size,
                        help="batch of the inference and serving throughput figures")
    parser.add_argument("--seed", type=int, default=d.seed, help="data shuffle and every row's seed")
    parser.add_argument("--rows", type=_ints, default=BASE_ROWS, help="which base rows, e.g. 1,3")
    parser.add_argument("--tfbert-precision", choices=PRECISIONS, default=d.tfbert_precision,
                        help="row 1's precision (auto: as train.py resolves it)")
    parser.add_argument("--tfbert-jit", action="store_true", default=d.tfbert_jit,
                        help="row 1 with jit_compile=True (XLA)")
    parser.add_argument("--pad-multiple", type=int, default=d.pad_multiple,
                        help="bucket width of row 1 and of 'bucket' variants")
    parser.add_argument("--variants", type=_names, default=d.variants,
                        help="extra tfbert rows, e.g. bucket+bf16,bucket+f32,bucket+f32+xla,dynamic+bf16")
    parser.add_argument("--pipeline-check-steps", type=int, default=d.pipeline_check_steps,
                        help="row 1: real pipeline vs in-memory batches over this many steps (0: off)")
    parser.add_argument("--torch-python", default=os.environ.get(TORCH_PYTHON_ENV) or None,
                        help=f"python of the PyTorch venv (or ${TORCH_PYTHON_ENV}; rows 4-6 are "
                             "skipped without it; see requirements-bench.txt)")
    parser.add_argument("--no-serving", dest="serving", action="store_false",
                        help="skip the serving latency of a tfbert export")
    parser.add_argument("--export-dir", default=d.export_dir,
                        help="an existing export (version, model or run folder); default: export --model")
    parser.add_argument("--serving-requests", type=int, default=d.serving_requests,
                        help="batch-1 requests per signature")
    parser.add_argument("--serving-batches", type=int, default=d.serving_batches,
                        help="batch-32 requests per signature")
    parser.add_argument("--peak-size", type=int, default=d.peak_size, help="matrix size of the matmul peak")
    parser.add_argument("--timeout", type=float, default=d.timeout, help="seconds allowed per row")
    parser.add_argument("--output", default=d.output, help="write the full report as JSON here")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show TensorFlow's own start-up and info lines")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parses the options, measures every row and prints the markdown report; returns the exit code."""
    args = build_parser().parse_args(argv)
    verbose = is_verbose(vars(args).pop("verbose"))
    setup_logging(verbose)
    try:
        cfg = BenchmarkConfig(**vars(args))
    except ValueError as err:
        print(f"python -m benchmarks.speed: error: {err}", file=sys.stderr)
        return 2
    start_tensorflow(verbose)
    from benchmarks.speed.runner import run  # loads TensorFlow: not needed for --help or a bad option

    print(format_report(run(cfg)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
