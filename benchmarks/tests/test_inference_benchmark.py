"""The inference benchmark: its rows, its arithmetic, the PyTorch side's imports, and a small run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.speed.inference_report import format_inference_report, padded_tokens, summarize
from benchmarks.speed.inference_rows import ROWS_BY_KEY, select_rows

ROOT = Path(__file__).resolve().parents[2]


def test_rows_are_chosen_by_key_in_table_order():
    assert [r.key for r in select_rows(("torch-bf16", "tf-f32"))] == ["tf-f32", "torch-bf16"]
    assert len(select_rows(())) == len(ROWS_BY_KEY)
    with pytest.raises(ValueError, match="unknown rows"):
        select_rows(("tf-f16",))


def test_padded_tokens_pad_each_batch_to_its_longest():
    lengths = np.array([3, 5, 2, 2, 7])
    assert padded_tokens(lengths, 2) == 2 * 5 + 2 * 2 + 7
    assert padded_tokens(np.sort(lengths), 5) == 5 * 7


def _fake_report(tiny_model_dir):
    from benchmarks.speed.inference import InferenceConfig

    cfg = InferenceConfig(model=str(tiny_model_dir), data="unused", eval_size=4, latency_texts=2,
                          rounds=2, rows=("tf-bf16", "torch-bf16", "ort-int8", "ort-f32"))
    rows = select_rows(cfg.rows)
    lengths = np.array([4, 8, 6, 2])
    # round 1: tfbert 8/s, torch 4/s, ORT 5 and 2/s; round 2: the machine at half speed
    passes = {"tf-bf16": [{"examples": 4, "seconds": 0.5}, {"examples": 4, "seconds": 1.0}],
              "torch-bf16": [{"examples": 4, "seconds": 1.0}, {"examples": 4, "seconds": 2.0}],
              "ort-int8": [{"examples": 4, "seconds": 0.8}, {"examples": 4, "seconds": 1.6}],
              "ort-f32": [{"examples": 4, "seconds": 2.0}, {"examples": 4, "seconds": 4.0}]}
    latency = {"torch-bf16": [[0.01, 0.03], [0.02, 0.04]]}
    peaks = [{"float32": 1e11, "bfloat16": 2e11, "int8": 4e11}] * 2
    return cfg, summarize(cfg, rows, lengths, np.argsort(lengths), passes, latency, peaks, {}, {})


def test_ratios_are_taken_inside_each_round(tiny_model_dir):
    cfg, report = _fake_report(tiny_model_dir)
    rows = {r["key"]: r for r in report["rows"]}
    assert rows["tf-bf16"]["over_peer"] == pytest.approx(2.0)  # the same in both rounds
    assert rows["tf-bf16"]["over_best_ort"] == pytest.approx(1.6)  # int8 is the best ORT row
    assert rows["tf-bf16"]["examples_per_s"] == pytest.approx(6.0)  # median of 8 and 4
    assert rows["torch-bf16"]["p50_ms"] == pytest.approx(25.0)  # median of 20 and 30 ms
    flops = report["model_flops_per_pass"]
    # MFU per round against that round's int8 peak (4/0.8 and 4/1.6 texts/s), then the median
    assert rows["ort-int8"]["mfu"] == pytest.approx(np.median([5.0, 2.5]) * flops / 4 / 4e11)
    assert report["padding_efficiency"]["sorted"] == pytest.approx(20 / 32)


def test_the_report_prints_every_row(tiny_model_dir):
    cfg, report = _fake_report(tiny_model_dir)
    report.update(settings={"eval_size": 4, "max_length": 512, "batch_size": 32, "rounds": 2,
                            "latency_texts": 2},
                  machine={"cpu_model": "test CPU", "logical_cpus": 2, "avx512_bf16": True,
                           "amx_bf16": False, "load_average_at_start": [0.1],
                           "load_average_at_end": [0.2]}, seconds=60)
    text = format_inference_report(report)
    assert "| tf-bf16 |" in text and "| ort-int8 |" in text and "2.00×" in text
    assert "test CPU" in text


def test_the_pytorch_side_imports_neither_tensorflow_nor_tfbert():
    code = ("import sys, benchmarks.speed.infer_torch, benchmarks.speed.infer_worker; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'tfbert', 'torch'}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.slow
def test_a_small_run_of_the_tensorflow_rows(tiny_model_dir, tmp_path):
    """Two in-process rows and one export row, started as workers, timed in turns."""
    from benchmarks.speed.inference import InferenceConfig, run
    from tests.conftest import toy_reviews

    data = tmp_path / "reviews.parquet"
    toy_reviews(40, seed=3).to_parquet(data, index=False)
    cfg = InferenceConfig(model=str(tiny_model_dir), data=str(data), max_length=32, batch_size=8,
                          eval_size=16, train_size=20, latency_texts=4, rounds=2,
                          rows=("tf-ref-f32", "tf-bf16", "export-f32", "torch-bf16"),
                          output=str(tmp_path / "report.json"))
    report = run(cfg)
    rows = {r["key"]: r for r in report["rows"]}
    assert rows["torch-bf16"]["status"].startswith("skipped")  # no PyTorch interpreter given
    for key in ("tf-ref-f32", "tf-bf16", "export-f32"):
        assert rows[key]["status"] == "ok" and len(rows[key]["rates"]) == 2
    assert rows["tf-bf16"]["info"] == {"compute_dtype": "bfloat16", "fast_encoder": True}
    assert rows["tf-ref-f32"]["info"]["fast_encoder"] is False
    assert len(rows["export-f32"]["latency_seconds"][0]) == 4
    assert json.loads((tmp_path / "report.json").read_text())["rows"][0]["key"] == "tf-ref-f32"
    assert len(report["peaks"]) == 2
