"""`python -m benchmarks.speed.window_latency`: a windowed export's batch-1 latency by windows.

Each request is one text of real IMDb review words, the longest that makes exactly 1, 2, 4,
... windows (so every window is full); the median of `--repeats` calls of the raw-text
signature (after warm-up calls) is divided by its windows, and compared with the one-window
request's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

USAGE = """example:
    python -m benchmarks.speed.window_latency --export saved_models/imdb-128-windows/export/classifier/1 \\
        --model saved_models/imdb-128-windows --data ../shared/data/imdb/test.parquet"""


def text_of_windows(tokenizer, words: list[str], windows: int, max_length: int, stride: int) -> str:
    """The longest prefix of `words` that the tokenizer cuts into `windows` windows."""
    from tfbert.tokenizers.windows import encode_windows

    low, high = 1, len(words)
    while low < high:  # the fewest words with more than `windows` windows
        middle = (low + high) // 2
        found = encode_windows(tokenizer, [" ".join(words[:middle])], None, max_length, stride,
                               10_000)
        low, high = (middle + 1, high) if len(found.text_ids) <= windows else (low, middle)
    return " ".join(words[:low - 1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed.window_latency",
                                     description=__doc__, epilog=USAGE,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", required=True, help="a version folder of a windowed export")
    parser.add_argument("--model", required=True, help="the run folder (its tokenizer)")
    parser.add_argument("--data", required=True, help="parquet of texts whose words are used")
    parser.add_argument("--windows", default="1,2,4,8,16")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)
    import pandas as pd
    import tensorflow as tf
    from transformers import AutoTokenizer

    loaded = tf.saved_model.load(args.export)
    serve = loaded.signatures["serving_default"]
    max_length, max_windows = int(loaded.max_length.numpy()), int(loaded.max_windows.numpy())
    stride = int(loaded.window_stride.numpy())
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    words = " ".join(pd.read_parquet(args.data, columns=["text"])["text"].head(200)).split()
    rows = []
    for windows in (int(w) for w in args.windows.split(",") if int(w) <= max_windows):
        text = tf.constant([text_of_windows(tokenizer, words, windows, max_length, stride)])
        assert int(serve(text=text)["windows"][0]) == windows
        for _ in range(3):
            serve(text=text)
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            serve(text=text)
            seconds.append(time.perf_counter() - start)
        rows.append((windows, 1000 * statistics.median(seconds)))
    one = rows[0][1]
    print("| windows | p50 ms | ms per window | per window / one window's |")
    print("|---|---|---|---|")
    for windows, ms in rows:
        print(f"| {windows} | {ms:.1f} | {ms / windows:.1f} | {ms / windows / one:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
