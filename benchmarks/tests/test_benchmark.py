"""The benchmark's arithmetic, formatting and a 2-step run on a tiny BERT; behaviour, never speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.speed.figures import add_speedups, summarize_row
from benchmarks.speed.flops import BatchStats, EncoderShape, batch_flops
from benchmarks.speed.report import format_report, format_table
from benchmarks.speed.runner import run
from benchmarks.speed.serving import measure_serving
from benchmarks.speed.settings import BenchmarkConfig, parse_variant, plan_rows
from benchmarks.speed.worker import RecordingCollator
from tests.conftest import toy_reviews
from tfbert.features import padding_efficiency
from tfbert.model import resolve_precision

MINILM = EncoderShape(layers=6, hidden=384, intermediate=1536)


@pytest.fixture(scope="module")
def toy_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench_data") / "reviews.csv"
    toy_reviews(120, seed=4).to_csv(path, index=False)
    return path


def test_flops_follow_the_stated_formula():
    assert MINILM.dense_params == 6 * (4 * 384 ** 2 + 2 * 384 * 1536) == 10_616_832
    n, layers, hidden = MINILM.dense_params, 6, 384
    assert MINILM.flops_per_token(512) == 6 * n + 12 * layers * 512 * hidden
    assert MINILM.flops_per_token(512, training=False) == 2 * n + 4 * layers * 512 * hidden
    # Two rows of real lengths 3 and 2, padded to 4: model FLOPs count 5 real tokens at their own
    # lengths, hardware FLOPs 8 padded tokens at length 4.
    batch = BatchStats.from_mask([[1, 1, 1, 0], [1, 1, 0, 0]])
    model, hardware = batch_flops([batch], MINILM)
    assert model == 3 * MINILM.flops_per_token(3) + 2 * MINILM.flops_per_token(2)
    assert hardware == 8 * MINILM.flops_per_token(4)


def efficiency(batches: list[BatchStats]) -> float:
    """Padding efficiency of recorded batches, through tfbert's own function."""
    return padding_efficiency(b.token_counts for b in batches)


def test_padding_efficiency_is_real_over_computed_tokens():
    full = BatchStats.from_mask(np.ones((2, 4)))
    half = BatchStats.from_mask([[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0], [1, 1, 0, 0]])
    assert (half.rows, half.length, half.real, half.real_sq) == (4, 4, 8, 4 + 16 + 0 + 4)
    assert efficiency([full]) == 1.0
    assert efficiency([half]) == 0.5
    assert efficiency([full, half]) == pytest.approx(16 / 24)
    assert efficiency([]) == 0.0


def test_rebuilt_tfbert_pipeline_yields_the_same_batches(tiny_model_dir):
    """The tfbert worker reads batch shapes from one build and trains on another: they must agree."""
    import tensorflow as tf
    from transformers import AutoTokenizer

    from benchmarks.speed.worker import dataset_batches
    from tfbert.features import make_dataset, tokenize_frame

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    frame = toy_reviews(96, seed=5).assign(label=lambda f: (f["label"] == "positive").astype(int))
    frame["text"] = [t + " very" * (i % 23) for i, t in enumerate(frame["text"])]
    split = tokenize_frame(frame, tokenizer, max_length=32, show_progress=False)

    def build():
        tf.random.set_seed(7)
        return make_dataset(split, 4, 0, shuffle=True, seed=7, bucketing=True, pad_multiple=8).repeat()

    first = dataset_batches(build().take(30))
    assert first == dataset_batches(build().take(30))
    assert len({b[1] for b in first}) > 1  # several bucket lengths, so order matters


def test_recording_collator_notes_each_batch_in_order():
    recorder = RecordingCollator(lambda rows: {"attention_mask": np.array(rows)})
    recorder([[1, 1, 0], [1, 0, 0]])
    recorder([[1, 1]])
    assert recorder.batches == [[2, 3, 3, 5], [1, 2, 2, 4]]


