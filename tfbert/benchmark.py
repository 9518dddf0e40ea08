"""Training, inference and serving speed of tfbert against the usual transformers TF and PyTorch recipes.

`run(cfg)` measures every row in its own process, so peak memory and compile caches are not shared:
tfbert and the transformers TF recipe run under this interpreter, the PyTorch Trainer rows under a
separate one (`cfg.torch_python`) through `python -m tfbert.benchmark --worker torch ...`. This
module imports neither TensorFlow nor PyTorch at the top, so the PyTorch worker never loads
TensorFlow; `python scripts/benchmark.py --help` lists the options.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfbert.config import PRECISIONS, ModelConfig, TrainConfig

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TORCH_PYTHON = REPO.parent / "venv-bench" / "bin" / "python"
BASE_ROWS = (1, 2, 3, 4, 5)
TORCH_THREADS = 2
PEAK_REPEATS, PEAK_TRIALS = 5, 3
PRECISION_ALIASES = {
    "f32": "float32", "float32": "float32",
    "bf16": "mixed_bfloat16", "mixed_bfloat16": "mixed_bfloat16",
    "fp16": "mixed_float16", "mixed_float16": "mixed_float16",
}
FLOPS_FORMULA = (
    "training FLOPs per token = 6*N + 12*L*S*H; inference 2*N + 4*L*S*H; N = L*(4*H^2 + 2*H*I) "
    "(the weight matrices of the Q/K/V/output projections and the feed-forward block; embeddings, "
    "biases, LayerNorm, pooler and head left out), L layers, H hidden size, I intermediate size, "
    "S the sequence length: the example's real length for model FLOPs (MFU), the padded batch "
    "length for hardware FLOPs (HFU)"
)


# ---------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class RowSpec:
    """One row of the table: which pipeline, precision and compiler to measure."""

    key: str
    title: str
    kind: str  # "tfbert", "hf-tf" or "torch"
    bucketing: bool = False
    pad_multiple: int = 16
    precision: str = "float32"
    jit_compile: bool = False
    pad_to_max_length: bool = False
    pipeline_check_steps: int = 0

    def setup(self, max_length: int) -> str:
        if self.kind == "tfbert":
            padding = f"bucket{self.pad_multiple}" if self.bucketing else "dynamic"
        elif self.pad_to_max_length:
            padding = f"pad to {max_length}"
        else:
            padding = "dynamic (DataCollatorWithPadding)"
        parts = [padding, self.precision] + (["XLA"] if self.jit_compile else [])
        return " · ".join(parts)


def parse_variant(text: str, key: str, pad_multiple: int = 16) -> RowSpec:
    """Reads a variant such as `bucket+bf16`, `dynamic+f32+xla` or `bucket8+f32` into a tfbert row.

    Tokens: `bucket` or `bucketN` (bucket width N) or `dynamic`; `f32`, `bf16` or `fp16`; `xla`.
    Unnamed parts keep the defaults: bucketing, float32, no XLA.
    """
    bucketing, precision, jit = True, "float32", False
    for token in (t.strip().lower() for t in text.split("+")):
        if token in ("dynamic", "plain"):
            bucketing = False
        elif token.startswith("bucket") and (token == "bucket" or token[6:].isdigit()):
            bucketing = True
            pad_multiple = int(token[6:]) if token != "bucket" else pad_multiple
        elif token in PRECISION_ALIASES:
            precision = PRECISION_ALIASES[token]
        elif token == "xla":
            jit = True
        else:
            raise ValueError(f"variant {text!r}: unknown part {token!r} (use bucket, bucketN, dynamic, "
                             "f32, bf16, fp16, xla joined by '+')")
    if not 1 <= pad_multiple <= 512:
        raise ValueError(f"variant {text!r}: bucket width must be in [1, 512]")
    return RowSpec(key=key, title=f"tfbert variant {text}", kind="tfbert", bucketing=bucketing,
                   pad_multiple=pad_multiple, precision=precision, jit_compile=jit)


@dataclass(frozen=True)
class BenchmarkConfig:
    """Everything one benchmark run needs; every row uses the same model, data and sizes."""

    model: str
    data: str
    max_length: int = 512
    batch_size: int = 16
    steps: int = 30
    warmup_steps: int = 5
    train_size: int = 4000
    eval_size: int = 256
    eval_batch_size: int = 32
    seed: int = 42
    learning_rate: float = TrainConfig().learning_rate
    rows: tuple[int, ...] = BASE_ROWS
    tfbert_precision: str = ModelConfig().precision
    tfbert_jit: bool = TrainConfig().jit_compile
    pad_multiple: int = TrainConfig().pad_multiple
    variants: tuple[str, ...] = ()
    pipeline_check_steps: int = 10
    torch_python: str | None = None
    serving: bool = True
    export_dir: str | None = None
    serving_requests: int = 100
    serving_batches: int = 4
    peak_size: int = 2048
    timeout: float | None = None
    output: str | None = None

    def __post_init__(self) -> None:
        for name in ("batch_size", "steps", "train_size", "eval_size", "eval_batch_size",
                     "serving_requests", "serving_batches", "peak_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be 0 or more, got {self.warmup_steps}")
        if self.pipeline_check_steps != 0 and self.pipeline_check_steps < 2:
            raise ValueError("pipeline_check_steps must be 0 (off) or at least 2")
        if self.max_length < 8:
            raise ValueError(f"max_length must be at least 8, got {self.max_length}")
        if not set(self.rows) <= set(BASE_ROWS):
            raise ValueError(f"rows must be among {BASE_ROWS}, got {self.rows}")
        if self.tfbert_precision not in PRECISIONS:
            raise ValueError(f"tfbert_precision must be one of {PRECISIONS}")
        if not 1 <= self.pad_multiple <= 512:
            raise ValueError(f"pad_multiple must be in [1, 512], got {self.pad_multiple}")
        for i, text in enumerate(self.variants):
            parse_variant(text, f"v{i + 1}", self.pad_multiple)  # raises on a bad variant

    @property
    def total_steps(self) -> int:
        return self.warmup_steps + self.steps


def plan_rows(cfg: BenchmarkConfig, tfbert_precision: str) -> list[RowSpec]:
    """The rows to measure, in table order; `tfbert_precision` is row 1's resolved policy."""
    check = cfg.pipeline_check_steps
    base = {
        1: RowSpec("1", "tfbert as shipped", "tfbert", bucketing=TrainConfig().bucketing,
                   pad_multiple=cfg.pad_multiple, precision=tfbert_precision,
                   jit_compile=cfg.tfbert_jit, pipeline_check_steps=check),
        2: RowSpec("2", "tfbert plain", "tfbert", bucketing=False, precision="float32"),
        3: RowSpec("3", "transformers TF recipe", "hf-tf"),
        4: RowSpec("4", "PyTorch Trainer, max length", "torch", pad_to_max_length=True),
        5: RowSpec("5", "PyTorch Trainer, dynamic", "torch"),
    }
    rows = [base[i] for i in BASE_ROWS if i in cfg.rows]
    rows += [parse_variant(text, f"v{i + 1}", cfg.pad_multiple) for i, text in enumerate(cfg.variants)]
    return rows


