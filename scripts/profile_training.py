"""Profile a few training steps: see `python scripts/profile_training.py --help`."""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tfbert  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from tfbert.profiling import format_shares, profile_training  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description="Trace training steps with tf.profiler and "
                                                 "print where the time goes, by op type.")
    parser.add_argument("--model", required=True, help="local model folder")
    parser.add_argument("--data", required=True, help="one CSV/JSONL/parquet file with text, label")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--precision", default="float32",
                        choices=("float32", "mixed_bfloat16", "mixed_float16"))
    parser.add_argument("--examples", type=int, default=512, help="training examples sampled")
    parser.add_argument("--warmup-steps", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10, help="steps traced")
    parser.add_argument("--logdir", default=None, help="keep the trace here (TensorBoard/xprof)")
    args = parser.parse_args()
    shares, seconds, out = profile_training(
        args.model, args.data, max_length=args.max_length, batch_size=args.batch_size,
        precision=args.precision, examples=args.examples, warmup_steps=args.warmup_steps,
        steps=args.steps, logdir=args.logdir)
    print(f"{args.precision}, batch {args.batch_size}, max length {args.max_length}: "
          f"{seconds:.2f} s per traced step; trace in {out}")
    print(format_shares(shares))
    return 0


if __name__ == "__main__":
    sys.exit(main())