def test_summary_throughput_counts_only_timed_steps():
    raw = {
        "precision": "mixed_bfloat16", "peak_rss_mb": 100.0, "pool_batches": [[2, 8, 4, 8], [2, 4, 8, 32]],
        "train": {"start": 0.0, "step_ends": [10.0, 11.0, 13.0], "traces": 2,
                  "batches": [[2, 8, 4, 8], [2, 4, 8, 32], [2, 8, 12, 80]]},
        "inference": {"cold_seconds": 4.0, "seconds": 2.0, "batches": [[4, 4, 16, 64]]},
    }
    peaks = {"float32": 1e9, "bfloat16": 2e9}
    f = summarize_row(raw, MINILM, peaks, warmup=1, steps=2)
    assert f["timed_seconds"] == 3.0  # from the end of the warm-up step to the end of the last
    assert f["train_examples_per_s"] == pytest.approx(4 / 3)
    assert f["train_real_tokens_per_s"] == pytest.approx(20 / 3)
    assert f["padding_efficiency"] == pytest.approx(20 / (8 + 16))
    assert f["pool_padding_efficiency"] == pytest.approx(12 / (16 + 8))
    assert f["mfu_peak_dtype"] == "bfloat16"
    model, _ = batch_flops([BatchStats(2, 4, 8, 32), BatchStats(2, 8, 12, 80)], MINILM)
    assert f["mfu"] == pytest.approx(model / 3 / 2e9)
    assert f["inference_examples_per_s"] == 2.0 and f["inference_cold_examples_per_s"] == 1.0
    # Lengths 8, 4, 8: the first timed step meets a new length, the second a known one.
    assert (f["distinct_lengths"], f["new_lengths_in_timed"]) == (2, 1)
    assert f["new_length_step_median_s"] == 1.0 and f["known_length_step_median_s"] == 2.0


def test_speedups_are_relative_to_measured_peer_rows():
    rows = [{"key": k, "status": "ok", "figures": {"train_real_tokens_per_s": t,
                                                   "inference_examples_per_s": i}}
            for k, t, i in (("1", 300.0, 40.0), ("3", 100.0, 20.0), ("5", 150.0, 10.0))]
    rows.append({"key": "4", "status": "skipped", "message": "skipped"})
    add_speedups(rows)
    assert rows[0]["speedups"] == {"3": {"train": 3.0, "inference": 2.0},
                                   "5": {"train": 2.0, "inference": 4.0}}
    assert "speedups" not in rows[3]


def test_variants_and_row_plan():
    row = parse_variant("bucket+bf16", "v1")
    assert (row.kind, row.bucketing, row.precision) == ("tfbert", True, "mixed_bfloat16")
    assert not row.jit_compile
    row = parse_variant("dynamic+f32+xla", "v2")
    assert (row.bucketing, row.precision, row.jit_compile) == (False, "float32", True)
    assert parse_variant("bucket8", "v3").pad_multiple == 8
    with pytest.raises(ValueError, match="unknown part"):
        parse_variant("bucket+int8", "v4")
    with pytest.raises(ValueError):
        BenchmarkConfig(model="m", data="d", variants=("fast",))
    cfg = BenchmarkConfig(model="m", data="d", rows=(1, 3), variants=("bucket+bf16",), tfbert_jit=True)
    rows = plan_rows(cfg, "float32")
    assert [r.key for r in rows] == ["1", "3", "v1"]
    assert rows[0].bucketing and rows[0].jit_compile and rows[0].pipeline_check_steps == 10
    assert rows[0].setup(512) == "bucket16 · float32 · XLA"


def test_format_table_is_aligned_markdown():
    text = format_table(["#", "row"], [["1", "tfbert"], ["10", "x"]])
    assert text.splitlines() == ["| #  | row    |", "|----|--------|", "| 1  | tfbert |", "| 10 | x      |"]