# ---------------------------------------------------------------------------- FLOPs and padding


@dataclass(frozen=True)
class EncoderShape:
    """The sizes of a BERT encoder that its FLOPs depend on."""

    layers: int
    hidden: int
    intermediate: int

    @classmethod
    def from_model_dir(cls, path: str | Path) -> EncoderShape:
        config = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
        return cls(config["num_hidden_layers"], config["hidden_size"], config["intermediate_size"])

    @property
    def dense_params(self) -> int:
        """Weights every token passes through: Q, K, V, output projections and the feed-forward pair."""
        return self.layers * (4 * self.hidden ** 2 + 2 * self.hidden * self.intermediate)

    def flops(self, tokens: float, length_weighted_tokens: float, training: bool = True) -> float:
        """FLOPs of `tokens` tokens; `length_weighted_tokens` sums each token's sequence length.

        Per token: 2N for the dense layers plus 4*L*S*H for attention scores and values in a
        forward pass; a training step costs three forward passes (forward, two for backward).
        """
        factor = 3 if training else 1
        return factor * (2 * self.dense_params * tokens
                         + 4 * self.layers * self.hidden * length_weighted_tokens)

    def flops_per_token(self, seq_len: int, training: bool = True) -> float:
        return self.flops(1, seq_len, training)


@dataclass(frozen=True)
class BatchStats:
    """One batch as the model saw it: rows, padded length, real tokens and sum of squared lengths."""

    rows: int
    length: int
    real: int
    real_sq: int

    @classmethod
    def from_mask(cls, mask) -> BatchStats:
        mask = np.asarray(mask)
        lengths = mask.sum(axis=1).astype(np.int64)
        return cls(int(mask.shape[0]), int(mask.shape[1]), int(lengths.sum()), int((lengths ** 2).sum()))

    @property
    def computed(self) -> int:
        return self.rows * self.length

    def as_list(self) -> list[int]:
        return [self.rows, self.length, self.real, self.real_sq]


def padding_efficiency_of(batches: list[BatchStats]) -> float:
    """Real tokens divided by computed (padded) tokens over the given batches."""
    computed = sum(b.computed for b in batches)
    return sum(b.real for b in batches) / computed if computed else 0.0


