"""`python -m benchmarks.speed.profile_training`: where a training step spends its time, by op type."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.speed.sample import load_sample
from tfbert.config import PRECISIONS, TrainConfig
from tfbert.data import LabelSet


@dataclass(frozen=True)
class OpShare:
    """Self time of one TensorFlow op type over the traced steps."""

    op_type: str
    occurrences: int
    self_ms: float
    share: float  # of all op self time on the host (idle time left out)


def _table_rows(payload) -> list[dict]:
    """Rows of a gviz DataTable (xprof's JSON), as dicts keyed by column label or id."""
    table = payload[0] if isinstance(payload, list) else payload
    keys = [c.get("label") or c.get("id") for c in table["cols"]]
    return [{k: (cell or {}).get("v") for k, cell in zip(keys, row["c"], strict=False)}
            for row in table["rows"]]


def summarize_op_stats(raw: bytes | str) -> list[OpShare]:
    """Op-type shares from xprof's `framework_op_stats` output, largest first."""
    payload = json.loads(raw)
    by_type: dict[str, list[float]] = {}
    for row in _table_rows(payload):
        host = str(row.get("Host/device", row.get("Host/Device", "Host"))).lower()
        if host not in ("host", "cpu") and "host" not in host:
            continue
        kind = str(row.get("Operation Type") or row.get("Type") or "?")
        if kind == "IDLE":  # threads waiting, not work
            continue
        count = float(row.get("#Occurrences") or row.get("Occurrences") or 0)
        self_us = float(row.get("Total self-time (us)") or 0)
        bucket = by_type.setdefault(kind, [0.0, 0.0])
        bucket[0] += count
        bucket[1] += self_us
    total = sum(v[1] for v in by_type.values()) or 1.0
    shares = [OpShare(k, int(v[0]), v[1] / 1000, v[1] / total) for k, v in by_type.items()]
    return sorted(shares, key=lambda s: s.self_ms, reverse=True)


def profile_training(
    model_path: str, data_path: str, *, max_length: int = 512, batch_size: int = 16,
    precision: str = "float32", examples: int = 512, warmup_steps: int = 5, steps: int = 10,
    seed: int = 42, logdir: str | None = None, keras_dropout: bool = False,
) -> tuple[list[OpShare], float, Path]:
    """Traces `steps` training steps after `warmup_steps` of the shipped training path.

    That path: tokenize once, bucketed `tf.data`, the compiled Keras model. The trace is read with
    xprof's converter (optional, in the main environment: `pip install xprof==2.24.2`).

    Returns:
        The op-type shares, seconds per traced step and the folder holding the trace.
    Raises:
        RuntimeError: xprof is not installed, or it could not read the trace.
    """
    import tensorflow as tf  # here, not above: tfbert must set TF_USE_LEGACY_KERAS first

    from tfbert.base.keras import keras
    from tfbert.features import make_dataset, tokenize_frame
    from tfbert.model import build_model, build_optimizer, compile_model, load_tokenizer, precision_policy

    try:
        from xprof.convert import raw_to_tool_data
    except ImportError as err:
        raise RuntimeError("the profile summary needs xprof: pip install xprof==2.24.2") from err
    train, _, names = load_sample(data_path, seed, examples, 0)
    tokenizer = load_tokenizer(model_path)
    split = tokenize_frame(train, tokenizer, max_length, show_progress=False)
    dataset = make_dataset(split, batch_size, tokenizer.pad_token_id or 0, shuffle=True,
                           seed=seed, bucketing=True).repeat()
    out = Path(logdir or tempfile.mkdtemp(prefix="tfbert-profile-"))
    with precision_policy(precision):
        keras.utils.set_random_seed(seed)
        model = build_model(model_path, LabelSet(tuple(names)))
        compile_model(model, build_optimizer(TrainConfig(batch_size=batch_size),
                                             warmup_steps + steps),
                      seed=seed, counter_dropout=not keras_dropout)
        model.fit(dataset, epochs=1, steps_per_epoch=warmup_steps, verbose=0)
        tf.profiler.experimental.start(str(out))
        start = time.perf_counter()
        model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
        seconds = (time.perf_counter() - start) / steps
        tf.profiler.experimental.stop()
    return read_trace_op_stats(out, raw_to_tool_data), seconds, out


def read_trace_op_stats(out: Path, raw_to_tool_data) -> list[OpShare]:
    """The op-type shares of the newest trace `tf.profiler` wrote under `out` (read with xprof)."""
    traces = sorted(out.glob("plugins/profile/*/*.xplane.pb"))
    if not traces:
        raise RuntimeError(f"the profiler wrote no trace under {out}")
    data, _ = raw_to_tool_data.xspace_to_tool_data([str(traces[-1])], "framework_op_stats", {})
    if data is None:
        raise RuntimeError(f"xprof could not read {traces[-1]}")
    return summarize_op_stats(data)


def format_shares(shares: list[OpShare], top: int = 12) -> str:
    """A markdown table of the `top` op types, the rest summed in one line."""
    lines = ["| op type | occurrences | self time (ms) | share |", "|---|---|---|---|"]
    for s in shares[:top]:
        lines.append(f"| {s.op_type} | {s.occurrences:,} | {s.self_ms:,.1f} | {s.share:.1%} |")
    rest = shares[top:]
    if rest:
        lines.append(f"| (other {len(rest)} types) | {sum(s.occurrences for s in rest):,} | "
                     f"{sum(s.self_ms for s in rest):,.1f} | {sum(s.share for s in rest):.1%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parses the options, profiles, prints seconds per step and the op-type table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed.profile_training",
                                     description="Trace training steps with tf.profiler and "
                                                 "print where the time goes, by op type.")
    parser.add_argument("--model", required=True, help="local model folder")
    parser.add_argument("--data", required=True, help="one CSV/JSONL/parquet file with text, label")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--precision", default="float32",
                        choices=tuple(p for p in PRECISIONS if p != "auto"))
    parser.add_argument("--examples", type=int, default=512, help="training examples sampled")
    parser.add_argument("--warmup-steps", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10, help="steps traced")
    parser.add_argument("--logdir", default=None, help="keep the trace here (TensorBoard/xprof)")
    parser.add_argument("--keras-dropout", action="store_true",
                        help="Keras' own dropout instead of the shipped counter-based one")
    args = parser.parse_args(argv)
    shares, seconds, out = profile_training(
        args.model, args.data, max_length=args.max_length, batch_size=args.batch_size,
        precision=args.precision, examples=args.examples, warmup_steps=args.warmup_steps,
        steps=args.steps, logdir=args.logdir, keras_dropout=args.keras_dropout)
    dropout = "Keras dropout" if args.keras_dropout else "counter dropout"
    print(f"{args.precision}, {dropout}, batch {args.batch_size}, max length {args.max_length}: "
          f"{seconds:.2f} s per traced step; trace in {out}")
    print(format_shares(shares))
    return 0


if __name__ == "__main__":
    sys.exit(main())
