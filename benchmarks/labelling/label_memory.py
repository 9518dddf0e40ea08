"""`python -m benchmarks.labelling.label_memory`: where a labelling job's memory goes, chunk by chunk.

Runs the steps of `scripts/predict.py` on a parquet file in chunks and prints, after each chunk,
the resident set, glibc's heap split into bytes in use and bytes freed but kept
(`mallinfo2`), and pyarrow's allocated bytes. `--stage` stops after reading, tokenizing,
building the batches or (the default) running the model, so a growth can be pinned to a step:
in use growing is memory held, free growing is memory the allocator keeps, arrow growing is
Arrow buffers held. `--trim` calls `malloc_trim` after each chunk, as `predict.py` does.
Linux with glibc only.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
import time

STAGES = ("read", "tokenize", "batches", "model")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _resident_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.labelling.label_memory", description=__doc__)
    parser.add_argument("--run", help="a run folder written by scripts/train.py (any stage but read)")
    parser.add_argument("--data", required=True, help="a parquet file with a text column")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--chunk-rows", type=int, default=4096)
    parser.add_argument("--chunks", type=int, default=0, help="stop after this many (0: all)")
    parser.add_argument("--stage", choices=STAGES, default="model")
    parser.add_argument("--trim", action="store_true", help="malloc_trim(0) after each chunk")
    parser.add_argument("--pre-buffer", action="store_true",
                        help="read with pyarrow's default pre-buffering (predict.py does not)")
    args = parser.parse_args(argv)
    if args.stage != "read" and not args.run:
        parser.error(f"--stage {args.stage} needs --run")

    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tfbert.features import make_dataset, sort_by_length, tokenize_frame
    from tfbert.predict import Classifier

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    stage = STAGES.index(args.stage)
    classifier = Classifier.from_run(args.run) if stage else None
    source = pq.ParquetFile(args.data, pre_buffer=args.pre_buffer)
    rows, started = 0, time.monotonic()
    print("chunk rows seconds rss_mb heap_in_use_mb heap_free_mb arrow_mb rss_after_trim_mb")
    batches = source.iter_batches(batch_size=args.chunk_rows, columns=[args.text_column])
    for chunk, batch in enumerate(batches):
        texts = batch.column(0).to_pylist()
        if stage == STAGES.index("model"):
            classifier.predict_proba(texts)
        elif stage >= STAGES.index("tokenize"):
            frame = pd.DataFrame({"text": texts, "label": 0})
            split = tokenize_frame(frame, classifier.tokenizer, classifier.max_length,
                                   show_progress=False)
            if stage == STAGES.index("batches"):
                ordered, _ = sort_by_length(split)
                for _ in make_dataset(ordered, classifier.batch_size, 0, bucketing=True):
                    pass
        rows += len(texts)
        heap = libc.mallinfo2()
        resident = _resident_mb()
        if args.trim:
            libc.malloc_trim(0)
        print(f"{chunk} {rows} {time.monotonic() - started:.0f} {resident:.1f} "
              f"{(heap.uordblks + heap.hblkhd) / 2**20:.1f} {heap.fordblks / 2**20:.1f} "
              f"{pa.total_allocated_bytes() / 2**20:.1f} {_resident_mb():.1f}", flush=True)
        if chunk + 1 == args.chunks:
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
