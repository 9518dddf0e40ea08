"""Serving latency of a tfbert export: batch-1 p50/p99 and batch throughput of both signatures."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.speed.sample import load_sample
from benchmarks.speed.settings import BenchmarkConfig
from tfbert.config import DEFAULT_EXPORT_NAME
from tfbert.data import LabelSet
from tfbert.model import build_model, load_tokenizer, precision_policy
from tfbert.run_folder import RunFolder
from tfbert.serving.export import write_version
from tfbert.serving.module import build_serving_module

log = logging.getLogger(__name__)


def resolve_version_dir(path: str | Path) -> Path:
    """A SavedModel version folder from a version folder, a model base folder or a run folder.

    Raises:
        ValueError: no SavedModel there.
    """
    path = Path(path)
    if (path / "saved_model.pb").exists():
        return path
    versions = sorted((int(p.name) for p in path.iterdir() if p.is_dir() and p.name.isdigit()),
                      reverse=True) if path.is_dir() else []
    if versions:
        return path / str(versions[0])
    if (path / "export" / DEFAULT_EXPORT_NAME).is_dir():
        return resolve_version_dir(path / "export" / DEFAULT_EXPORT_NAME)
    raise ValueError(f"{path} holds no SavedModel (saved_model.pb or integer version folders)")


def export_pretrained(model_path: str, label_names: tuple[str, ...], max_length: int, base: Path) -> Path:
    """Exports the pretrained model with an untrained head (fine for latency) as `base`/1."""
    with precision_policy("float32"):  # as `export_run` serves: full precision
        model = build_model(model_path, LabelSet(tuple(label_names)))
        module = build_serving_module(model, load_tokenizer(model_path), max_length)
        return write_version(module, base, 1, DEFAULT_EXPORT_NAME)


def _time_call(call: Callable, inputs: dict) -> float:
    start = time.perf_counter()
    call(**inputs)["label_id"].numpy()
    return time.perf_counter() - start


def time_interleaved(signatures: dict, requests: list[list[str]]) -> dict[str, list[float]]:
    """Each request through every signature, alternating which goes first, so that neither
    signature systematically meets the machine in a different state (caches, other load)."""
    names = list(signatures)
    times: dict[str, list[float]] = {name: [] for name in names}
    for i, texts in enumerate(requests):
        for name in names if i % 2 == 0 else names[::-1]:
            call, make_inputs = signatures[name]
            inputs = make_inputs(texts)  # built outside the timing
            times[name].append(_time_call(call, inputs))
    return times


def measure_serving(cfg: BenchmarkConfig) -> dict:
    """p50/p99 batch-1 latency and batch throughput of both signatures of a tfbert export.

    Measures `cfg.export_dir` when set, else a temporary export of `cfg.model`. A failure is
    returned (`status` "failed"), not raised, so that the rows measured before it are kept.
    """
    import tensorflow as tf

    try:
        _, eval_frame, names = load_sample(cfg.data, cfg.seed, cfg.train_size, cfg.eval_size)
        texts = list(eval_frame["text"])
        with tempfile.TemporaryDirectory(prefix="tfbert-bench-export-") as tmp:
            if cfg.export_dir:
                version_dir = resolve_version_dir(cfg.export_dir)
                run = RunFolder(version_dir.parents[2] if len(version_dir.parents) > 2 else version_dir)
                tokenizer_source = str(run.path) if (run.path / "tokenizer.json").exists() else cfg.model
                max_length = run.config().data.max_length if run.run_config.exists() else cfg.max_length
            else:
                version_dir = export_pretrained(cfg.model, names, cfg.max_length, Path(tmp))
                tokenizer_source, max_length = cfg.model, cfg.max_length
            result = _serve(tf.saved_model.load(str(version_dir)), load_tokenizer(tokenizer_source),
                            texts, max_length, cfg)
            result.update(export=str(version_dir) if cfg.export_dir else "temporary export of --model",
                          max_length=max_length)
            return result
    except Exception as err:  # a failed serving measurement must not lose the rows measured before it
        log.exception("serving measurement failed")
        return {"status": "failed", "message": f"{type(err).__name__}: {err}"[:300]}


def _serve(loaded, tokenizer, texts: list[str], max_length: int, cfg: BenchmarkConfig) -> dict:
    import tensorflow as tf

    id_fn = loaded.signatures["token_ids"]
    id_names = sorted(id_fn.structured_input_signature[1])
    text_fn = loaded.signatures["serving_default"]
    has_text = "text" in text_fn.structured_input_signature[1]

    def pick(n: int, offset: int = 0) -> list[str]:
        return [texts[(offset + i) % len(texts)] for i in range(n)]

    def encode(batch: list[str]) -> dict:  # pre-tokenized outside the timing, padded per request
        enc = tokenizer(batch, truncation=True, max_length=max_length, padding=True, return_tensors="np")
        return {name: tf.constant(enc[name].astype(np.int32)) for name in id_names}

    single = [pick(1, i) for i in range(cfg.serving_requests)]
    batches = [pick(cfg.eval_batch_size, i * cfg.eval_batch_size) for i in range(cfg.serving_batches)]
    signatures = {"token_ids": (id_fn, encode)}
    if has_text:
        signatures["serving_default"] = (text_fn, lambda b: {"text": tf.constant(b)})
    # Warm-up, untimed: every request shape once, so both signatures are timed in steady state
    # (TensorFlow and oneDNN prepare kernels per input shape, shared by both signatures' graphs).
    for name, (fn, make_inputs) in signatures.items():
        for texts in single + (batches if name == "token_ids" else batches[:1]):
            fn(**make_inputs(texts))["label_id"].numpy()
    latency = time_interleaved(signatures, single)
    batch_times = time_interleaved(signatures, batches)
    result = {"status": "ok", "requests": cfg.serving_requests, "batches": cfg.serving_batches,
              "batch_size": cfg.eval_batch_size, "has_text_signature": has_text,
              "mean_tokens_per_request": float(np.mean([encode(t)["input_ids"].shape[1] for t in single])),
              "signatures": {}}
    for name, times in latency.items():
        result["signatures"][name] = {
            "p50_ms": 1000 * float(np.percentile(times, 50)),
            "p99_ms": 1000 * float(np.percentile(times, 99)),
            "mean_ms": 1000 * float(np.mean(times)),
            "batch_examples_per_s": len(batches) * cfg.eval_batch_size / sum(batch_times[name]),
        }
    if has_text:
        sigs = result["signatures"]
        result["text_over_token_ids_p50"] = sigs["serving_default"]["p50_ms"] / sigs["token_ids"]["p50_ms"]
    return result
