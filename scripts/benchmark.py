"""Benchmark tfbert against the transformers TF and PyTorch Trainer recipes: see docs/benchmarks.md."""

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tfbert.benchmark import DEFAULT_TORCH_PYTHON, BenchmarkConfig, format_report, run  # noqa: E402
from tfbert.config import PRECISIONS, ModelConfig, TrainConfig  # noqa: E402


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benchmark.py", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Training, inference and serving speed of tfbert vs the transformers TF recipe "
                    "and the PyTorch Trainer, same model, data and sizes, one row per process.")
    parser.add_argument("--model", default="../shared/models/all-MiniLM-L6-v2",
                        help="local model folder (PyTorch safetensors load in both venvs)")
    parser.add_argument("--data", default="../shared/data/imdb/train.parquet",
                        help="a file with text and label columns (shuffled with --seed first)")
    parser.add_argument("--max-length", type=int, default=512, help="tokens per text, truncated")
    parser.add_argument("--batch-size", type=int, default=16, help="training examples per step")
    parser.add_argument("--steps", type=int, default=30, help="timed training steps per row")
    parser.add_argument("--warmup-steps", type=int, default=5, help="untimed steps before them")
    parser.add_argument("--train-size", type=int, default=4000, help="training pool drawn from --data")
    parser.add_argument("--eval-size", type=int, default=256, help="held-out examples for inference")
    parser.add_argument("--eval-batch-size", type=int, default=32,
                        help="batch of the inference and serving throughput figures")
    parser.add_argument("--seed", type=int, default=42, help="data shuffle and every row's seed")
    parser.add_argument("--rows", type=_ints, default=(1, 2, 3, 4, 5), help="which base rows, e.g. 1,3")
    parser.add_argument("--tfbert-precision", choices=PRECISIONS, default=ModelConfig().precision,
                        help="row 1's precision (auto: float32 on a CPU)")
    parser.add_argument("--tfbert-jit", action="store_true", default=TrainConfig().jit_compile,
                        help="row 1 with jit_compile=True (XLA)")
    parser.add_argument("--pad-multiple", type=int, default=TrainConfig().pad_multiple,
                        help="bucket width of row 1 and of 'bucket' variants")
    parser.add_argument("--variants", type=_names, default=(),
                        help="extra tfbert rows, e.g. bucket+bf16,bucket+f32,bucket+f32+xla,dynamic+bf16")
    parser.add_argument("--pipeline-check-steps", type=int, default=10,
                        help="row 1: real pipeline vs in-memory batches over this many steps (0: off)")
    parser.add_argument("--torch-python", default=str(DEFAULT_TORCH_PYTHON) if DEFAULT_TORCH_PYTHON.exists()
                        else None, help="python of the PyTorch venv (rows 4-5 are skipped without it)")
    parser.add_argument("--no-serving", dest="serving", action="store_false",
                        help="skip the serving latency of a tfbert export")
    parser.add_argument("--export-dir", default=None,
                        help="an existing export (version, model or run folder); default: export --model")
    parser.add_argument("--serving-requests", type=int, default=100, help="batch-1 requests per signature")
    parser.add_argument("--serving-batches", type=int, default=4, help="batch-32 requests per signature")
    parser.add_argument("--peak-size", type=int, default=2048, help="matrix size of the matmul peak")
    parser.add_argument("--timeout", type=float, default=None, help="seconds allowed per row")
    parser.add_argument("--output", default=None, help="write the full report as JSON here")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    try:
        cfg = BenchmarkConfig(**vars(args))
    except ValueError as err:
        print(f"benchmark.py: error: {err}", file=sys.stderr)
        return 2
    print(format_report(run(cfg)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