def batch_flops(batches: list[BatchStats], encoder: EncoderShape, training: bool = True
                ) -> tuple[float, float]:
    """(model FLOPs on real tokens, hardware FLOPs on padded tokens) over the batches."""
    model = sum(encoder.flops(b.real, b.real_sq, training) for b in batches)
    hardware = sum(encoder.flops(b.computed, b.rows * b.length ** 2, training) for b in batches)
    return model, hardware


def _stats(rows: list) -> list[BatchStats]:
    return [BatchStats(*r) for r in rows]


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _shape_notes(batches: list[BatchStats], durations: list[float], warmup: int) -> dict:
    """How many padded lengths the timed steps met, and the step time of first-seen vs known ones."""
    seen: set[int] = set()
    new_times, known_times, new_in_timed = [], [], 0
    for i, batch in enumerate(batches):
        is_new = batch.length not in seen
        seen.add(batch.length)
        if i < warmup:
            continue
        new_in_timed += is_new
        if i < len(durations):
            (new_times if is_new else known_times).append(durations[i])
    return {"distinct_lengths": len(seen), "new_lengths_in_timed": new_in_timed,
            "new_length_step_median_s": _median(new_times),
            "known_length_step_median_s": _median(known_times)}


def summarize_row(raw: dict, encoder: EncoderShape, peaks: dict, warmup: int, steps: int) -> dict:
    """Turns a worker's raw timings and batch shapes into the table's figures."""
    train = raw["train"]
    batches = _stats(train["batches"])
    ends = train["step_ends"]
    durations = list(np.diff([train["start"], *ends]))
    first = ends[warmup - 1] if warmup else train["start"]
    elapsed = ends[warmup + steps - 1] - first
    timed = batches[warmup:warmup + steps]
    model_flops, hardware_flops = batch_flops(timed, encoder)
    peak_dtype = "bfloat16" if raw.get("precision") == "mixed_bfloat16" else "float32"
    peak = peaks.get(peak_dtype)

    inference = raw["inference"]
    infer_batches = _stats(inference["batches"])
    infer_examples = sum(b.rows for b in infer_batches)
    infer_model_flops, _ = batch_flops(infer_batches, encoder, training=False)
    figures = {
        "train_examples_per_s": sum(b.rows for b in timed) / elapsed,
        "train_real_tokens_per_s": sum(b.real for b in timed) / elapsed,
        "train_computed_tokens_per_s": sum(b.computed for b in timed) / elapsed,
        "padding_efficiency": padding_efficiency_of(timed),
        "pool_padding_efficiency": raw.get("pool_padding_efficiency"),
        "timed_seconds": elapsed,
        "step_median_s": _median(durations[warmup:warmup + steps]),
        "model_flops_per_s": model_flops / elapsed,
        "hardware_flops_per_s": hardware_flops / elapsed,
        "mfu": model_flops / elapsed / peak if peak else None,
        "hfu": hardware_flops / elapsed / peak if peak else None,
        "mfu_vs_float32_peak": model_flops / elapsed / peaks["float32"] if peaks.get("float32") else None,
        "mfu_peak_dtype": peak_dtype,
        "inference_examples_per_s": infer_examples / inference["seconds"],
        "inference_cold_examples_per_s": infer_examples / inference["cold_seconds"],
        "inference_padding_efficiency": padding_efficiency_of(infer_batches),
        "inference_mfu": (infer_model_flops / inference["seconds"] / peak) if peak else None,
        "peak_rss_mb": raw["peak_rss_mb"],
        "train_function_traces": train.get("traces"),
    }
    figures.update(_shape_notes(batches, durations, warmup))
    return figures


SPEEDUP_BASES = ("3", "4", "5")


def add_speedups(rows: list[dict]) -> None:
    """Adds, to every measured row, its speed relative to rows 3, 4 and 5 where those were measured.

    Training compares real tokens/s (rows see different examples, so examples/s would reward
    short batches); inference compares examples/s on the same held-out sample.
    """
    figures = {r["key"]: r["figures"] for r in rows if r["status"] == "ok"}
    for row in rows:
        if row["status"] != "ok":
            continue
        mine = row["figures"]
        row["speedups"] = {
            base: {"train": mine["train_real_tokens_per_s"] / figures[base]["train_real_tokens_per_s"],
                   "inference": mine["inference_examples_per_s"]
                   / figures[base]["inference_examples_per_s"]}
            for base in SPEEDUP_BASES if base in figures
        }


# ---------------------------------------------------------------------------- data and machine


