"""Where a training step spends its time: a TensorFlow profiler trace, summarised by op type.

Runs the shipped training path (tokenize once, bucketed `tf.data`, the compiled Keras model)
for a few warm-up steps, traces the next steps with `tf.profiler`, and reads the trace with
xprof's converter (optional, in the main environment: `pip install xprof==2.24.2`). A script,
not a test.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path


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
    seed: int = 42, logdir: str | None = None,
) -> tuple[list[OpShare], float, Path]:
    """Traces `steps` training steps after `warmup_steps`; returns op shares, s/step and the trace dir."""
    import time

    import tensorflow as tf

    from tfbert.benchmark import load_sample
    from tfbert.config import TrainConfig
    from tfbert.data import LabelSet
    from tfbert.features import make_dataset, tokenize_frame
    from tfbert.keras import keras
    from tfbert.model import build_model, build_optimizer, compile_model, load_tokenizer, precision_policy

    try:
        from xprof.convert import raw_to_tool_data
    except ImportError as err:
        raise RuntimeError("the profile summary needs xprof: pip install xprof==2.24.2"
                           ) from err
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
                                             warmup_steps + steps))
        model.fit(dataset, epochs=1, steps_per_epoch=warmup_steps, verbose=0)
        tf.profiler.experimental.start(str(out))
        start = time.perf_counter()
        model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
        seconds = (time.perf_counter() - start) / steps
        tf.profiler.experimental.stop()
    traces = sorted(out.glob("plugins/profile/*/*.xplane.pb"))
    if not traces:
        raise RuntimeError(f"the profiler wrote no trace under {out}")
    data, _ = raw_to_tool_data.xspace_to_tool_data([str(traces[-1])], "framework_op_stats", {})
    if data is None:
        raise RuntimeError(f"xprof could not read {traces[-1]}")
    return summarize_op_stats(data), seconds, out


def format_shares(shares: list[OpShare], top: int = 12) -> str:
    lines = ["| op type | occurrences | self time (ms) | share |", "|---|---|---|---|"]
    for s in shares[:top]:
        lines.append(f"| {s.op_type} | {s.occurrences:,} | {s.self_ms:,.1f} | {s.share:.1%} |")
    rest = shares[top:]
    if rest:
        lines.append(f"| (other {len(rest)} types) | {sum(s.occurrences for s in rest):,} | "
                     f"{sum(s.self_ms for s in rest):,.1f} | {sum(s.share for s in rest):.1%} |")
    return "\n".join(lines)
