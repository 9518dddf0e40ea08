"""Export for TensorFlow Serving: a finished run's serving module, written as a version folder.

The SavedModel holds the classifier and an in-graph copy of its tokenizer (WordPiece, byte-level
BPE or Unigram) made of core TensorFlow ops, so stock TF Serving, `tf.saved_model.load` and Keras'
`TFSMLayer` run it without `transformers` or `tensorflow_text`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import tensorflow as tf

from tfbert.base.errors import ExportError
from tfbert.base.files import read_json, write_text_atomic
from tfbert.config import COMPUTE_DTYPES, DEFAULT_EXPORT_NAME, EXPORT_NAME_PATTERN, RunConfig
from tfbert.model import (
    build_model,
    load_tokenizer,
    output_names,
    precision_policy,
    use_float32_gelu,
)
from tfbert.run_folder import RunFolder, open_run_folder
from tfbert.serving.exported import TEXT_SIGNATURE
from tfbert.serving.model_card import BATCHING_PARAMETERS, MODELS_CONFIG, model_card
from tfbert.serving.module import (
    TOKEN_IDS_SIGNATURE,
    KerasForward,
    ServingModule,
    build_serving_module,
    serving_forward,
)

log = logging.getLogger(__name__)

WARMUP_FILE = "tf_serving_warmup_requests"


@dataclass(frozen=True)
class ExportResult:
    path: Path
    version: int
    has_text_signature: bool


def next_version(base: Path) -> int:
    existing = [int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit()] \
        if base.exists() else []
    return max(existing, default=0) + 1


def _warmup_texts(module: ServingModule) -> list[list[str]]:
    """A short request, a batch of texts longer than max length, and for an export that reads
    windows, a text of as many windows as it reads."""
    requests = [["a short warm-up request"], ["warm-up " * 200] * 8]
    windows = int(module.max_windows.numpy())
    if windows > 1:
        requests.append(["warm-up " * (int(module.max_length.numpy()) * windows + 1)])
    return requests


def _write_warmup(version_dir: Path, module: ServingModule, model_name: str) -> bool:
    """Writes TF Serving warm-up requests (PredictionLog records) if the protos are installed."""
    try:
        from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2
    except ImportError:
        log.warning("tensorflow-serving-api not installed: no warm-up requests written")
        return False
    folder = version_dir / "assets.extra"
    folder.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(folder / WARMUP_FILE)) as writer:
        for texts in _warmup_texts(module):
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=TEXT_SIGNATURE))
            if module.text_tokenizer is not None:
                for name in ("text", "text_pair") if module.is_pair else ("text",):
                    request.inputs[name].CopyFrom(tf.make_tensor_proto(texts, dtype=tf.string))
            else:
                request.model_spec.signature_name = TOKEN_IDS_SIGNATURE
                ids = tf.ones([len(texts), 8], tf.int32)
                for name in module.input_names:
                    request.inputs[name].CopyFrom(tf.make_tensor_proto(ids))
            log_record = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log_record.SerializeToString())
    return True


def write_version(module: ServingModule, base: Path, version: int | None, model_name: str) -> Path:
    """Saves the module as `<base>/<version>/` atomically: temp folder, then one rename.

    TF Serving only loads integer-named folders, so a half-written temp folder is never served.
    """
    base.mkdir(parents=True, exist_ok=True)
    version = version or next_version(base)
    final = base / str(version)
    if final.exists():
        raise ExportError(f"version {final} already exists; pass another --version or 'auto'")
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=base))
    try:
        tf.saved_model.save(module, str(tmp), signatures=module.signatures())
        _write_warmup(tmp, module, model_name)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def check_model_name(name: str) -> str:
    if not re.fullmatch(EXPORT_NAME_PATTERN, name):
        raise ExportError(f"model name {name!r}: use letters, digits, '.', '_' or '-'")
    return name


def build_run_module(folder: RunFolder, cfg: RunConfig, compute_dtype: str = "float32",
                     temperature: float | None = None, max_length: int | None = None) -> ServingModule:
    """The serving module of a finished run with config `cfg`, as `export_run` writes it.

    Texts are cut as in training (`cfg.data`) and probabilities use the fitted temperature,
    unless `temperature` / `max_length` say otherwise (benchmarks measure other lengths).
    The fast encoder computes in `compute_dtype`; an architecture it does not cover runs the
    model's own layers under that dtype policy (bfloat16 with its GELU in float32).
    """
    if compute_dtype not in COMPUTE_DTYPES:
        raise ExportError(f"compute dtype must be one of {COMPUTE_DTYPES}, got {compute_dtype!r}")
    data = cfg.data if max_length is None else dataclasses.replace(cfg.data, max_length=max_length)
    with precision_policy("float32"):  # whatever training used: the serving CPU decides
        model = build_model(str(folder.path))
    forward = serving_forward(model, compute_dtype)
    if isinstance(forward, KerasForward) and compute_dtype == "bfloat16":
        with precision_policy(compute_dtype):
            model = build_model(str(folder.path))
            use_float32_gelu(model)
        forward = KerasForward(model)
    head = folder.task_head(output_names(model))
    return build_serving_module(model, load_tokenizer(str(folder.path)), data.max_length,
                                folder.temperature() if temperature is None else temperature,
                                data.truncation, data.head_tokens, data.is_pair, head, forward,
                                (data.stride, data.max_windows, data.aggregate)
                                if data.windowed else None)


def export_run(run_dir: str | Path, version: int | None = None, model_name: str = DEFAULT_EXPORT_NAME,
               temperature: float | None = None, compute_dtype: str = "float32") -> ExportResult:
    """Exports a finished run to `<run>/export/<model_name>/<version>/`.

    `compute_dtype="bfloat16"` stores the encoder's weights and computes in bfloat16: faster on
    CPUs with native bfloat16 arithmetic, slower elsewhere, so float32 stays the default. Inputs
    and outputs are the same either way (raw text in, float32 probabilities out).

    Also writes, beside the versions, an example `models.config` and `batching_parameters.txt`
    for TF Serving and a `README.md` model card. `temperature=None` takes the one training
    fitted (`--calibrate`), if any, so served probabilities are calibrated.
    """
    folder = open_run_folder(run_dir)
    check_model_name(model_name)
    base = folder.export / model_name
    if version is not None and (base / str(version)).exists():
        raise ExportError(f"version {base / str(version)} already exists; "
                          "pass another --version or 'auto'")
    cfg = folder.config()  # read once: the module and the model card both take it
    module = build_run_module(folder, cfg, compute_dtype, temperature)
    with precision_policy(compute_dtype):
        path = write_version(module, base, version, model_name)
    written = int(path.name)
    write_text_atomic(base / "models.config", MODELS_CONFIG.format(name=model_name))
    write_text_atomic(base / "batching_parameters.txt",
                      BATCHING_PARAMETERS.format(threads=os.cpu_count() or 1))
    metrics = read_json(folder.metrics) if folder.metrics.exists() else {}
    card_cfg = cfg if folder.run_config.exists() else None
    write_text_atomic(base / "README.md", model_card(folder.path, card_cfg, metrics, model_name,
                                                     written, module, compute_dtype))
    log.info("exported %s (raw-text signature: %s)", path, module.text_tokenizer is not None)
    return ExportResult(path, written, module.text_tokenizer is not None)