def load_sample(path: str | Path, seed: int, train_size: int, eval_size: int):
    """The shuffled data cut into a training pool and a held-out sample, the same in every worker.

    Shuffling comes first because files such as the shared IMDb copy are sorted by label.
    Returns (train frame, eval frame, label names), frames with columns `text` and `label` (int).
    """
    from tfbert.data import build_label_set, read_sources

    if not Path(path).is_file():
        raise ValueError(f"--data {path}: not a file (the benchmark reads one CSV/JSONL/parquet file)")
    frames, _ = read_sources((str(path),))
    frame = next(iter(frames.values()))
    missing = {"text", "label"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: needs columns text and label (missing {sorted(missing)})")
    frame = frame[["text", "label"]].dropna()
    labels, mapping = build_label_set(frame["label"], None)
    integer = all(isinstance(k, int) for k in mapping)
    frame = frame.assign(label=frame["label"].map(lambda v: mapping[int(v) if integer else v]))
    if len(frame) < train_size + eval_size:
        raise ValueError(f"{path} has {len(frame)} rows; train_size + eval_size needs "
                         f"{train_size + eval_size}")
    shuffled = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    train = shuffled.iloc[:train_size].reset_index(drop=True)
    held_out = shuffled.iloc[train_size:train_size + eval_size].reset_index(drop=True)
    return train, held_out, labels.names


def _lscpu() -> dict[str, str]:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}


def describe_machine() -> dict:
    """CPU model, cores, the flags that decide bfloat16 speed, memory, load and package versions."""
    info = _lscpu()
    flags = set(info.get("Flags", "").split())
    cores = None
    if info.get("Core(s) per socket", "").isdigit() and info.get("Socket(s)", "").isdigit():
        cores = int(info["Core(s) per socket"]) * int(info["Socket(s)"])
    memory_gb = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            memory_gb = round(int(handle.readline().split()[1]) / 2 ** 20, 1)
    except (OSError, ValueError, IndexError):
        pass
    versions = {"python": platform.python_version()}
    for name in ("tensorflow", "tf_keras", "transformers", "tokenizers", "datasets", "numpy"):
        try:
            versions[name] = __import__(name).__version__
        except (ImportError, AttributeError):
            versions[name] = None
    return {
        "cpu_model": info.get("Model name") or platform.processor() or "unknown",
        "physical_cores": cores,
        "logical_cpus": os.cpu_count(),
        "avx512_bf16": "avx512_bf16" in flags,
        "amx_bf16": "amx_bf16" in flags,
        "avx512f": "avx512f" in flags,
        "memory_gb": memory_gb,
        "platform": platform.platform(),
        "load_average_at_start": list(os.getloadavg()),
        "versions": versions,
    }


def measure_matmul_peak(dtype: str, size: int, repeats: int = PEAK_REPEATS,
                        trials: int = PEAK_TRIALS) -> float:
    """Best dense matmul FLOP/s of TensorFlow on this machine (`size` x `size`, best of `trials`)."""
    import tensorflow as tf

    a = tf.cast(tf.random.normal([size, size]), dtype)
    b = tf.cast(tf.random.normal([size, size]), dtype)
    tf.linalg.matmul(a, b).numpy()  # first call: kernel selection and allocation
    best = float("inf")
    for _ in range(trials):
        start = time.perf_counter()
        for _ in range(repeats):
            c = tf.linalg.matmul(a, b)
        c.numpy()
        best = min(best, (time.perf_counter() - start) / repeats)
    return 2 * size ** 3 / best


