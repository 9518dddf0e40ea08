"""What an export carries besides the model: its model card and example TF Serving settings."""

from __future__ import annotations

from pathlib import Path

from tfbert.config import RunConfig
from tfbert.encoder.module import FastEncoder
from tfbert.serving.module import ServingModule
from tfbert.tasks.head import TaskHead
from tfbert.tasks.kinds import MULTI_LABEL, REGRESSION, SINGLE_LABEL

COMPUTE_NOTES = {
    "float32": "float32 (any CPU or GPU)",
    "bfloat16": "bfloat16 (weights and arithmetic), for CPUs with native bfloat16 (x86 flags "
                "avx512_bf16 or amx_bf16: Intel Cooper Lake, Sapphire Rapids and later, AMD Zen 4 "
                "and later); elsewhere it runs emulated, slower than the float32 export",
}


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


def _cut_rule(module: ServingModule) -> str:
    if module.text_tokenizer is None:
        return "clients must truncate token ids as in training"
    if module.text_tokenizer.windows is not None:
        stride, max_windows = module.text_tokenizer.windows
        pair = ", a pair's second text in each" if module.is_pair else ""
        return (f"longer texts are read whole as overlapping windows (stride {stride} tokens, "
                f"at most {max_windows} per text{pair}), their outputs aggregated by "
                f"{module.aggregate}; `token_ids` rows are one window each")
    if module.is_pair:
        return {"longest_first": "a longer pair loses tokens from the end of its longer text",
                "only_first": "a longer pair loses tokens from the end of its first text",
                "only_second": "a longer pair loses tokens from the end of its second text"}[
            module.text_tokenizer.pair_truncation]
    head, budget = module.text_tokenizer.head_tokens, module.text_tokenizer.budget
    if head >= budget:
        return "longer texts keep their first tokens"
    return f"longer texts keep their first {head} and last {budget - head} tokens"


def _forward_note(module: ServingModule) -> str:
    if isinstance(module.forward, FastEncoder):
        return (f"tfbert's fast encoder ({module.forward.model_type}, {module.forward.num_layers} "
                "layers; the fine-tuned weights, in fused core ops)")
    return "the model's own transformers layers (the fast encoder does not cover this architecture)"


OUTPUTS = {
    SINGLE_LABEL: "`probabilities`, `logits`, `label_id`, `label`",
    REGRESSION: "`score` (float32, one per text, in the target's unit)",
    MULTI_LABEL: "`probabilities` (one sigmoid per label), `labels_mask` (bool: the label's "
                 "probability reaches its threshold), `label_names` (the labels, per row)",
}


def _task_lines(head: TaskHead, test: dict | None) -> list[str]:
    """The problem type, its decision rule and its test-set figures."""
    lines = [f"- task: {head.task}"]
    if head.task == REGRESSION:
        lines[0] += (f" (target `{head.names[0]}`; trained on z-scores with mean {head.mean:.4g} "
                     f"and scale {head.scale:.4g}, undone in the graph)")
    if head.task == MULTI_LABEL:
        lines.append("- thresholds (tuned on validation: each label's best-F1 threshold where it "
                     "does not lower the micro-F1, else 0.5): " + ", ".join(
            f"{n} {t:.3f}" for n, t in zip(head.names, head.thresholds, strict=True)))
    if not test:
        return lines
    if head.task == REGRESSION:
        figures = ", ".join(f"{k} {test[k]:.4f}" for k in ("rmse", "mae", "pearson", "spearman")
                            if test.get(k) is not None)
    elif head.task == MULTI_LABEL:
        figures = (f"micro-F1 {test['micro_f1']:.4f}, macro-F1 {test['macro_f1']:.4f}, "
                   f"subset accuracy {test['subset_accuracy']:.4f}")
    else:
        figures = f"accuracy {test['accuracy']:.4f}, macro-F1 {test['f1']:.4f}"
    return lines + [f"- test set: {test['n_examples']} examples, {figures}"]


def model_card(run_dir: Path, cfg: RunConfig | None, metrics: dict, name: str, version: int,
               module: ServingModule, compute_dtype: str = "float32") -> str:
    """The export's README.md: what it was trained from, how it cuts texts, how to call it.

    `cfg` is the run's saved config; None for a checkpoint folder that has none.
    """
    max_length, temperature = int(module.max_length.numpy()), float(module.temperature.numpy())
    labels = [s.decode() for s in module.label_names.numpy()]
    lines = [
        f"# {name}", "",
        f"Text classifier exported by tfbert from `{run_dir}`.", "",
        f"- base model: `{cfg.model.name_or_path if cfg else 'unknown'}`",
        f"- data: `{' '.join(cfg.data.sources) if cfg else 'unknown'}`",
        f"- labels (id order): {', '.join(labels)}",
        f"- max length: {max_length} tokens{' per pair' if module.is_pair else ''}; "
        f"{_cut_rule(module)}",
        f"- computes in {COMPUTE_NOTES[compute_dtype]}; outputs are float32",
        f"- forward pass: {_forward_note(module)}",
    ]
    if module.head.task == SINGLE_LABEL:
        lines.append(f"- probability temperature: {temperature:.4g}"
                     + (" (fitted on the validation split: served probabilities are calibrated)"
                        if temperature != 1.0 else " (uncalibrated)"))
    lines += _task_lines(module.head, metrics.get("test"))
    inputs = "inputs `text` and `text_pair`, one pair per row" if module.is_pair else "input `text`"
    text_note = (f"`serving_default` takes raw strings ({inputs}), tokenized in the graph "
                 f"({module.text_tokenizer.family})"
                 if module.text_tokenizer is not None else
                 "no raw-text signature (no in-graph copy of this tokenizer); `serving_default` "
                 "takes token ids")
    body = ('{"instances": [{"text": "a question", "text_pair": "an answer"}]}' if module.is_pair
            else '{"instances": ["great movie"]}')
    lines += [
        "", "## Calling it", "",
        f"- {text_note}; `token_ids` takes `{'`, `'.join(module.input_names)}` (int32).",
        f"- outputs: {OUTPUTS[module.head.task]}.",
        "", "```bash",
        f"docker run -p 8501:8501 -v $PWD:/models/{name} -e MODEL_NAME={name} tensorflow/serving",
        f"curl -d '{body}' localhost:8501/v1/models/{name}:predict",
        "```", "",
        f"Version folders: `{version}/` (TF Serving loads the highest).", "",
    ]
    return "\n".join(lines)
