"""The transformers TF recipe: `prepare_tf_dataset` + `compile(optimizer=...)` + `fit`."""

from __future__ import annotations

import sys

from benchmarks.speed.timing import make_step_timer, time_passes
from benchmarks.speed.worker import RecordingCollator, dataset_batches, read_sample, worker_main
from tfbert.base.keras import keras


def measure(spec: dict) -> dict:
    """Trains and infers as the transformers TF notebooks do; returns step times and batch shapes."""
    # Imported here, after tfbert (above) has set TF_USE_LEGACY_KERAS for TensorFlow.
    import datasets
    from transformers import (
        AutoTokenizer,
        DataCollatorWithPadding,
        TFAutoModelForSequenceClassification,
        create_optimizer,
    )

    cfg = spec["cfg"]
    seed, total = cfg["seed"], cfg["warmup_steps"] + cfg["steps"]
    train_frame, eval_frame, names = read_sample(spec["sample"])
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

    pool_batches = dataset_batches(prepare(hf_train, cfg["batch_size"], True))
    train_ds = prepare(hf_train, cfg["batch_size"], True).repeat()
    recorder.batches.clear()  # prepare_tf_dataset calls the collator to find the output signature
    optimizer, _ = create_optimizer(init_lr=cfg["learning_rate"], num_train_steps=total,
                                    num_warmup_steps=int(cfg["warmup_ratio"] * total),
                                    weight_decay_rate=cfg["weight_decay"])
    model.compile(optimizer=optimizer)
    timer = make_step_timer(keras.callbacks.Callback)
    model.fit(train_ds, epochs=1, steps_per_epoch=total, callbacks=[timer], verbose=0)
    tracing = getattr(model.train_function, "experimental_get_tracing_count", None)
    train = {"batches": recorder.batches[:total], "start": timer.start, "step_ends": timer.ends,
             "traces": tracing() if tracing else None}

    eval_ds = prepare(hf_eval, cfg["eval_batch_size"], False)
    inference = time_passes(lambda: (recorder.batches.clear(), model.predict(eval_ds, verbose=0)))
    inference["batches"] = list(recorder.batches)
    return {"precision": "float32", "pool_batches": pool_batches, "train": train,
            "inference": inference}


if __name__ == "__main__":
    sys.exit(worker_main(measure, prog="python -m benchmarks.speed.hf_tf_worker"))
