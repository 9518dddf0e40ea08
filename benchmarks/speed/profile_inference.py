"""`python -m benchmarks.speed.profile_inference`: where a forward pass spends its time, by op type.

`Classifier.predict_logits` over held-out reviews (sorted by length and bucketed, as predict.py
runs it) is traced with `tf.profiler` after one warm-up pass, for each path asked for:
transformers' own layers (`reference`) or tfbert's encoder (`fast`), in float32 or bfloat16. The
op types are also grouped by what they compute (dense matmuls, attention, LayerNorm, ...).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.speed.profile_training import OpShare, format_shares, read_trace_op_stats
from benchmarks.speed.sample import load_sample

PATHS = ("reference-f32", "reference-bf16", "fast-f32", "fast-bf16")
# op type (as the profiler names it) -> what it computes in a BERT forward pass
GROUPS = {
    "dense matmuls": ("_MklMatMul", "_MklFusedMatMul", "MatMul", "_MklNativeFusedMatMul"),
    "attention matmuls": ("_MklBatchMatMulV2", "BatchMatMulV2", "_MklFusedBatchMatMulV2",
                          "_MklNativeFusedBatchMatMulV2"),
    "softmax": ("Softmax", "_MklSoftmax"),
    "GELU (erf)": ("Erf", "Erfc"),
    "LayerNorm": ("Mean", "SquaredDifference", "Rsqrt", "_MklLayerNorm", "Sqrt"),
    "casts": ("Cast",),
    "transposes, gathers": ("Transpose", "_MklTranspose", "GatherV2", "ResourceGather",
                            "GatherNd", "ConcatV2", "Reshape"),
    "element-wise": ("Mul", "AddV2", "Add", "BiasAdd", "Sub", "RealDiv", "Tanh", "SelectV2"),
}


def group_shares(shares: list[OpShare]) -> list[tuple[str, float, float]]:
    """(group, self ms, share) for GROUPS and the rest, in GROUPS order."""
    by_type = {s.op_type: s for s in shares}
    rows, seen = [], set()
    for name, types in GROUPS.items():
        found = [by_type[t] for t in types if t in by_type]
        seen.update(s.op_type for s in found)
        rows.append((name, sum(s.self_ms for s in found), sum(s.share for s in found)))
    rest = [s for s in shares if s.op_type not in seen]
    rows.append(("other", sum(s.self_ms for s in rest), sum(s.share for s in rest)))
    return rows


def _classifier(path: str, model_path: str, labels: tuple, max_length: int, batch_size: int):
    """The Classifier the benchmark's in-process rows build for `path`."""
    from tfbert.config import DataConfig
    from tfbert.data import LabelSet
    from tfbert.model import build_model, load_tokenizer, precision_policy, use_float32_gelu
    from tfbert.predict import Classifier

    mode, dtype = path.split("-")
    dtype = {"f32": "float32", "bf16": "bfloat16"}[dtype]
    reference_bf16 = mode == "reference" and dtype == "bfloat16"
    with precision_policy("mixed_bfloat16" if reference_bf16 else "float32"):
        model = build_model(model_path, LabelSet(labels))
        if reference_bf16:
            use_float32_gelu(model)
    return Classifier(model, load_tokenizer(model_path), DataConfig(max_length=max_length),
                      batch_size=batch_size, compute_dtype=dtype, fast_encoder=mode == "fast")


def profile_path(path: str, model_path: str, data_path: str, *, texts: int, max_length: int,
                 batch_size: int, passes: int, seed: int) -> tuple[list[OpShare], float]:
    """Op-type shares and seconds per pass over `texts` held-out reviews on one path."""
    import tensorflow as tf

    try:
        from xprof.convert import raw_to_tool_data
    except ImportError as err:
        raise RuntimeError("the profile summary needs xprof: pip install xprof==2.24.2") from err
    # the inference benchmark's held-out reviews: the 4,000 before them are its training pool
    _, held_out, names = load_sample(data_path, seed, 4000, texts)
    listed = held_out["text"].tolist()
    classifier = _classifier(path, model_path, tuple(names), max_length, batch_size)
    classifier.predict_logits(listed)  # traces the functions and warms oneDNN's caches
    out = Path(tempfile.mkdtemp(prefix=f"tfbert-profile-{path}-"))
    tf.profiler.experimental.start(str(out))
    start = time.perf_counter()
    for _ in range(passes):
        classifier.predict_logits(listed)
    seconds = (time.perf_counter() - start) / passes
    tf.profiler.experimental.stop()
    return read_trace_op_stats(out, raw_to_tool_data), seconds


def format_groups(results: dict[str, tuple[list[OpShare], float]], passes: int) -> str:
    """One markdown table: every group's share of op time, a column per path."""
    paths = list(results)
    grouped = {p: group_shares(results[p][0]) for p in paths}
    lines = ["| computes | " + " | ".join(paths) + " |", "|---|" + "---|" * len(paths),
             "| s per pass (traced) | " + " | ".join(f"{results[p][1]:.2f}" for p in paths) + " |",
             "| op time per pass (ms) | " + " | ".join(
                 f"{sum(s.self_ms for s in results[p][0]) / passes:,.0f}"
                 for p in paths) + " |"]
    for i, (name, _, _) in enumerate(grouped[paths[0]]):
        lines.append(f"| {name} | " + " | ".join(f"{grouped[p][i][2]:.1%}" for p in paths) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parses the options, profiles every path, prints the grouped and per-op tables."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed.profile_inference",
                                     description="Trace forward passes with tf.profiler and print "
                                                 "where the time goes, by op type.")
    parser.add_argument("--model", required=True, help="local model folder")
    parser.add_argument("--data", required=True, help="one CSV/JSONL/parquet file with text, label")
    parser.add_argument("--paths", default=",".join(PATHS),
                        help=f"comma-separated, of {', '.join(PATHS)}")
    parser.add_argument("--texts", type=int, default=256, help="held-out reviews per pass")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--passes", type=int, default=2, help="passes traced per path")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--top", type=int, default=12, help="op types listed per path")
    args = parser.parse_args(argv)
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    unknown = sorted(set(paths) - set(PATHS))
    if unknown:
        parser.error(f"unknown paths {unknown}; choose from {', '.join(PATHS)}")
    results = {}
    for path in paths:
        results[path] = profile_path(path, args.model, args.data, texts=args.texts,
                                     max_length=args.max_length, batch_size=args.batch_size,
                                     passes=args.passes, seed=args.seed)
    print(f"{args.texts} held-out reviews, max length {args.max_length}, batch {args.batch_size}, "
          f"{args.passes} traced passes per path\n")
    print(format_groups(results, args.passes))
    for path, (shares, _) in results.items():
        print(f"\n{path}:\n{format_shares(shares, args.top)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
