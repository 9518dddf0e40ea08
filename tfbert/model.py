"""The classifier: tokenizer and `TFAutoModelForSequenceClassification`, precision, optimizer, compile."""

from __future__ import annotations

import contextlib
import functools
import logging
from pathlib import Path

import tensorflow as tf

from tfbert.base.errors import ModelLoadError
from tfbert.base.keras import keras
from tfbert.config import TrainConfig
from tfbert.data import LabelSet
from tfbert.dropout import use_counter_dropout
from tfbert.tasks.kinds import PROBLEM_TYPES
from tfbert.tasks.losses import Float32Crossentropy

log = logging.getLogger(__name__)


NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})  # x86 flags of bf16 arithmetic


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo; empty where the file does not exist."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    line = next((row for row in text.splitlines() if row.startswith("flags")), "flags:")
    return frozenset(line.split(":", 1)[1].split())


def resolve_precision(precision: str) -> tuple[str, str]:
    """The Keras dtype policy for `precision`, and why.

    `auto` is mixed_float16 on a GPU, mixed_bfloat16 on a CPU that computes bfloat16 natively
    (avx512_bf16 or AMX: about 1.5x faster training here, same accuracy), float32 on other CPUs
    (emulated bfloat16 would be slower than float32 there).
    """
    if precision != "auto":
        return precision, "as asked"
    if tf.config.list_physical_devices("GPU"):
        return "mixed_float16", "auto: a GPU is visible"
    native = sorted(NATIVE_BF16_FLAGS & cpu_flags())
    if native:
        return "mixed_bfloat16", f"auto: the CPU computes bfloat16 natively ({', '.join(native)})"
    return "float32", "auto: the CPU has no native bfloat16 arithmetic (avx512_bf16 or amx_bf16)"


def resolve_compute_dtype(choice: str) -> tuple[str, str]:
    """What a forward pass computes in for `choice` ("auto", "float32" or "bfloat16"), and why.

    `auto` is bfloat16 where the CPU computes it natively (speed and agreement with float32 in
    docs/benchmarks.md), float32 elsewhere (GPUs, and CPUs that would emulate bfloat16).
    """
    if choice != "auto":
        return choice, "as asked"
    if tf.config.list_physical_devices("GPU"):
        return "float32", "auto: a GPU is visible"
    native = sorted(NATIVE_BF16_FLAGS & cpu_flags())
    if native:
        return "bfloat16", f"auto: the CPU computes bfloat16 natively ({', '.join(native)})"
    return "float32", "auto: the CPU has no native bfloat16 arithmetic"


@contextlib.contextmanager
def precision_policy(policy: str):
    """Sets the global Keras dtype policy (models built inside use it), restoring it on exit."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _check_local(name_or_path: str) -> None:
    path = Path(name_or_path)
    if not path.exists():
        return
    if not path.is_dir():
        raise ModelLoadError(f"model path {path} is a file; pass the folder holding config.json")
    if not (path / "config.json").exists():
        raise ModelLoadError(f"model folder {path} has no config.json")


def load_tokenizer(name_or_path: str):
    """Loads the model's fast (Rust) tokenizer, which tfbert's pipeline and export rely on."""
    from transformers import AutoTokenizer

    _check_local(name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, use_fast=True)
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"cannot load a tokenizer from {name_or_path!r}: {err}") from err
    if not tokenizer.is_fast:
        raise ModelLoadError(f"{name_or_path!r} has no fast tokenizer (tokenizer.json)")
    return tokenizer


@functools.cache
def _note_transformers_version() -> None:
    """One line of ours instead of transformers' own deprecation notice, which it hides."""
    import transformers

    log.info("transformers %s: the last major line with TensorFlow models (5.x drops them); "
             "tfbert pins it and supports them as they are", transformers.__version__)


