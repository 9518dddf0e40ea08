"""The peers of the inference benchmark, in the PyTorch venv: PyTorch eager and ONNX Runtime.

Both read the same checkpoint folder and tokenize with the same fast tokenizer as tfbert; ONNX
Runtime runs the model PyTorch exports (`torch.onnx.export`), after `onnxruntime.transformers`'
BERT fusions (Attention, BiasGelu, SkipLayerNormalization, EmbedLayerNormalization) and, for the
int8 row, `quantize_dynamic`.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.speed.inference_rows import InferenceRow

# This interpreter has no TensorFlow and no tfbert: import neither, here or in the modules above.

THREADS = 2


class _Encoded:
    """The sample tokenized once per call, cut into batches of `size` in the row's order."""

    def __init__(self, tokenizer, spec: dict, row: InferenceRow):
        self.tokenizer, self.max_length = tokenizer, spec["max_length"]
        texts = pd.read_parquet(spec["sample"])["text"].tolist()
        self.texts = [texts[i] for i in spec["sorted_order"]] if row.sorted else texts
        self.latency_texts = texts[:spec["latency_texts"]]
        self.size = spec["batch_size"]

    def batches(self, texts: list[str] | None = None, size: int | None = None):
        """Tokenizing is part of the timing, as in tfbert's in-process rows."""
        texts, size = texts or self.texts, size or self.size
        encoded = self.tokenizer(texts, truncation=True, max_length=self.max_length)
        rows = [{k: encoded[k][i] for k in encoded} for i in range(len(texts))]
        for start in range(0, len(rows), size):
            yield self.tokenizer.pad(rows[start:start + size], return_tensors="np")


class _PeerRunner:
    """Throughput and latency of a peer's `_forward(batch) -> logits`."""

    encoded: _Encoded

    def _forward(self, batch) -> np.ndarray:
        raise NotImplementedError

    def throughput(self) -> dict:
        return {"examples": sum(len(self._forward(batch)) for batch in self.encoded.batches())}

    def latency(self) -> list[float]:
        times = []
        for text in self.encoded.latency_texts:
            start = time.perf_counter()
            for batch in self.encoded.batches([text], 1):
                self._forward(batch)
            times.append(time.perf_counter() - start)
        return times


class TorchRunner(_PeerRunner):
    def __init__(self, row: InferenceRow, spec: dict):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        torch.set_num_threads(THREADS)
        torch.manual_seed(spec["seed"])
        self.torch, self.row = torch, row
        self.model = AutoModelForSequenceClassification.from_pretrained(
            spec["model"], num_labels=len(spec["labels"])).eval()
        self.encoded = _Encoded(AutoTokenizer.from_pretrained(spec["model"]), spec, row)

    def _forward(self, batch) -> np.ndarray:
        torch = self.torch
        inputs = {k: torch.from_numpy(v) for k, v in batch.items()}
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16,
                                                    enabled=self.row.dtype == "bfloat16"):
            return self.model(**inputs).logits.float().numpy()

    def peaks(self) -> dict:
        from benchmarks.speed.timing import best_matmul_flops

        torch, peaks = self.torch, {}
        for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
            a = torch.randn(2048, 2048).to(dtype)
            peaks[name] = best_matmul_flops(lambda a=a: torch.matmul(a, a), 2048)
        return peaks

    def info(self) -> dict:
        return {"torch": self.torch.__version__, "threads": self.torch.get_num_threads(),
                "attention": getattr(self.model.config, "_attn_implementation", None)}


def _export_onnx(spec: dict, folder: Path, num_labels: int) -> Path:
    import torch
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(spec["seed"])
    model = AutoModelForSequenceClassification.from_pretrained(spec["model"],
                                                               num_labels=num_labels).eval()
    example = {k: torch.ones(2, 16, dtype=torch.int64)
               for k in ("input_ids", "attention_mask", "token_type_ids")}
    path = folder / "model.onnx"
    axes = {0: "batch", 1: "length"}
    torch.onnx.export(model, (example["input_ids"], example["attention_mask"],
                              example["token_type_ids"]), str(path),
                      input_names=list(example), output_names=["logits"], opset_version=17,
                      dynamic_axes={**dict.fromkeys(example, axes), "logits": {0: "batch"}},
                      dynamo=False)
    return path


class OrtRunner(_PeerRunner):
    def __init__(self, row: InferenceRow, spec: dict):
        import onnx
        import onnxruntime as ort
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.transformers.optimizer import optimize_model
        from transformers import AutoConfig, AutoTokenizer

        config = AutoConfig.from_pretrained(spec["model"])
        self.folder = Path(tempfile.mkdtemp(prefix="tfbert-ort-"))
        raw = _export_onnx(spec, self.folder, len(spec["labels"]))
        optimized = optimize_model(str(raw), model_type="bert", num_heads=config.num_attention_heads,
                                   hidden_size=config.hidden_size)
        path = self.folder / "optimized.onnx"
        optimized.save_model_to_file(str(path))
        self.fused = sorted(optimized.get_fused_operator_statistics().items())
        if row.dtype == "int8":
            quantized = self.folder / "int8.onnx"
            quantize_dynamic(str(path), str(quantized), weight_type=QuantType.QInt8,
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
            path = quantized
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = THREADS, 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.names = [i.name for i in self.session.get_inputs()]
        self.encoded = _Encoded(AutoTokenizer.from_pretrained(spec["model"]), spec, row)
        self.version = ort.__version__

    def _forward(self, batch) -> np.ndarray:
        feed = {name: batch[name].astype(np.int64) for name in self.names if name in batch}
        for name in self.names:  # a tokenizer without token types still feeds the graph
            feed.setdefault(name, np.zeros_like(batch["input_ids"], dtype=np.int64))
        return self.session.run(None, feed)[0]

    def peaks(self) -> dict:
        raise ValueError("peaks are measured by the PyTorch and TensorFlow rows")

    def info(self) -> dict:
        return {"onnxruntime": self.version, "fused_operators": dict(self.fused)}


def build_torch_runner(row: InferenceRow, spec: dict):
    return TorchRunner(row, spec) if row.runner == "torch" else OrtRunner(row, spec)
