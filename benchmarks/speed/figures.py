"""A worker's raw timings and batch shapes turned into the table's figures, MFU and speed-ups."""

from __future__ import annotations

import statistics

import numpy as np

from benchmarks.speed.flops import BatchStats, EncoderShape, batch_flops
from benchmarks.speed.settings import SPEEDUP_BASES
from tfbert.features import padding_efficiency


def median_or_none(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _stats(rows: list[list[int]]) -> list[BatchStats]:
    return [BatchStats(*r) for r in rows]


def _efficiency(batches: list[BatchStats]) -> float:
    return padding_efficiency(b.token_counts for b in batches)


def _shape_notes(batches: list[BatchStats], durations: list[float], warmup: int) -> dict:
    """How many padded lengths the timed steps met, and the step time of first-seen vs known ones."""
    seen: set[int] = set()
    new_times, known_times, new_in_timed = [], [], 0
    for i, batch in enumerate(batches):
        is_new = batch.length not in seen
        seen.add(batch.length)
        if i < warmup:
            continue
        new_in_timed += is_new
        if i < len(durations):
            (new_times if is_new else known_times).append(durations[i])
    return {"distinct_lengths": len(seen), "new_lengths_in_timed": new_in_timed,
            "new_length_step_median_s": median_or_none(new_times),
            "known_length_step_median_s": median_or_none(known_times)}


def summarize_row(raw: dict, encoder: EncoderShape, peaks: dict, warmup: int, steps: int) -> dict:
    """Turns a worker's raw timings and batch shapes into the table's figures.

    Args:
        raw: the worker's result: `train` (start, step ends, batches), `inference`, `pool_batches`.
        encoder: the model's sizes, for FLOPs.
        peaks: matmul FLOP/s by dtype (`float32`, `bfloat16`), for MFU.
        warmup: untimed steps at the start.
        steps: timed steps after them.
    """
    train = raw["train"]
    batches = _stats(train["batches"])
    ends = train["step_ends"]
    durations = list(np.diff([train["start"], *ends]))
    first = ends[warmup - 1] if warmup else train["start"]
    elapsed = ends[warmup + steps - 1] - first
    timed = batches[warmup:warmup + steps]
    model_flops, hardware_flops = batch_flops(timed, encoder)
    peak_dtype = "bfloat16" if raw.get("precision") == "mixed_bfloat16" else "float32"
    peak = peaks.get(peak_dtype)

    inference = raw["inference"]
    infer_batches = _stats(inference["batches"])
    infer_examples = sum(b.rows for b in infer_batches)
    infer_model_flops, _ = batch_flops(infer_batches, encoder, training=False)
    figures = {
        "train_examples_per_s": sum(b.rows for b in timed) / elapsed,
        "train_real_tokens_per_s": sum(b.real for b in timed) / elapsed,
        "train_computed_tokens_per_s": sum(b.computed for b in timed) / elapsed,
        "padding_efficiency": _efficiency(timed),
        "pool_padding_efficiency": _efficiency(_stats(raw["pool_batches"])),
        "timed_seconds": elapsed,
        "step_median_s": median_or_none(durations[warmup:warmup + steps]),
        "model_flops_per_s": model_flops / elapsed,
        "hardware_flops_per_s": hardware_flops / elapsed,
        "mfu": model_flops / elapsed / peak if peak else None,
        "hfu": hardware_flops / elapsed / peak if peak else None,
        "mfu_vs_float32_peak": model_flops / elapsed / peaks["float32"] if peaks.get("float32") else None,
        "mfu_peak_dtype": peak_dtype,
        "inference_examples_per_s": infer_examples / inference["seconds"],
        "inference_cold_examples_per_s": infer_examples / inference["cold_seconds"],
        "inference_padding_efficiency": _efficiency(infer_batches),
        "inference_mfu": (infer_model_flops / inference["seconds"] / peak) if peak else None,
        "peak_rss_mb": raw["peak_rss_mb"],
        "train_function_traces": train.get("traces"),
    }
    figures.update(_shape_notes(batches, durations, warmup))
    return figures


def add_speedups(rows: list[dict]) -> None:
    """Adds, to every measured row, its speed relative to rows 3, 4 and 5 where those were measured.

    Training compares real tokens/s (rows see different examples, so examples/s would reward
    short batches); inference compares examples/s on the same held-out sample.
    """
    figures = {r["key"]: r["figures"] for r in rows if r["status"] == "ok"}
    for row in rows:
        if row["status"] != "ok":
            continue
        mine = row["figures"]
        row["speedups"] = {
            base: {"train": mine["train_real_tokens_per_s"] / figures[base]["train_real_tokens_per_s"],
                   "inference": mine["inference_examples_per_s"]
                   / figures[base]["inference_examples_per_s"]}
            for base in SPEEDUP_BASES if base in figures
        }
