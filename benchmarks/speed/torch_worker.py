"""A PyTorch Trainer row, run under the PyTorch venv's interpreter: torch and transformers only."""

from __future__ import annotations

import sys
import tempfile

from benchmarks.speed.timing import best_matmul_flops, make_step_timer, time_passes
from benchmarks.speed.worker import RecordingCollator, read_sample, worker_main

# This interpreter has no TensorFlow and no tfbert: import neither, here or in the modules above.

TORCH_THREADS = 2


def torch_peaks(size: int) -> dict[str, float]:
    """Best dense matmul FLOP/s of PyTorch on this machine, float32 and bfloat16."""
    import torch

    peaks = {}
    for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
        peaks[name] = best_matmul_flops(lambda a=a, b=b: torch.matmul(a, b), size)
    return peaks


def measure(spec: dict) -> dict:
    """Trains and infers with the `Trainer`; returns step times, batch shapes and torch's peaks."""
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
    cfg, pad_to_max_length = spec["cfg"], spec["row"]["pad_to_max_length"]
    bf16 = spec["row"]["precision"] == "mixed_bfloat16"  # Trainer's bf16 autocast
    seed, total = cfg["seed"], cfg["warmup_steps"] + cfg["steps"]
    peaks = torch_peaks(cfg["peak_size"])
    train_frame, eval_frame, names = read_sample(spec["sample"])
    tokenizer = AutoTokenizer.from_pretrained(cfg["model"])
    datasets.disable_progress_bars()
    padding = "max_length" if pad_to_max_length else False

    def encode(frame):
        dataset = datasets.Dataset.from_pandas(frame, preserve_index=False)
        return dataset.map(lambda b: tokenizer(b["text"], truncation=True, max_length=cfg["max_length"],
                                               padding=padding),
                           batched=True, remove_columns=["text"])

    hf_train, hf_eval = encode(train_frame), encode(eval_frame)
    # Notebooks that pad to max_length up front use the default collator; the others pad per batch.
    recorder = RecordingCollator(default_data_collator if pad_to_max_length
                                 else DataCollatorWithPadding(tokenizer=tokenizer))
    model = AutoModelForSequenceClassification.from_pretrained(cfg["model"], num_labels=len(names))
    timer = make_step_timer(TrainerCallback)
    with tempfile.TemporaryDirectory() as output_dir:
        args = TrainingArguments(
            output_dir=output_dir, per_device_train_batch_size=cfg["batch_size"],
            per_device_eval_batch_size=cfg["eval_batch_size"], max_steps=total,
            learning_rate=cfg["learning_rate"], weight_decay=cfg["weight_decay"],
            warmup_ratio=cfg["warmup_ratio"], lr_scheduler_type="linear",
            logging_strategy="no", save_strategy="no", eval_strategy="no", report_to=[],
            use_cpu=True, bf16=bf16, dataloader_num_workers=0, dataloader_pin_memory=False, seed=seed,
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
        inference = time_passes(lambda: (recorder.batches.clear(), trainer.predict(hf_eval)))
        inference["batches"] = list(recorder.batches)
    return {"precision": spec["row"]["precision"], "train": train, "inference": inference,
            "pool_batches": pool.batches, "torch_peaks": peaks, "torch_threads": torch.get_num_threads(),
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__}}


if __name__ == "__main__":
    sys.exit(worker_main(measure, prog="python -m benchmarks.speed.torch_worker"))
