"""`python -m benchmarks.speed.inference`: tfbert's forward pass against PyTorch and ONNX Runtime.

Every row runs in a process of its own (`infer_worker`), loaded and warmed up once. The rows then
take turns: in each round every row makes one timed pass over the same held-out texts (and, where
it serves requests, one text at a time), the order rotating from round to round. The CPU's speed
drifts by up to 2x within minutes, so the report compares rows inside each round (the median of
the per-round ratios) and measures the matmul peaks in every round too.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.speed.inference_report import format_inference_report, summarize
from benchmarks.speed.inference_rows import InferenceRow, select_rows
from benchmarks.speed.machine import (
    BUSY_WARNING,
    busy_cores,
    describe_machine,
    measure_int8_peak,
    measure_matmul_peak,
)
from benchmarks.speed.sample import load_sample
from tfbert.base.files import write_json_atomic

log = logging.getLogger(__name__)
SOURCE_ROOT = Path(__file__).resolve().parents[2]
TORCH_PYTHON_ENV = "TFBERT_TORCH_PYTHON"


@dataclass(frozen=True)
class InferenceConfig:
    """One run of the inference benchmark; every row sees the same texts and sizes."""

    model: str
    data: str
    max_length: int = 512
    batch_size: int = 32
    eval_size: int = 256
    train_size: int = 4000  # skipped: the held-out texts are the training benchmark's
    latency_texts: int = 100
    rounds: int = 3
    seed: int = 42
    rows: tuple[str, ...] = ()
    torch_python: str | None = None
    output: str | None = None
    startup_timeout: float = 1800.0

    def __post_init__(self) -> None:
        for name in ("max_length", "batch_size", "eval_size", "latency_texts", "rounds"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.latency_texts > self.eval_size:
            raise ValueError("latency_texts are drawn from the held-out sample: at most eval_size")
        select_rows(self.rows)  # raises on an unknown row


class Worker:
    """One row's process, spoken to in JSON lines."""

    def __init__(self, row: InferenceRow, python: str, spec_path: Path, log_path: Path):
        self.row = row
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (str(SOURCE_ROOT), os.environ.get("PYTHONPATH")) if p))
        self.log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self.process = subprocess.Popen(
            [python, "-m", "benchmarks.speed.infer_worker", str(spec_path)], env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True)

    def read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"row {self.row.key} stopped (exit {self.process.poll()}); "
                               f"see its log {self.log.name}")
        return json.loads(line)

    def ask(self, cmd: str) -> dict:
        self.process.stdin.write(json.dumps({"cmd": cmd}) + "\n")
        self.process.stdin.flush()
        return self.read()

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.process.stdin.flush()
                self.process.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
        self.log.close()


def _token_lengths(model: str, texts: list[str], max_length: int) -> np.ndarray:
    from tfbert.model import load_tokenizer

    tokenizer = load_tokenizer(model)
    ids = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    return np.array([len(row) for row in ids])


def _write_exports(cfg: InferenceConfig, rows: list[InferenceRow], labels, folder: Path) -> dict:
    """The exports the export rows serve: the pretrained model with a seeded, untrained head."""
    from tfbert.base.keras import keras
    from tfbert.config import DEFAULT_EXPORT_NAME
    from tfbert.data import LabelSet
    from tfbert.model import build_model, load_tokenizer, precision_policy
    from tfbert.serving.export import write_version
    from tfbert.serving.module import KerasForward, build_serving_module, serving_forward

    wanted = {("text-reference" if r.mode == "text-reference" else "text", r.dtype)
              for r in rows if r.runner == "export"}
    if not wanted:
        return {}
    with precision_policy("float32"):
        keras.utils.set_random_seed(cfg.seed)
        model = build_model(cfg.model, LabelSet(tuple(labels)))
    tokenizer, paths = load_tokenizer(cfg.model), {}
    for mode, dtype in sorted(wanted):
        forward = KerasForward(model) if mode == "text-reference" else serving_forward(model, dtype)
        module = build_serving_module(model, tokenizer, cfg.max_length, forward=forward)
        path = write_version(module, folder / f"{mode}-{dtype}", 1, DEFAULT_EXPORT_NAME)
        paths[f"{mode}-{dtype}"] = str(path)
    return paths


def _start_workers(cfg: InferenceConfig, rows: list[InferenceRow], spec: dict, folder: Path
                   ) -> tuple[dict, dict]:
    """Starts each row's worker, one at a time (loading uses both cores); returns the ready ones
    and, per row, why it is missing."""
    workers, missing = {}, {}
    for row in rows:
        python = sys.executable if row.python == "tf" else cfg.torch_python
        if python is None or not Path(python).is_file():
            missing[row.key] = (f"skipped: no PyTorch interpreter (--torch-python or "
                                f"{TORCH_PYTHON_ENV}; see requirements-bench.txt)")
            continue
        spec_path = folder / f"{row.key}.json"
        spec_path.write_text(json.dumps({**spec, "row": row.key}), encoding="utf-8")
        log.info("starting row %s (%s, %s)...", row.key, row.title, row.dtype)
        worker = Worker(row, python, spec_path, folder / f"{row.key}.log")
        try:
            ready = worker.read()
        except (RuntimeError, json.JSONDecodeError) as err:
            worker.close()
            tail = Path(worker.log.name).read_text(encoding="utf-8", errors="replace").splitlines()
            log.error("row %s failed to start: %s\n%s", row.key, err, "\n".join(tail[-15:]))
            missing[row.key] = f"failed to start: {tail[-1] if tail else err}"[:300]
            continue
        workers[row.key] = (worker, ready.get("info", {}))
    return workers, missing


