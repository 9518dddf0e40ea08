"""The inference benchmark's figures: rates, model FLOP utilisation and ratios inside each round."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.speed.flops import EncoderShape
from benchmarks.speed.inference_rows import ORT_KEYS, PEER_KEY, InferenceRow


def padded_tokens(lengths: np.ndarray, batch: int) -> int:
    """Tokens computed when consecutive texts share batches padded to their longest."""
    return int(sum(len(part) * part.max() for part in np.array_split(
        lengths, range(batch, len(lengths), batch))))


def _per_round_ratios(rates: dict[str, list[float]], key: str, peers: list[str]) -> float | None:
    """Median over rounds of this row's rate ÷ the best of `peers` in the same round."""
    ratios = []
    for i, rate in enumerate(rates[key]):
        best = max((rates[p][i] for p in peers if p in rates and len(rates[p]) > i), default=None)
        if best:
            ratios.append(rate / best)
    return float(np.median(ratios)) if ratios else None


def summarize(cfg, rows: list[InferenceRow], lengths: np.ndarray, order: np.ndarray,
              passes: dict, latency: dict, peaks: list[dict], missing: dict, infos: dict) -> dict:
    """Everything the report prints, and the raw timings behind it."""
    encoder = EncoderShape.from_model_dir(cfg.model)
    flops = encoder.flops(int(lengths.sum()), int((lengths ** 2).sum()), training=False)
    padded = {"sorted": padded_tokens(lengths[order], cfg.batch_size),
              "data": padded_tokens(lengths, cfg.batch_size)}
    rates = {key: [p["examples"] / p["seconds"] for p in found] for key, found in passes.items()}
    table = []
    for row in rows:
        entry = {"key": row.key, "title": row.title, "dtype": row.dtype,
                 "order": "sorted" if row.sorted else "data order"}
        if row.key not in rates:
            table.append({**entry, "status": missing.get(row.key, "not measured")})
            continue
        mfu = [flops * rate / cfg.eval_size / peaks[i][row.dtype]
               for i, rate in enumerate(rates[row.key])]
        entry.update(status="ok", rates=rates[row.key], examples_per_s=float(np.median(rates[row.key])),
                     mfu=float(np.median(mfu)), info=infos.get(row.key, {}),
                     over_peer=_per_round_ratios(rates, row.key, [PEER_KEY]),
                     over_best_ort=_per_round_ratios(rates, row.key, list(ORT_KEYS)))
        if row.key in latency:
            p50 = [1000 * float(np.percentile(times, 50)) for times in latency[row.key]]
            p99 = [1000 * float(np.percentile(times, 99)) for times in latency[row.key]]
            entry.update(p50_ms=float(np.median(p50)), p99_ms=float(np.median(p99)),
                         p50_ms_rounds=p50, latency_seconds=latency[row.key])
        table.append(entry)
    return {"rows": table, "peaks": peaks, "model_flops_per_pass": flops,
            "real_tokens": int(lengths.sum()), "padded_tokens": padded,
            "padding_efficiency": {k: int(lengths.sum()) / v for k, v in padded.items()},
            "mean_latency_tokens": float(lengths[:cfg.latency_texts].mean()),
            "model": Path(cfg.model).name, "passes": passes}


def _fmt(value, pattern: str, none: str = "–") -> str:
    return none if value is None else pattern.format(value)


def format_inference_report(report: dict) -> str:
    """The markdown table of one run, with its machine and peaks."""
    settings, machine = report["settings"], report["machine"]
    peaks = report["peaks"]
    median_peak = {k: np.median([p[k] for p in peaks]) / 1e9 for k in peaks[0]} if peaks else {}
    lines = [
        f"Inference, {report['model']}: {settings['eval_size']} held-out texts (max length "
        f"{settings['max_length']}, {report['real_tokens']:,} tokens), batch {settings['batch_size']}; "
        f"{settings['rounds']} rounds, rows taking turns; batch 1: the first "
        f"{settings['latency_texts']} texts ({report['mean_latency_tokens']:.0f} tokens on average).",
        "",
        "| row | what | dtype | order | ex/s (median) | min–max | MFU | × PyTorch bf16 | "
        "× best ORT | p50 ms b1 | p99 ms b1 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        if row["status"] != "ok":
            lines.append(f"| {row['key']} | {row['title']} | {row['dtype']} | {row['order']} | "
                         f"{row['status']} | | | | | | |")
            continue
        lines.append(
            f"| {row['key']} | {row['title']} | {row['dtype']} | {row['order']} | "
            f"{row['examples_per_s']:.1f} | {min(row['rates']):.1f}–{max(row['rates']):.1f} | "
            f"{row['mfu']:.1%} | {_fmt(row['over_peer'], '{:.2f}×')} | "
            f"{_fmt(row['over_best_ort'], '{:.2f}×')} | {_fmt(row.get('p50_ms'), '{:.1f}')} | "
            f"{_fmt(row.get('p99_ms'), '{:.1f}')} |")
    efficiency = report["padding_efficiency"]
    lines += [
        "",
        f"Matmul peaks (TensorFlow, 2048², median of the rounds): float32 "
        f"{median_peak.get('float32', 0):.0f}, bfloat16 {median_peak.get('bfloat16', 0):.0f}, "
        f"int8 {median_peak.get('int8', 0):.0f} GFLOP/s (int8: GOP/s); MFU = model FLOPs on real "
        "tokens ÷ the peak of the row's dtype in the same round. Ratios: the median over rounds "
        "of this row ÷ the peer in the same round.",
        f"Padding efficiency: sorted {efficiency['sorted']:.3f}, data order {efficiency['data']:.3f}.",
        f"Machine: {machine['cpu_model']}, {machine['logical_cpus']} CPUs, avx512_bf16 "
        f"{'yes' if machine['avx512_bf16'] else 'no'}, amx_bf16 {'yes' if machine['amx_bf16'] else 'no'}; "
        f"load average {machine['load_average_at_start'][0]:.2f} at start, "
        f"{machine['load_average_at_end'][0]:.2f} at end; {report['seconds'] / 60:.1f} min.",
    ]
    return "\n".join(lines)
