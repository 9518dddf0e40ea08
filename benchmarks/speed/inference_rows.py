"""The rows of the inference benchmark: who computes the forward pass, in what, on which order."""

from __future__ import annotations

from dataclasses import dataclass

# This module is read by both interpreters (the TensorFlow venv and the PyTorch one): no imports
# of TensorFlow, PyTorch or tfbert here.


@dataclass(frozen=True)
class InferenceRow:
    """One row: `runner` says which worker code runs it, the rest how."""

    key: str
    title: str
    runner: str  # "tfbert", "export", "torch" or "ort"
    dtype: str  # "float32", "bfloat16" or "int8": the precision of its matmuls
    sorted: bool = True  # batches of neighbours in length (else in data order, padded to their longest)
    mode: str = ""  # tfbert: "fast" or "reference"; export: "text" or "ids"; ort: "fused"
    latency: bool = False  # also timed at batch 1
    python: str = "tf"  # "tf": this interpreter; "torch": the PyTorch venv's


ROWS = (
    InferenceRow("tf-ref-f32", "tfbert before: transformers' Keras layers", "tfbert", "float32",
                 mode="reference"),
    InferenceRow("tf-ref-bf16", "tfbert before: transformers' layers, mixed_bfloat16", "tfbert",
                 "bfloat16", mode="reference"),
    InferenceRow("tf-f32", "tfbert predict, fast encoder", "tfbert", "float32", mode="fast"),
    InferenceRow("tf-bf16", "tfbert predict, fast encoder", "tfbert", "bfloat16", mode="fast"),
    InferenceRow("export-ref-f32", "export before (transformers' layers), raw text", "export",
                 "float32", mode="text-reference", latency=True),
    InferenceRow("export-f32", "export, raw text", "export", "float32", mode="text", latency=True),
    InferenceRow("export-bf16", "export, raw text", "export", "bfloat16", mode="text", latency=True),
    InferenceRow("export-ids-bf16", "export, token ids", "export", "bfloat16", mode="ids",
                 latency=True),
    # what TF Serving's batching makes of requests that come in any order
    InferenceRow("export-bf16-data", "export, raw text", "export", "bfloat16", sorted=False,
                 mode="text"),
    InferenceRow("torch-f32", "PyTorch eager", "torch", "float32", latency=True, python="torch"),
    InferenceRow("torch-bf16", "PyTorch eager, bf16 autocast", "torch", "bfloat16", latency=True,
                 python="torch"),
    InferenceRow("torch-bf16-data", "PyTorch eager, bf16 autocast", "torch", "bfloat16",
                 sorted=False, python="torch"),
    InferenceRow("ort-f32", "ONNX Runtime, transformer fusions", "ort", "float32", mode="fused",
                 latency=True, python="torch"),
    InferenceRow("ort-int8", "ONNX Runtime, fusions + dynamic int8", "ort", "int8", mode="fused",
                 latency=True, python="torch"),
)
ROWS_BY_KEY = {row.key: row for row in ROWS}
PEER_KEY = "torch-bf16"  # the 1.5x target's peer
ORT_KEYS = ("ort-f32", "ort-int8")


def select_rows(keys: tuple[str, ...] | None) -> list[InferenceRow]:
    """The rows named (all by default), in table order.

    Raises:
        ValueError: a key that names no row.
    """
    if not keys:
        return list(ROWS)
    unknown = sorted(set(keys) - set(ROWS_BY_KEY))
    if unknown:
        raise ValueError(f"unknown rows {unknown}; choose from {', '.join(ROWS_BY_KEY)}")
    return [row for row in ROWS if row.key in keys]