@pytest.mark.slow
def test_run_measures_tf_rows_and_skips_torch_without_interpreter(tiny_model_dir, toy_csv, tmp_path):
    """Rows 1-3 each in their own process on a tiny BERT; PyTorch rows 4-6 skipped; JSON written."""
    output = tmp_path / "bench.json"
    missing = tmp_path / "no-venv" / "bin" / "python"
    cfg = BenchmarkConfig(
        model=str(tiny_model_dir), data=str(toy_csv), max_length=32, batch_size=4, steps=2,
        warmup_steps=1, train_size=64, eval_size=16, eval_batch_size=8, pipeline_check_steps=2,
        torch_python=str(missing), serving=False, peak_size=64, output=str(output),
    )
    report = run(cfg)
    rows = {r["key"]: r for r in report["rows"]}
    assert list(rows) == ["1", "2", "3", "4", "5", "6"]
    for key in ("1", "2", "3"):
        assert rows[key]["status"] == "ok", rows[key].get("message")
        f = rows[key]["figures"]
        for name in ("train_examples_per_s", "train_real_tokens_per_s", "inference_examples_per_s",
                     "peak_rss_mb", "mfu", "hardware_flops_per_s"):
            assert f[name] > 0, name
        assert 0 < f["padding_efficiency"] <= 1
        assert rows[key]["speedups"]["3"]["train"] > 0
    shipped = resolve_precision("auto")[0]  # row 1 is the default: bfloat16 where it is native
    assert rows["1"]["setup"] == f"bucket16 · {shipped}" and rows["2"]["setup"] == "dynamic · float32"
    for key in ("4", "5", "6"):
        assert rows[key]["status"] == "skipped" and str(missing) in rows[key]["message"]
    check = report["pipeline_check"]
    assert check["real_pipeline_step_s"] > 0 and check["in_memory_step_s"] > 0
    assert report["peak_flops"]["float32"] > 0 and report["peak_flops"]["bfloat16"] > 0

    saved = json.loads(output.read_text(encoding="utf-8"))
    assert saved["machine"]["versions"]["tensorflow"] and "avx512_bf16" in saved["machine"]
    assert [r["status"] for r in saved["rows"]] == ["ok", "ok", "ok", "skipped", "skipped", "skipped"]
    text = format_report(saved)
    assert "skipped: no PyTorch interpreter" in text
    assert "Input pipeline (row 1" in text


def test_serving_figures_of_an_export(trained_run, toy_csv):
    cfg = BenchmarkConfig(model=str(trained_run.run_dir), data=str(toy_csv), max_length=32,
                          train_size=64, eval_size=16, eval_batch_size=8, serving_requests=4,
                          serving_batches=1, export_dir=str(trained_run.run_dir))
    serving = measure_serving(cfg)
    assert serving["status"] == "ok", serving.get("message")
    assert "/export/classifier/" in serving["export"] and serving["max_length"] == 32
    for name in ("serving_default", "token_ids"):
        figures = serving["signatures"][name]
        assert 0 < figures["p50_ms"] <= figures["p99_ms"] and figures["batch_examples_per_s"] > 0
    assert serving["text_over_token_ids_p50"] > 0


def test_serving_figures_of_a_temporary_export_of_the_model(tiny_model_dir, toy_csv):
    """Without --export-dir the model itself is exported (untrained head) through tfbert.serving.export."""
    cfg = BenchmarkConfig(model=str(tiny_model_dir), data=str(toy_csv), max_length=32,
                          train_size=64, eval_size=16, eval_batch_size=8, serving_requests=2,
                          serving_batches=1)
    serving = measure_serving(cfg)
    assert serving["status"] == "ok", serving.get("message")
    assert serving["export"] == "temporary export of --model" and serving["max_length"] == 32
    assert serving["has_text_signature"]
    assert set(serving["signatures"]) == {"serving_default", "token_ids"}


def test_torch_rows_need_an_interpreter_from_the_option_or_the_environment(monkeypatch):
    from benchmarks.speed.__main__ import TORCH_PYTHON_ENV, build_parser
    from benchmarks.speed.runner import torch_unavailable

    monkeypatch.delenv(TORCH_PYTHON_ENV, raising=False)
    args = build_parser().parse_args([])
    assert args.torch_python is None and args.verbose is False
    del args.verbose  # a console option, not a setting of the benchmark
    message = torch_unavailable(BenchmarkConfig(**vars(args)))
    assert message.startswith("skipped: no PyTorch interpreter given")
    assert "--torch-python" in message and TORCH_PYTHON_ENV in message
    monkeypatch.setenv(TORCH_PYTHON_ENV, "/opt/torch-venv/bin/python")
    assert build_parser().parse_args([]).torch_python == "/opt/torch-venv/bin/python"
    assert build_parser().parse_args(["--torch-python", "/x/python"]).torch_python == "/x/python"


def test_torch_worker_imports_neither_tensorflow_nor_tfbert():
    """The PyTorch venv has neither: the modules its worker imports must not need them."""
    code = ("import sys, benchmarks.speed.torch_worker; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'tfbert', 'torch'}))")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