def build_model(name_or_path: str, labels: LabelSet | None = None):
    """Loads the pretrained encoder with a fresh classification head sized for `labels`.

    A folder holding only PyTorch `model.safetensors` loads without PyTorch: transformers
    4.53 converts those weights to TensorFlow itself. With `labels=None` the checkpoint's own
    head and label names are kept (reloading a fine-tuned run). The head has one output per
    class or label (one for a regression), and `config.problem_type` records the task.
    """
    from transformers import TFAutoModelForSequenceClassification

    _check_local(name_or_path)
    _note_transformers_version()
    kwargs = {}
    if labels is not None:
        kwargs = {"num_labels": len(labels), "id2label": labels.id2label,
                  "label2id": labels.label2id, "problem_type": PROBLEM_TYPES[labels.task],
                  "ignore_mismatched_sizes": True}  # a fine-tuned start may have another head
    try:
        return TFAutoModelForSequenceClassification.from_pretrained(name_or_path, **kwargs)
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"cannot load a model from {name_or_path!r}: {err}") from err


def output_names(model) -> tuple[str, ...]:
    """The names of a loaded model's outputs (classes, labels, or the target), in id order."""
    names = model.config.id2label
    return tuple(names[i] for i in range(len(names)))


def _gelu_in_float32(x: tf.Tensor) -> tf.Tensor:
    """The exact (erf) GELU computed in float32, returned in the input's dtype."""
    return tf.cast(tf.nn.gelu(tf.cast(x, tf.float32)), x.dtype)


def use_float32_gelu(model) -> int:
    """Computes the feed-forward GELU in float32 in a bfloat16 model; returns how many it switched.

    For serving only: `Erfc` has no fast bfloat16 kernel on CPUs, and in a forward pass two casts
    cost less than it (bfloat16 export, batch 1 at 512 tokens: 48.9 -> 40.9 ms). In training the
    backward pass's extra casts cost more than they save (measured), so training keeps it as is.
    """
    switched = 0
    for layer in model.submodules:
        for name in ("intermediate_act_fn", "activation"):  # BERT/ELECTRA/RoBERTa, DistilBERT
            if getattr(layer, name, None) is keras.activations.gelu:
                setattr(layer, name, _gelu_in_float32)
                switched += 1
    return switched


def check_vocabulary(model, tokenizer, name_or_path: str) -> None:
    """Refuses a tokenizer whose ids the model's embedding table cannot hold."""
    vocab_size = getattr(model.config, "vocab_size", None)
    if vocab_size is not None and len(tokenizer) > vocab_size:
        raise ModelLoadError(
            f"{name_or_path}: the tokenizer has {len(tokenizer)} tokens but the model only "
            f"{vocab_size} embeddings; the tokenizer files belong to another model"
        )


def max_positions(model) -> int | None:
    """The longest input the checkpoint's position embeddings allow, if it has a limit."""
    return getattr(model.config, "max_position_embeddings", None)


def build_optimizer(cfg: TrainConfig, total_steps: int):
    """AdamW with linear warm-up then linear decay; no weight decay on LayerNorm and biases."""
    from transformers import create_optimizer

    warmup_steps = int(cfg.warmup_ratio * total_steps)
    optimizer, _ = create_optimizer(
        init_lr=cfg.learning_rate,
        num_train_steps=max(total_steps, 1),
        num_warmup_steps=warmup_steps,
        weight_decay_rate=cfg.weight_decay,
    )
    return optimizer


def compile_model(model, optimizer, jit_compile: bool = False, seed: int = 0,
                  counter_dropout: bool = True, loss=None) -> None:
    """The task's float32 loss from logits (default: single-label cross-entropy, with a running
    accuracy for the progress bar); XLA on request.

    Also switches the model's dropout to `CounterDropout` (same rate and scaling, far cheaper
    random bits), with masks keyed by `seed` and the optimizer's step count; `counter_dropout=
    False` keeps Keras' own (for comparisons).
    """
    loss = loss or Float32Crossentropy()
    single_label = isinstance(loss, Float32Crossentropy)
    model.compile(
        optimizer=optimizer,
        loss=loss,
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")] if single_label else [],
        jit_compile=jit_compile,
    )
    if counter_dropout:
        switched = use_counter_dropout(model, model.optimizer.iterations, seed)
        log.debug("%d dropout layers draw counter-based masks", switched)