def _one_round(index: int, workers: dict, peaks: list, passes: dict, latency: dict) -> None:
    """Peaks, then every row's timed pass, then every latency row's batch-1 requests."""
    peaks.append({dtype: measure_matmul_peak(dtype, 2048) for dtype in ("float32", "bfloat16")}
                 | {"int8": measure_int8_peak(2048)})
    keys = list(workers)
    turn = keys[index % len(keys):] + keys[:index % len(keys)]
    for key in turn:
        busy = busy_cores()
        if busy is not None and busy > BUSY_WARNING:
            log.warning("%.1f cores busy before row %s: another process is running", busy, key)
        passes[key].append(workers[key][0].ask("throughput") | {"busy_cores_before": busy})
    for key in turn:
        if workers[key][0].row.latency:
            latency[key].append(workers[key][0].ask("latency")["seconds"])
    log.info("round %d done: %s", index + 1, ", ".join(
        f"{k} {p[-1]['examples'] / p[-1]['seconds']:.1f}/s" for k, p in passes.items()))


def run(cfg: InferenceConfig) -> dict:
    """Measures every row for `cfg.rounds` rounds; returns the report (written to `cfg.output`)."""
    started = time.monotonic()
    machine = describe_machine()
    rows = select_rows(cfg.rows)
    _, held_out, labels = load_sample(cfg.data, cfg.seed, cfg.train_size, cfg.eval_size)
    texts = held_out["text"].tolist()
    lengths = _token_lengths(cfg.model, texts, cfg.max_length)
    order = np.argsort(lengths, kind="stable")
    with tempfile.TemporaryDirectory(prefix="tfbert-infer-") as tmp:
        folder = Path(tmp)
        held_out[["text"]].to_parquet(folder / "sample.parquet", index=False)
        spec = {"model": str(Path(cfg.model).resolve()), "labels": list(labels),
                "max_length": cfg.max_length, "batch_size": cfg.batch_size,
                "latency_texts": cfg.latency_texts, "seed": cfg.seed,
                "sample": str(folder / "sample.parquet"), "sorted_order": order.tolist(),
                "exports": _write_exports(cfg, rows, labels, folder / "exports")}
        workers, missing = _start_workers(cfg, rows, spec, folder)
        passes = {key: [] for key in workers}
        latency = {key: [] for key in workers if workers[key][0].row.latency}
        peaks: list[dict] = []
        torch_peaks = next((w.ask("peaks")["peaks"] for w, _ in workers.values()
                            if w.row.runner == "torch"), None)
        try:
            for index in range(cfg.rounds):
                _one_round(index, workers, peaks, passes, latency)
        finally:
            for worker, _ in workers.values():
                worker.close()
    machine["load_average_at_end"] = list(os.getloadavg())
    report = summarize(cfg, rows, lengths, order, passes, latency, peaks, missing,
                       {key: info for key, (_, info) in workers.items()})
    report.update(settings=dataclasses.asdict(cfg), machine=machine, torch_peaks=torch_peaks,
                  seconds=time.monotonic() - started)
    if cfg.output:
        write_json_atomic(cfg.output, report)
    return report


def build_parser() -> argparse.ArgumentParser:
    d = InferenceConfig(model="", data="")
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed.inference", description=__doc__,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", default="../shared/models/all-MiniLM-L6-v2")
    parser.add_argument("--data", default="../shared/data/imdb/train.parquet",
                        help="the held-out texts are drawn from it as in `python -m benchmarks.speed`")
    for name in ("max_length", "batch_size", "eval_size", "latency_texts", "rounds", "seed"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(d, name))
    parser.add_argument("--rows", default="", help="comma-separated row keys (default: all)")
    parser.add_argument("--torch-python", default=os.environ.get(TORCH_PYTHON_ENV),
                        help=f"python of the PyTorch venv with onnxruntime (or ${TORCH_PYTHON_ENV})")
    parser.add_argument("--output", default=None, help="write the full report as JSON here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from tfbert.cli.console import setup_logging, start_tensorflow

    setup_logging()
    start_tensorflow()
    values = {k: v for k, v in vars(args).items() if k != "rows"}
    try:
        cfg = InferenceConfig(rows=tuple(r for r in args.rows.split(",") if r), **values)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_inference_report(run(cfg)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
