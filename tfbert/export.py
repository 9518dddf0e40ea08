"""Export for TensorFlow Serving: a `ServingModule` that takes raw text, written as a version folder.

The SavedModel holds the classifier and an in-graph copy of its tokenizer (WordPiece, byte-level
BPE or Unigram) made of core TensorFlow ops, so stock TF Serving, `tf.saved_model.load` and Keras'
`TFSMLayer` run it without `transformers` or `tensorflow_text`.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tensorflow as tf

from tfbert.byte_level_bpe import ByteLevelBpeTokenizer
from tfbert.config import DEFAULT_EXPORT_NAME, EXPORT_NAME_PATTERN
from tfbert.errors import ExportError
from tfbert.exported import TEXT_SIGNATURE
from tfbert.features import head_budget
from tfbert.model import build_model, load_tokenizer, precision_policy, use_float32_gelu
from tfbert.run_folder import RunFolder, open_run_folder, read_json, write_text_atomic
from tfbert.text_tokenizer import InGraphTokenizer, UnsupportedTokenizerError, backend_config
from tfbert.unigram import UnigramTextTokenizer
from tfbert.wordpiece import BertTextTokenizer

log = logging.getLogger(__name__)

TOKEN_IDS_SIGNATURE = "token_ids"
WARMUP_FILE = "tf_serving_warmup_requests"
COMPUTE_DTYPES = ("float32", "bfloat16")
COMPUTE_NOTES = {
    "float32": "float32 (any CPU or GPU)",
    "bfloat16": "bfloat16 (weights and arithmetic), for CPUs with native bfloat16 (x86 flags "
                "avx512_bf16 or amx_bf16: Intel Cooper Lake, Sapphire Rapids and later, AMD Zen 4 "
                "and later); elsewhere it runs emulated, slower than the float32 export",
}


class ServingModule(tf.Module):
    """The classifier behind named, typed entry points.

    Signatures (keyword inputs, for TF Serving and `signatures[...]`):
        serving_default(text)                           raw strings -> outputs
        token_ids(input_ids, attention_mask, ...)       pre-tokenized int32 ids -> outputs
    Plain functions (one positional input, for Keras 3 `TFSMLayer(call_endpoint=...)`):
        classify_text(text), classify_token_ids({"input_ids": ..., ...})
    Outputs: probabilities (float32 [batch, labels]), logits, label_id (int32), label (string).
    Attributes that survive `tf.saved_model.load`, for clients that show them: `label_names`
    (string [labels]) and `max_length` (int32, tokens read per text; 0 without a text path).
    """

    def __init__(self, model, label_names: tuple[str, ...], input_names: tuple[str, ...],
                 text_tokenizer: InGraphTokenizer | None, temperature: float = 1.0):
        super().__init__(name="tfbert_classifier")
        self.model = model
        self.text_tokenizer = text_tokenizer
        self.input_names = input_names
        # Variables, not constants: only variables are restored as attributes of the loaded object.
        self.label_names = tf.Variable(list(label_names), dtype=tf.string, trainable=False,
                                       name="label_names")
        self.max_length = tf.Variable(text_tokenizer.max_length if text_tokenizer else 0,
                                      dtype=tf.int32, trainable=False, name="max_length")
        self.temperature = tf.constant(float(temperature), tf.float32)
        id_spec = {name: tf.TensorSpec([None, None], tf.int32, name=name) for name in input_names}
        self.classify_token_ids = tf.function(self._classify_ids, input_signature=[id_spec])
        self.serve_token_ids = tf.function(self._serve_ids, input_signature=list(id_spec.values()))
        if text_tokenizer is not None:
            text_spec = tf.TensorSpec([None], tf.string, name="text")
            self.classify_text = tf.function(self._classify_text, input_signature=[text_spec])

    def _outputs(self, features: dict) -> dict:
        logits = tf.cast(self.model(features, training=False).logits, tf.float32)
        probabilities = tf.nn.softmax(logits / self.temperature, axis=-1)
        label_id = tf.argmax(logits, axis=-1, output_type=tf.int32)
        return {"probabilities": probabilities, "logits": logits, "label_id": label_id,
                "label": tf.gather(self.label_names, label_id)}

    def _classify_ids(self, features: dict) -> dict:
        return self._outputs({name: features[name] for name in self.input_names})

    def _serve_ids(self, *tensors) -> dict:
        return self._outputs(dict(zip(self.input_names, tensors, strict=True)))

    def _classify_text(self, text: tf.Tensor) -> dict:
        encoded = self.text_tokenizer(text)
        return self._outputs({name: encoded[name] for name in self.input_names})

    def signatures(self) -> dict:
        found = {TOKEN_IDS_SIGNATURE: self.serve_token_ids.get_concrete_function()}
        if self.text_tokenizer is not None:
            found[TEXT_SIGNATURE] = self.classify_text.get_concrete_function()
        else:  # no raw-text entry point: the token-id signature becomes the default
            found[TEXT_SIGNATURE] = found[TOKEN_IDS_SIGNATURE]
        return found


@dataclass(frozen=True)
class ExportResult:
    path: Path
    version: int
    has_text_signature: bool


def next_version(base: Path) -> int:
    existing = [int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit()] \
        if base.exists() else []
    return max(existing, default=0) + 1


def in_graph_tokenizer(
    tokenizer: Any, max_length: int, head_tokens: int | None = None
) -> InGraphTokenizer:
    """The in-graph copy of a fast tokenizer, of the family its declared model names.

    Raises UnsupportedTokenizerError when no family reproduces the tokenizer exactly.
    """
    config = backend_config(tokenizer)
    families = {"WordPiece": BertTextTokenizer, "BPE": ByteLevelBpeTokenizer,
                "Unigram": UnigramTextTokenizer}
    family = families.get(config["model"].get("type"))
    if family is None:
        raise UnsupportedTokenizerError(f"no in-graph tokenizer for {config['model'].get('type')}")
    return family.from_fast_tokenizer(tokenizer, max_length, head_tokens)


def build_serving_module(
    model, tokenizer, max_length: int, temperature: float = 1.0,
    truncation: str = "head", head_tokens: int | None = None,
) -> ServingModule:
    """Wraps a Keras classifier and its HF fast tokenizer, with a raw-text path where it can.

    `truncation` and `head_tokens` must be the training ones, so served texts are cut alike.
    """
    head = head_budget(truncation, head_tokens, max_length - tokenizer.num_special_tokens_to_add())
    try:
        text_tokenizer = in_graph_tokenizer(tokenizer, max_length, head)
    except UnsupportedTokenizerError as err:
        log.warning("raw-text signature not exported: %s; only the token-id signature is", err)
        text_tokenizer = None
    names = model.config.id2label
    label_names = tuple(names[i] for i in range(len(names)))
    input_names = tuple(n for n in tokenizer.model_input_names
                        if n in ("input_ids", "attention_mask", "token_type_ids"))
    return ServingModule(model, label_names, input_names, text_tokenizer, temperature)


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
        for texts in (["a short warm-up request"], ["warm-up " * 200] * 8):
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=TEXT_SIGNATURE))
            if module.text_tokenizer is not None:
                request.inputs["text"].CopyFrom(tf.make_tensor_proto(texts, dtype=tf.string))
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


MODELS_CONFIG = """model_config_list {{
  config {{
    name: "{name}"
    base_path: "/models/{name}"
    model_platform: "tensorflow"
    model_version_policy {{ latest {{ num_versions: 1 }} }}
  }}
}}
"""

BATCHING_PARAMETERS = """max_batch_size {{ value: 32 }}
batch_timeout_micros {{ value: 2000 }}
max_enqueued_batches {{ value: 100 }}
num_batch_threads {{ value: {threads} }}
"""


def _cut_rule(module: ServingModule, max_length: int) -> str:
    if module.text_tokenizer is None:
        return "clients must truncate token ids as in training"
    head, budget = module.text_tokenizer.head_tokens, module.text_tokenizer.budget
    if head >= budget:
        return "longer texts keep their first tokens"
    return f"longer texts keep their first {head} and last {budget - head} tokens"


def _model_card(run_dir: Path, name: str, version: int, module: ServingModule,
                max_length: int, temperature: float, compute_dtype: str = "float32") -> str:
    config = read_json(run_dir / "run_config.json") if (run_dir / "run_config.json").exists() else {}
    metrics = read_json(run_dir / "metrics.json") if (run_dir / "metrics.json").exists() else {}
    labels = [s.decode() for s in module.label_names.numpy()]
    lines = [
        f"# {name}", "",
        f"Text classifier exported by tfbert from `{run_dir}`.", "",
        f"- base model: `{config.get('model', {}).get('name_or_path', 'unknown')}`",
        f"- data: `{' '.join(config.get('data', {}).get('sources', []))}`",
        f"- labels (id order): {', '.join(labels)}",
        f"- max length: {max_length} tokens; {_cut_rule(module, max_length)}",
        f"- computes in {COMPUTE_NOTES[compute_dtype]}; outputs are float32",
        f"- probability temperature: {temperature:.4g}"
        + (" (fitted on the validation split: served probabilities are calibrated)"
           if temperature != 1.0 else " (uncalibrated)"),
    ]
    test = metrics.get("test")
    if test:
        lines.append(f"- test set: {test['n_examples']} examples, accuracy {test['accuracy']:.4f}, "
                     f"macro-F1 {test['f1']:.4f}")
    text_note = (f"`serving_default` takes raw strings (input `text`), tokenized in the graph "
                 f"({module.text_tokenizer.family})"
                 if module.text_tokenizer is not None else
                 "no raw-text signature (no in-graph copy of this tokenizer); `serving_default` "
                 "takes token ids")
    lines += [
        "", "## Calling it", "",
        f"- {text_note}; `token_ids` takes `{'`, `'.join(module.input_names)}` (int32).",
        "- outputs: `probabilities`, `logits`, `label_id`, `label`.",
        "", "```bash",
        f"docker run -p 8501:8501 -v $PWD:/models/{name} -e MODEL_NAME={name} tensorflow/serving",
        f"curl -d '{{\"instances\": [\"great movie\"]}}' localhost:8501/v1/models/{name}:predict",
        "```", "",
        f"Version folders: `{version}/` (TF Serving loads the highest).", "",
    ]
    return "\n".join(lines)


def build_run_module(folder: RunFolder, compute_dtype: str = "float32",
                     temperature: float | None = None, max_length: int | None = None) -> ServingModule:
    """The serving module of a finished run, as `export_run` writes it.

    Texts are cut as in training and probabilities use the fitted temperature, unless
    `temperature` / `max_length` say otherwise (benchmarks measure other lengths).
    """
    if compute_dtype not in COMPUTE_DTYPES:
        raise ExportError(f"compute dtype must be one of {COMPUTE_DTYPES}, got {compute_dtype!r}")
    trained_length, truncation, head_tokens = folder.text_cut()
    with precision_policy(compute_dtype):  # whatever training used: the serving CPU decides
        model = build_model(str(folder.path))
        if compute_dtype == "bfloat16":
            use_float32_gelu(model)
        return build_serving_module(model, load_tokenizer(str(folder.path)),
                                    max_length or trained_length,
                                    folder.temperature() if temperature is None else temperature,
                                    truncation, head_tokens)


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
    module = build_run_module(folder, compute_dtype, temperature)
    with precision_policy(compute_dtype):
        path = write_version(module, base, version, model_name)
    written = int(path.name)
    max_length, temperature = int(module.max_length.numpy()), float(module.temperature.numpy())
    write_text_atomic(base / "models.config", MODELS_CONFIG.format(name=model_name))
    write_text_atomic(base / "batching_parameters.txt",
                      BATCHING_PARAMETERS.format(threads=os.cpu_count() or 1))
    write_text_atomic(base / "README.md",
                      _model_card(folder.path, model_name, written, module, max_length, temperature,
                                  compute_dtype))
    log.info("exported %s (raw-text signature: %s)", path, module.text_tokenizer is not None)
    return ExportResult(path, written, module.text_tokenizer is not None)
