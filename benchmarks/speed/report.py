"""The printed report: the figures table, speed-ups, matmul peaks, notes, serving and the machine."""

from __future__ import annotations

from pathlib import Path

from benchmarks.speed.machine import BUSY_WARNING
from benchmarks.speed.settings import SPEEDUP_BASES
from benchmarks.speed.timing import PEAK_REPEATS, PEAK_TRIALS

MAIN_HEADERS = ["#", "row", "setup", "train ex/s", "real tok/s", "pad eff", "infer ex/s",
                "peak RSS MB", "MFU"]


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    """A markdown table with columns padded to a common width (readable raw and rendered)."""
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]

    def line(cells) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|",
                      *(line(r) for r in rows)])


def _fmt(value, spec: str, suffix: str = "") -> str:
    return "—" if value is None else f"{value:{spec}}{suffix}"


def _gflops(value: float | None) -> str:
    return _fmt(value / 1e9 if value else None, ".1f", " GFLOP/s")


def _main_rows(report: dict) -> list[list[str]]:
    table = []
    for row in report["rows"]:
        if row["status"] != "ok":
            table.append([row["key"], row["title"], f"{row['status']} (see below)"] + ["—"] * 6)
            continue
        f = row["figures"]
        table.append([row["key"], row["title"], row["setup"], _fmt(f["train_examples_per_s"], ",.2f"),
                      _fmt(f["train_real_tokens_per_s"], ",.0f"), _fmt(f["padding_efficiency"], ".3f"),
                      _fmt(f["inference_examples_per_s"], ",.2f"), _fmt(f["peak_rss_mb"], ",.0f"),
                      _fmt(100 * f["mfu"] if f["mfu"] is not None else None, ".1f", "%")])
    return table


def _speedup_rows(report: dict) -> list[list[str]]:
    table = []
    for row in report["rows"]:
        if row["status"] != "ok":
            continue
        ratios = row.get("speedups", {})
        cells = [_fmt(ratios.get(b, {}).get(kind), ".2f", "×")
                 for kind in ("train", "inference") for b in SPEEDUP_BASES]
        table.append([row["key"], row["title"], *cells])
    return table


def _busy_warning(report: dict) -> str | None:
    busy = [report["machine"].get("busy_cores_at_start")]
    busy += [row.get("busy_cores_before") for row in report["rows"]]
    worst = max((b for b in busy if b is not None), default=None)
    if worst is None or worst <= BUSY_WARNING:
        return None
    return (f"**Warning: up to {worst:.1f} cores were busy with other work before a row started; "
            "these figures are skewed (PyTorch's most). Rerun on an idle machine.**")


def _notes(report: dict) -> list[str]:
    lines = []
    check = report.get("pipeline_check")
    if check and check["in_memory_step_s"]:
        lines.append(
            f"- Input pipeline (row 1, the same {check['steps']} batches): real tf.data "
            f"{1000 * check['real_pipeline_step_s']:.0f} ms/step vs in memory "
            f"{1000 * check['in_memory_step_s']:.0f} ms/step (ratio {check['ratio']:.2f}; "
            "near 1 means the model, not the pipeline, sets the pace).")
    for row in report["rows"]:
        if row["status"] != "ok":
            lines.append(f"- Row {row['key']} {row['message']}")
            continue
        f = row["figures"]
        traces = f["train_function_traces"]
        text = (f"- Row {row['key']}: {f['distinct_lengths']} distinct padded lengths, "
                f"{f['new_lengths_in_timed']} first met during timed steps")
        if traces is not None:
            text += f"; train_function traced {traces}×"
        if f["new_length_step_median_s"] is not None and f["known_length_step_median_s"] is not None:
            text += (f"; median step {f['new_length_step_median_s']:.2f} s on a new length vs "
                     f"{f['known_length_step_median_s']:.2f} s on a known one")
        lines.append(text + f"; padding efficiency over a whole pass of the pool "
                            f"{_fmt(f['pool_padding_efficiency'], '.3f')}.")
    return lines


def _serving_section(serving: dict | None) -> list[str]:
    if serving is None:
        return []
    if serving.get("status") != "ok":
        return ["", f"Serving: {serving.get('message')}"]
    rows = [[name, _fmt(s["p50_ms"], ".1f"), _fmt(s["p99_ms"], ".1f"),
             _fmt(s["batch_examples_per_s"], ".2f")] for name, s in serving["signatures"].items()]
    lines = ["", f"### Serving ({serving['export']}; batch 1: {serving['requests']} reviews, "
             f"{serving['mean_tokens_per_request']:.0f} tokens on average; batch "
             f"{serving['batch_size']}: {serving['batches']} batches)", "",
             format_table(["signature", "p50 ms (batch 1)", "p99 ms (batch 1)",
                           f"ex/s (batch {serving['batch_size']})"], rows)]
    if "text_over_token_ids_p50" in serving:
        lines += ["", f"Raw-text ÷ token-id latency at batch 1 (p50): "
                      f"{serving['text_over_token_ids_p50']:.2f}×"]
    return lines


def format_report(report: dict) -> str:
    """The report of `runner.run` as markdown: tables, peaks, notes, serving and machine."""
    s, m, peaks = report["settings"], report["machine"], report["peak_flops"]
    title = (f"## tfbert benchmark: {Path(s['model']).name}, {Path(s['data']).name}, max length "
             f"{s['max_length']}, batch {s['batch_size']}, {s['steps']} timed steps after "
             f"{s['warmup_steps']} warm-up")
    speed_headers = ["#", "row"] + [f"{kind} ÷ row {b}" for kind in ("train", "infer") for b in SPEEDUP_BASES]
    torch_peaks = peaks.get("torch")
    peak_line = (f"Dense matmul peak ({peaks['matmul_size']}², best of {PEAK_TRIALS}×{PEAK_REPEATS}): "
                 f"TensorFlow float32 {_gflops(peaks.get('float32'))}, "
                 f"bfloat16 {_gflops(peaks.get('bfloat16'))}")
    if torch_peaks:
        peak_line += (f"; PyTorch float32 {_gflops(torch_peaks.get('float32'))}, "
                      f"bfloat16 {_gflops(torch_peaks.get('bfloat16'))}")
    v = m["versions"]
    warning = _busy_warning(report)
    lines = [
        title, "", *([warning, ""] if warning else []), format_table(MAIN_HEADERS, _main_rows(report)), "",
        "Speed-up: training on real tokens/s, inference on examples/s "
        f"(batch {s['eval_batch_size']}, {s['eval_size']} held-out reviews).", "",
        format_table(speed_headers, _speedup_rows(report)), "",
        peak_line + ". MFU = model FLOP/s on real tokens ÷ the peak of the row's compute type.",
        "", *_notes(report), *_serving_section(report.get("serving")), "",
        f"Machine: {m['cpu_model']}, {m['physical_cores']} cores ({m['logical_cpus']} logical), "
        f"avx512_bf16 {'yes' if m['avx512_bf16'] else 'no'}, {m['memory_gb']} GB; load average "
        f"{m['load_average_at_start'][0]:.2f} at start, {m['load_average_at_end'][0]:.2f} at end; "
        f"TensorFlow {v.get('tensorflow')}, transformers {v.get('transformers')}, "
        f"torch {v.get('torch', '—')}; {report['seconds'] / 60:.1f} min.",
    ]
    return "\n".join(lines)
