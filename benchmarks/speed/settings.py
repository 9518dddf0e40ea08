"""What one benchmark run measures: its settings and the rows of the table."""

from __future__ import annotations

from dataclasses import dataclass

from tfbert.config import PRECISIONS, ModelConfig, TrainConfig

BASE_ROWS = (1, 2, 3, 4, 5, 6)
SPEEDUP_BASES = ("3", "4", "5", "6")  # the peers every row is compared with
PRECISION_ALIASES = {
    "f32": "float32", "float32": "float32",
    "bf16": "mixed_bfloat16", "mixed_bfloat16": "mixed_bfloat16",
    "fp16": "mixed_float16", "mixed_float16": "mixed_float16",
}


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
        """The table's short description of the row's padding, precision and compiler."""
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

    Raises:
        ValueError: an unknown part, or a bucket width outside [1, 512].
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
    """Everything one benchmark run needs; every row uses the same model, data and sizes.

    `learning_rate`, `weight_decay` and `warmup_ratio` come from tfbert's `TrainConfig` and are
    handed to every worker, the PyTorch one included (it cannot import tfbert).
    """

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
    weight_decay: float = TrainConfig().weight_decay
    warmup_ratio: float = TrainConfig().warmup_ratio
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
        # the recipe transformers documents for CPUs: bf16=True, use_cpu=True
        6: RowSpec("6", "PyTorch Trainer, bf16", "torch", precision="mixed_bfloat16"),
    }
    rows = [base[i] for i in BASE_ROWS if i in cfg.rows]
    rows += [parse_variant(text, f"v{i + 1}", cfg.pad_multiple) for i, text in enumerate(cfg.variants)]
    return rows