def busy_cores(seconds: float = 0.5) -> float | None:
    """CPU cores kept busy by the whole machine over `seconds` (from /proc/stat), while we sleep.

    Other jobs skew every figure, PyTorch's most: its OpenMP threads spin at barriers, and a
    2-thread Trainer step ran ~10x slower here while another process held 1.5 of the 2 cores.
    """
    def sample() -> tuple[int, int]:
        with open("/proc/stat", encoding="utf-8") as handle:
            values = [int(v) for v in handle.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # all ticks, idle + iowait ticks

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    ticks = total1 - total0
    return (os.cpu_count() or 1) * (1 - (idle1 - idle0) / ticks) if ticks else None


BUSY_WARNING = 0.25  # cores; above this another process was computing


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


# ---------------------------------------------------------------------------- TensorFlow workers


def _make_step_timer(keras):
    class StepTimer(keras.callbacks.Callback):
        """Clock time at the end of every training step.

        Without `_supports_tf_logs`, Keras converts each step's logs to NumPy before calling
        this hook, so each time stamp follows a finished step (input, forward, backward, update).
        """

        def __init__(self):
            super().__init__()
            self.start = None
            self.ends: list[float] = []

        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.ends.append(time.perf_counter())

    return StepTimer()


def _tf_batches(dataset) -> list[list[int]]:
    return [BatchStats.from_mask(features["attention_mask"].numpy()).as_list()
            for features, _ in dataset]


def _pipeline_check(model, build_dataset, steps: int, keras) -> dict:
    """Step time fed by the real pipeline vs by the same batches cached in memory.

    One fit over `take(k).cache().repeat()`: the first k steps pull the batches through the
    real pipeline (filling the cache), the next k replay them from memory. The fit's first
    step also starts the iterator (and fills the shuffle buffer), so it is left out.
    """
    timer = _make_step_timer(keras)
    model.fit(build_dataset().take(steps).cache().repeat(), epochs=1, steps_per_epoch=2 * steps,
              callbacks=[timer], verbose=0)
    durations = list(np.diff(timer.ends))  # durations[i] is step i + 1
    real, memory = _median(durations[:steps - 1]), _median(durations[steps - 1:])
    return {"steps": steps, "real_pipeline_step_s": real, "in_memory_step_s": memory,
            "ratio": real / memory if memory else None}


def _tfbert_worker(spec: dict) -> dict:
    """A tfbert row: the package's own tokenization, pipeline, model, optimizer and compile."""
    import tensorflow as tf

    from tfbert.data import LabelSet
    from tfbert.features import make_dataset, padding_efficiency, sort_by_length, tokenize_frame
    from tfbert.keras import keras
    from tfbert.model import build_model, build_optimizer, compile_model, load_tokenizer, precision_policy
    from tfbert.predict import make_logits_fn, predict_logits

    cfg, row = spec["cfg"], RowSpec(**spec["row"])
    seed, total = cfg["seed"], cfg["warmup_steps"] + cfg["steps"]
    train_frame, eval_frame, names = load_sample(cfg["data"], seed, cfg["train_size"], cfg["eval_size"])
    tokenizer = load_tokenizer(cfg["model"])
    pad_id = tokenizer.pad_token_id or 0
    train_split = tokenize_frame(train_frame, tokenizer, cfg["max_length"], show_progress=False)
    eval_split, _ = sort_by_length(tokenize_frame(eval_frame, tokenizer, cfg["max_length"],
                                                  show_progress=False))

    def build_train(repeat: bool = True):
        tf.random.set_seed(seed)  # the same global seed makes every build yield the same batches
        dataset = make_dataset(train_split, cfg["batch_size"], pad_id, shuffle=True, seed=seed,
                               bucketing=row.bucketing, pad_multiple=row.pad_multiple)
        return dataset.repeat() if repeat else dataset

    result = {"precision": row.precision,
              "pool_padding_efficiency": padding_efficiency(build_train(repeat=False)),
              "train": {"batches": _tf_batches(build_train().take(total))}}
    with precision_policy(row.precision):
        keras.utils.set_random_seed(seed)
        model = build_model(cfg["model"], LabelSet(tuple(names)))
        train_cfg = TrainConfig(batch_size=cfg["batch_size"], learning_rate=cfg["learning_rate"])
        optimizer = build_optimizer(train_cfg, total + 2 * row.pipeline_check_steps)
        compile_model(model, optimizer, jit_compile=row.jit_compile)
        timer = _make_step_timer(keras)
        model.fit(build_train(), epochs=1, steps_per_epoch=total, callbacks=[timer], verbose=0)
        tracing = getattr(model.train_function, "experimental_get_tracing_count", None)
        result["train"].update(start=timer.start, step_ends=timer.ends,
                               traces=tracing() if tracing else None)
        if row.pipeline_check_steps:
            result["pipeline_check"] = _pipeline_check(model, build_train, row.pipeline_check_steps, keras)

        # Inference as tfbert evaluates: shortest first, so each batch carries little padding.
        eval_ds = make_dataset(eval_split, cfg["eval_batch_size"], pad_id, bucketing=row.bucketing,
                               pad_multiple=row.pad_multiple)
        logits_fn = make_logits_fn(model)
        result["inference"] = _time_passes(lambda: predict_logits(model, eval_ds, logits_fn))
        result["inference"]["batches"] = _tf_batches(eval_ds)
    return result


def _time_passes(predict) -> dict:
    """Times a cold pass (tracing, first allocations) and then a warm one."""
    start = time.perf_counter()
    predict()
    cold = time.perf_counter() - start
    start = time.perf_counter()
    predict()
    return {"cold_seconds": cold, "seconds": time.perf_counter() - start}


class RecordingCollator:
    """Wraps a data collator and notes every batch it builds, in order.

    Loaders consume batches first in, first out, so the i-th recorded batch is the i-th one
    the model trained on, whatever was prefetched after it.
    """

    def __init__(self, collate):
        self.collate = collate
        self.batches: list[list[int]] = []

    def __call__(self, features, *args, **kwargs):
        batch = self.collate(features, *args, **kwargs)
        mask = batch["attention_mask"]
        self.batches.append(BatchStats.from_mask(mask.numpy() if hasattr(mask, "numpy") else mask).as_list())
        return batch


def _hf_tf_worker(spec: dict) -> dict:
    """The transformers TF recipe: `prepare_tf_dataset` + `compile(optimizer=...)` + `fit`."""
    import datasets
    from transformers import (
        AutoTokenizer,
        DataCollatorWithPadding,
        TFAutoModelForSequenceClassification,
        create_optimizer,
    )

    from tfbert.features import padding_efficiency
    from tfbert.keras import keras

    cfg = spec["cfg"]
    seed, total = cfg["seed"], cfg["warmup_steps"] + cfg["steps"]
    train_frame, eval_frame, names = load_sample(cfg["data"], seed, cfg["train_size"], cfg["eval_size"])
    tokenizer = AutoTokenizer.from_pretrained(cfg["model"])
    datasets.disable_progress_bars()

    def encode(frame):
        dataset = datasets.Dataset.from_pandas(frame, preserve_index=False)
        return dataset.map(lambda b: tokenizer(b["text"], truncation=True, max_length=cfg["max_length"]),
                           batched=True, remove_columns=["text"])

    hf_train, hf_eval = encode(train_frame), encode(eval_frame)
    keras.utils.set_random_seed(seed)
    model = TFAutoModelForSequenceClassification.from_pretrained(cfg["model"], num_labels=len(names))
    # `tokenizer=` alone would make exactly this collator; passing it wrapped records each batch.
    recorder = RecordingCollator(DataCollatorWithPadding(tokenizer=tokenizer, return_tensors="np"))

    def prepare(dataset, batch_size, shuffle):
        return model.prepare_tf_dataset(dataset, batch_size=batch_size, shuffle=shuffle,
                                        tokenizer=tokenizer, collate_fn=recorder)

    pool_efficiency = padding_efficiency(prepare(hf_train, cfg["batch_size"], True))
    train_ds = prepare(hf_train, cfg["batch_size"], True).repeat()
    recorder.batches.clear()  # prepare_tf_dataset calls the collator to find the output signature
    optimizer, _ = create_optimizer(init_lr=cfg["learning_rate"], num_train_steps=total,
                                    num_warmup_steps=int(TrainConfig().warmup_ratio * total),
                                    weight_decay_rate=TrainConfig().weight_decay)
    model.compile(optimizer=optimizer)
    timer = _make_step_timer(keras)
    model.fit(train_ds, epochs=1, steps_per_epoch=total, callbacks=[timer], verbose=0)
    tracing = getattr(model.train_function, "experimental_get_tracing_count", None)
    train = {"batches": recorder.batches[:total], "start": timer.start, "step_ends": timer.ends,
             "traces": tracing() if tracing else None}

    eval_ds = prepare(hf_eval, cfg["eval_batch_size"], False)
    inference = _time_passes(lambda: (recorder.batches.clear(), model.predict(eval_ds, verbose=0)))
    inference["batches"] = list(recorder.batches)
    return {"precision": "float32", "pool_padding_efficiency": pool_efficiency, "train": train,
            "inference": inference}


# ---------------------------------------------------------------------------- PyTorch worker


def _torch_peaks(size: int) -> dict:
    import torch

    peaks = {}
    for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
        torch.matmul(a, b)
        best = float("inf")
        for _ in range(PEAK_TRIALS):
            start = time.perf_counter()
            for _ in range(PEAK_REPEATS):
                torch.matmul(a, b)
            best = min(best, (time.perf_counter() - start) / PEAK_REPEATS)
        peaks[name] = 2 * size ** 3 / best
    return peaks


def _torch_worker(spec: dict) -> dict:
    """A PyTorch Trainer row; imports torch and transformers only (runs in the bench venv)."""
    import datasets
    import torch
    import transformers
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainerCallback,
        TrainingArguments,
        default_data_collator,
    )

    torch.set_num_threads(TORCH_THREADS)
    cfg, row = spec["cfg"], RowSpec(**spec["row"])
    seed, total = cfg["seed"], cfg["warmup_steps"] + cfg["steps"]
    peaks = _torch_peaks(cfg["peak_size"])
    train_frame, eval_frame, names = load_sample(cfg["data"], seed, cfg["train_size"], cfg["eval_size"])
    tokenizer = AutoTokenizer.from_pretrained(cfg["model"])
    datasets.disable_progress_bars()
    padding = "max_length" if row.pad_to_max_length else False

    def encode(frame):
        dataset = datasets.Dataset.from_pandas(frame, preserve_index=False)
        return dataset.map(lambda b: tokenizer(b["text"], truncation=True, max_length=cfg["max_length"],
                                               padding=padding),
                           batched=True, remove_columns=["text"])

    hf_train, hf_eval = encode(train_frame), encode(eval_frame)
    # Notebooks that pad to max_length up front use the default collator; the others pad per batch.
    recorder = RecordingCollator(default_data_collator if row.pad_to_max_length
                                 else DataCollatorWithPadding(tokenizer=tokenizer))

    class StepTimer(TrainerCallback):
        """Clock time at each optimizer step's end (data loading happens before the step begins)."""

        def __init__(self):
            self.start, self.ends = None, []

        def on_train_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.ends.append(time.perf_counter())

    model = AutoModelForSequenceClassification.from_pretrained(cfg["model"], num_labels=len(names))
    timer = StepTimer()
    with tempfile.TemporaryDirectory() as output_dir:
        args = TrainingArguments(
            output_dir=output_dir, per_device_train_batch_size=cfg["batch_size"],
            per_device_eval_batch_size=cfg["eval_batch_size"], max_steps=total,
            learning_rate=cfg["learning_rate"], weight_decay=TrainConfig().weight_decay,
            warmup_ratio=TrainConfig().warmup_ratio, lr_scheduler_type="linear",
            logging_strategy="no", save_strategy="no", eval_strategy="no", report_to=[],
            use_cpu=True, dataloader_num_workers=0, dataloader_pin_memory=False, seed=seed,
            disable_tqdm=True,
        )
        trainer = Trainer(model=model, args=args, train_dataset=hf_train, data_collator=recorder,
                          callbacks=[timer])
        pool = RecordingCollator(recorder.collate)
        for _ in torch.utils.data.DataLoader(hf_train, batch_size=cfg["batch_size"], shuffle=True,
                                             collate_fn=pool):
            pass
        trainer.train()
        train = {"batches": recorder.batches[:total], "start": timer.start, "step_ends": timer.ends,
                 "traces": None}
        inference = _time_passes(lambda: (recorder.batches.clear(), trainer.predict(hf_eval)))
        inference["batches"] = list(recorder.batches)
    return {"precision": "float32", "train": train, "inference": inference,
            "pool_padding_efficiency": padding_efficiency_of(_stats(pool.batches)),
            "torch_peaks": peaks, "torch_threads": torch.get_num_threads(),
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__}}


