"""The TensorFlow rows of the inference benchmark: tfbert's in-process predict and its exports."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from benchmarks.speed.inference_rows import InferenceRow


def _batches(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _ordered_texts(row: InferenceRow, spec: dict) -> list[str]:
    texts = pd.read_parquet(spec["sample"])["text"].tolist()
    return [texts[i] for i in spec["sorted_order"]] if row.sorted else texts


class InProcessRunner:
    """`Classifier.predict_logits` on raw texts, as predict.py and evaluate.py run it (tokenizing,
    sorting by length and bucketing included); `reference` rows force transformers' own layers."""

    def __init__(self, row: InferenceRow, spec: dict):
        from tfbert.base.keras import keras
        from tfbert.config import DataConfig
        from tfbert.data import LabelSet
        from tfbert.model import build_model, load_tokenizer, precision_policy, use_float32_gelu
        from tfbert.predict import Classifier

        self.texts = pd.read_parquet(spec["sample"])["text"].tolist()
        reference_bf16 = row.mode == "reference" and row.dtype == "bfloat16"
        with precision_policy("mixed_bfloat16" if reference_bf16 else "float32"):
            keras.utils.set_random_seed(spec["seed"])
            model = build_model(spec["model"], LabelSet(tuple(spec["labels"])))
            if reference_bf16:  # the bfloat16 path tfbert had before the fast encoder
                use_float32_gelu(model)
        self.classifier = Classifier(model, load_tokenizer(spec["model"]),
                                     DataConfig(max_length=spec["max_length"]),
                                     batch_size=spec["batch_size"], compute_dtype=row.dtype,
                                     fast_encoder=row.mode == "fast")

    def throughput(self) -> dict:
        self.classifier.predict_logits(self.texts)
        return {"examples": len(self.texts)}

    def latency(self) -> list[float]:
        raise ValueError("in-process rows are timed at the batch size only")

    def peaks(self) -> dict:
        from benchmarks.speed.machine import measure_matmul_peak

        return {dtype: measure_matmul_peak(dtype, 2048) for dtype in ("float32", "bfloat16")}

    def info(self) -> dict:
        return {"compute_dtype": self.classifier.compute_dtype,
                "fast_encoder": self.classifier.uses_fast_encoder}


class ExportRunner:
    """An export loaded as TF Serving loads it, called through one signature per request."""

    def __init__(self, row: InferenceRow, spec: dict):
        import tensorflow as tf

        self.row = row
        mode = "text-reference" if row.mode == "text-reference" else "text"
        loaded = tf.saved_model.load(spec["exports"][f"{mode}-{row.dtype}"])
        self.loaded = loaded
        texts = _ordered_texts(row, spec)
        self.latency_texts = pd.read_parquet(spec["sample"])["text"].tolist()[:spec["latency_texts"]]
        if row.mode == "ids":  # tokenized beforehand, as a client of the token-id signature would
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(spec["model"])
            fn = loaded.signatures["token_ids"]
            names = sorted(fn.structured_input_signature[1])

            def encode(batch):
                enc = tokenizer(batch, truncation=True, max_length=spec["max_length"], padding=True,
                                return_tensors="np")
                return {n: tf.constant(enc[n].astype(np.int32)) for n in names}
        else:
            fn = loaded.signatures["serving_default"]

            def encode(batch):
                return {"text": tf.constant(batch)}
        self.call = fn
        self.requests = [encode(b) for b in _batches(texts, spec["batch_size"])]
        self.single = [encode([t]) for t in self.latency_texts]

    def throughput(self) -> dict:
        for request in self.requests:
            self.call(**request)["probabilities"].numpy()
        return {"examples": sum(int(r[next(iter(r))].shape[0]) for r in self.requests)}

    def latency(self) -> list[float]:
        times = []
        for request in self.single:
            start = time.perf_counter()
            self.call(**request)["probabilities"].numpy()
            times.append(time.perf_counter() - start)
        return times

    def peaks(self) -> dict:
        raise ValueError("peaks are measured by an in-process row")

    def info(self) -> dict:
        return {"signature": "token_ids" if self.row.mode == "ids" else "serving_default"}


def build_tf_runner(row: InferenceRow, spec: dict):
    from tfbert.cli.console import start_tensorflow

    start_tensorflow(False)
    return InProcessRunner(row, spec) if row.runner == "tfbert" else ExportRunner(row, spec)
