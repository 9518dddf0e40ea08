"""`run(cfg)`: every row in a process of its own, then the serving figures, into one report."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.speed.figures import add_speedups, summarize_row
from benchmarks.speed.flops import FLOPS_FORMULA, EncoderShape
from benchmarks.speed.machine import BUSY_WARNING, busy_cores, describe_machine, measure_matmul_peak
from benchmarks.speed.sample import load_sample, write_sample
from benchmarks.speed.serving import measure_serving
from benchmarks.speed.settings import BenchmarkConfig, RowSpec, plan_rows
from tfbert.base.files import write_json_atomic
from tfbert.model import resolve_precision

log = logging.getLogger(__name__)

SOURCE_ROOT = Path(__file__).resolve().parents[2]  # holds the benchmarks package; put on workers' path
WORKER_MODULES = {"tfbert": "benchmarks.speed.tfbert_worker", "hf-tf": "benchmarks.speed.hf_tf_worker",
                  "torch": "benchmarks.speed.torch_worker"}


def run_worker(python: str, row: RowSpec, cfg: BenchmarkConfig, sample: dict) -> dict:
    """Runs one row in a fresh process (`python -m benchmarks.<kind>_worker`); returns its raw result.

    Args:
        python: the interpreter: this one for TensorFlow rows, the PyTorch venv's for torch rows.
        row: the row to measure.
        cfg: the run's settings.
        sample: where `write_sample` put the data.
    Returns:
        The worker's figures with `status` "ok", or `status` "failed" and why.
    """
    with tempfile.TemporaryDirectory(prefix="tfbert-bench-") as tmp:
        spec, out, log_path = Path(tmp, "spec.json"), Path(tmp, "out.json"), Path(tmp, "worker.log")
        spec.write_text(json.dumps({"cfg": dataclasses.asdict(cfg), "row": dataclasses.asdict(row),
                                    "sample": sample}), encoding="utf-8")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (str(SOURCE_ROOT), os.environ.get("PYTHONPATH")) if p))
        command = [python, "-m", WORKER_MODULES[row.kind], str(spec), str(out)]
        try:
            with open(log_path, "w", encoding="utf-8") as handle:
                code = subprocess.run(command, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                      timeout=cfg.timeout).returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
        if code == 0 and out.exists():
            return json.loads(out.read_text(encoding="utf-8"))
        tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-15:]
        log.error("row %s failed (exit %s); worker log ends:\n%s", row.key, code, "\n".join(tail))
        reason = tail[-1] if tail else "no output"
        return {"status": "failed", "message": f"failed (exit {code}): {reason}"[:300]}


def torch_unavailable(cfg: BenchmarkConfig) -> str | None:
    """Why the PyTorch rows cannot run (no interpreter given, or none at that path), else None."""
    if cfg.torch_python is None:
        return ("skipped: no PyTorch interpreter given (--torch-python or TFBERT_TORCH_PYTHON; "
                "see requirements-bench.txt)")
    if not Path(cfg.torch_python).is_file():
        return (f"skipped: no PyTorch interpreter at {cfg.torch_python} "
                "(create that venv: see requirements-bench.txt)")
    return None


def measure_rows(cfg: BenchmarkConfig, rows: list[RowSpec], encoder: EncoderShape, peaks: dict,
                 sample: dict) -> list[dict]:
    """Measures each row in its own process, one after the other, and adds the speed-ups."""
    results = []
    for row in rows:
        entry = {"key": row.key, "title": row.title, "setup": row.setup(cfg.max_length),
                 "spec": dataclasses.asdict(row)}
        skipped = torch_unavailable(cfg) if row.kind == "torch" else None
        if skipped:
            log.warning("row %s %s", row.key, skipped)
            entry.update(status="skipped", message=skipped)
            results.append(entry)
            continue
        entry["busy_cores_before"] = busy = busy_cores()
        if busy is not None and busy > BUSY_WARNING:
            log.warning("%.1f cores busy before row %s: another process is running; its figures "
                        "will be skewed", busy, row.key)
        log.info("row %s: %s (%s)...", row.key, row.title, entry["setup"])
        python = cfg.torch_python if row.kind == "torch" else sys.executable
        raw = run_worker(python, row, cfg, sample)
        if raw["status"] == "ok" and len(raw["train"]["step_ends"]) < cfg.total_steps:
            raw.update(status="failed", message=f"failed: {len(raw['train']['step_ends'])} of "
                       f"{cfg.total_steps} steps ran (the input ran out?)")
        entry.update(status=raw["status"], message=raw.get("message"), raw=raw)
        if raw["status"] == "ok":
            entry["figures"] = summarize_row(raw, encoder, peaks, cfg.warmup_steps, cfg.steps)
            log.info("row %s done in %.0f s: %.2f examples/s, %.0f real tokens/s", row.key,
                     raw["seconds"], entry["figures"]["train_examples_per_s"],
                     entry["figures"]["train_real_tokens_per_s"])
        results.append(entry)
    add_speedups(results)
    return results


def run(cfg: BenchmarkConfig) -> dict:
    """Measures every row and the serving figures; writes `cfg.output` (JSON) when set.

    Returns the report: settings, machine, matmul peaks, rows with figures and speed-ups,
    serving latency. `report.format_report(report)` renders it as markdown.
    """
    started = time.monotonic()
    machine = describe_machine()
    machine["busy_cores_at_start"] = busy = busy_cores()
    if busy is not None and busy > BUSY_WARNING:
        log.warning("%.1f of %d cores are busy before the benchmark starts: stop other jobs for "
                    "figures worth keeping", busy, os.cpu_count() or 1)
    encoder = EncoderShape.from_model_dir(cfg.model)
    log.info("measuring the dense matmul peak (%d x %d)...", cfg.peak_size, cfg.peak_size)
    peaks = {dtype: measure_matmul_peak(dtype, cfg.peak_size) for dtype in ("float32", "bfloat16")}
    rows = plan_rows(cfg, resolve_precision(cfg.tfbert_precision)[0])
    with tempfile.TemporaryDirectory(prefix="tfbert-bench-sample-") as tmp:
        sample = write_sample(*load_sample(cfg.data, cfg.seed, cfg.train_size, cfg.eval_size), Path(tmp))
        rows = measure_rows(cfg, rows, encoder, peaks, sample)
    for row in rows:
        raw = row.get("raw", {})
        if "torch_peaks" in raw:
            peaks.setdefault("torch", raw["torch_peaks"])
            machine["versions"].update(raw.get("versions", {}))
    serving = None
    if cfg.serving:
        log.info("serving: latency of the exported SavedModel...")
        serving = measure_serving(cfg)
    machine["load_average_at_end"] = list(os.getloadavg())
    report = {
        "settings": dataclasses.asdict(cfg),
        "machine": machine,
        "model": {**dataclasses.asdict(encoder), "dense_params": encoder.dense_params,
                  "flops_formula": FLOPS_FORMULA},
        "peak_flops": {**peaks, "matmul_size": cfg.peak_size},
        "rows": rows,
        "pipeline_check": next((r["raw"]["pipeline_check"] for r in rows
                                if "pipeline_check" in r.get("raw", {})), None),
        "serving": serving,
        "seconds": time.monotonic() - started,
    }
    if cfg.output:
        write_json_atomic(cfg.output, report)
    return report