WORKERS = {"tfbert": _tfbert_worker, "hf-tf": _hf_tf_worker, "torch": _torch_worker}


def worker_main(argv: list[str] | None = None) -> int:
    """`python -m tfbert.benchmark --worker KIND SPEC OUT`: measures one row, writes its JSON."""
    parser = argparse.ArgumentParser(prog="python -m tfbert.benchmark")
    parser.add_argument("--worker", choices=sorted(WORKERS), required=True)
    parser.add_argument("spec")
    parser.add_argument("out")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    spec = json.loads(Path(args.spec).read_text(encoding="utf-8"))
    started = time.monotonic()
    result = WORKERS[args.worker](spec)
    result.update(status="ok", peak_rss_mb=_peak_rss_mb(), seconds=time.monotonic() - started)
    tmp = Path(args.out).with_suffix(".tmp")
    tmp.write_text(json.dumps(result), encoding="utf-8")
    os.replace(tmp, args.out)
    return 0


# ---------------------------------------------------------------------------- orchestration


def _run_worker(python: str, row: RowSpec, cfg: BenchmarkConfig) -> dict:
    """Runs one row in a fresh process and returns its raw result (or why it failed)."""
    with tempfile.TemporaryDirectory(prefix="tfbert-bench-") as tmp:
        spec, out, log_path = Path(tmp, "spec.json"), Path(tmp, "out.json"), Path(tmp, "worker.log")
        spec.write_text(json.dumps({"cfg": dataclasses.asdict(cfg), "row": dataclasses.asdict(row)}),
                        encoding="utf-8")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p))
        command = [python, "-m", "tfbert.benchmark", "--worker", row.kind, str(spec), str(out)]
        try:
            with open(log_path, "w", encoding="utf-8") as handle:
                code = subprocess.run(command, cwd=REPO, env=env, stdout=handle,
                                      stderr=subprocess.STDOUT, timeout=cfg.timeout).returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
        if code == 0 and out.exists():
            return json.loads(out.read_text(encoding="utf-8"))
        tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-15:]
        log.error("row %s failed (exit %s); worker log ends:\n%s", row.key, code, "\n".join(tail))
        reason = tail[-1] if tail else "no output"
        return {"status": "failed", "message": f"failed (exit {code}): {reason}"[:300]}


def _torch_unavailable(cfg: BenchmarkConfig) -> str | None:
    if cfg.torch_python is None:
        return "skipped: no PyTorch interpreter given (--torch-python; see requirements-bench.txt)"
    if not Path(cfg.torch_python).is_file():
        return (f"skipped: no PyTorch interpreter at {cfg.torch_python} "
                "(create that venv: see requirements-bench.txt)")
    return None


def measure_rows(cfg: BenchmarkConfig, rows: list[RowSpec], encoder: EncoderShape, peaks: dict
                 ) -> list[dict]:
    """Measures each row in its own process, one after the other."""
    results = []
    for row in rows:
        entry = {"key": row.key, "title": row.title, "setup": row.setup(cfg.max_length),
                 "spec": dataclasses.asdict(row)}
        skipped = _torch_unavailable(cfg) if row.kind == "torch" else None
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
        raw = _run_worker(python, row, cfg)
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
    serving latency. `format_report(report)` renders it as markdown.
    """
    from tfbert.model import resolve_precision

    started = time.monotonic()
    machine = describe_machine()
    machine["busy_cores_at_start"] = busy = busy_cores()
    if busy is not None and busy > BUSY_WARNING:
        log.warning("%.1f of %d cores are busy before the benchmark starts: stop other jobs for "
                    "figures worth keeping", busy, os.cpu_count() or 1)
    encoder = EncoderShape.from_model_dir(cfg.model)
    log.info("measuring the dense matmul peak (%d x %d)...", cfg.peak_size, cfg.peak_size)
    peaks = {dtype: measure_matmul_peak(dtype, cfg.peak_size) for dtype in ("float32", "bfloat16")}
    rows = measure_rows(cfg, plan_rows(cfg, resolve_precision(cfg.tfbert_precision)), encoder, peaks)
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
        from tfbert.run_folder import write_json_atomic

        write_json_atomic(cfg.output, report)
    return report


# ---------------------------------------------------------------------------- serving


def resolve_version_dir(path: str | Path) -> Path:
    """A SavedModel version folder from a version folder, a model base folder or a run folder."""
    path = Path(path)
    if (path / "saved_model.pb").exists():
        return path
    versions = sorted((int(p.name) for p in path.iterdir() if p.is_dir() and p.name.isdigit()),
                      reverse=True) if path.is_dir() else []
    if versions:
        return path / str(versions[0])
    if (path / "export" / "classifier").is_dir():
        return resolve_version_dir(path / "export" / "classifier")
    raise ValueError(f"{path} holds no SavedModel (saved_model.pb or integer version folders)")


def make_export(model_path: str, label_names: tuple[str, ...], max_length: int, workdir: Path) -> Path:
    """Exports the pretrained model with an untrained head (fine for latency) via a run-like folder."""
    from tfbert.data import LabelSet
    from tfbert.export import export_run
    from tfbert.model import build_model, load_tokenizer, precision_policy
    from tfbert.run_folder import write_json_atomic

    run_dir = workdir / "run"
    with precision_policy("float32"):
        model = build_model(model_path, LabelSet(tuple(label_names)))
        model.save_pretrained(str(run_dir))
    load_tokenizer(model_path).save_pretrained(str(run_dir))
    write_json_atomic(run_dir / "run_config.json", {"data": {"max_length": max_length}})
    return export_run(run_dir).path


def _time_call(call, inputs: dict) -> float:
    start = time.perf_counter()
    call(**inputs)["label_id"].numpy()
    return time.perf_counter() - start


def _time_interleaved(signatures: dict, requests: list[list[str]]) -> dict[str, list[float]]:
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
    """p50/p99 batch-1 latency and batch-32 throughput of both signatures of a tfbert export."""
    import tensorflow as tf

    from tfbert.model import load_tokenizer

    try:
        _, eval_frame, names = load_sample(cfg.data, cfg.seed, cfg.train_size, cfg.eval_size)
        texts = list(eval_frame["text"])
        with tempfile.TemporaryDirectory(prefix="tfbert-bench-export-") as tmp:
            if cfg.export_dir:
                version_dir = resolve_version_dir(cfg.export_dir)
                run_dir = version_dir.parents[2] if len(version_dir.parents) > 2 else version_dir
                tokenizer_source = str(run_dir) if (run_dir / "tokenizer.json").exists() else cfg.model
                config_path = run_dir / "run_config.json"
                max_length = (json.loads(config_path.read_text()).get("data", {}).get("max_length",
                              cfg.max_length) if config_path.exists() else cfg.max_length)
            else:
                version_dir = make_export(cfg.model, names, cfg.max_length, Path(tmp))
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
    latency = _time_interleaved(signatures, single)
    batch_times = _time_interleaved(signatures, batches)
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


# ---------------------------------------------------------------------------- report


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


MAIN_HEADERS = ["#", "row", "setup", "train ex/s", "real tok/s", "pad eff", "infer ex/s",
                "peak RSS MB", "MFU"]


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
    """The printed report: figures table, speed-ups, peaks, notes, serving and machine."""
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


if __name__ == "__main__":
    sys.exit(worker_main())
