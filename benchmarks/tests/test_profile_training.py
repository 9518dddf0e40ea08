"""The profile summary: op types from xprof's framework_op_stats table, idle time left out."""

import json

import pytest

from benchmarks.speed.profile_training import format_shares, summarize_op_stats

COLUMNS = ["Rank", "Host/device", "Operation Type", "Operation Name", "#Occurrences",
           "Total time (us)", "Total self-time (us)"]


def _table(rows):
    cols = [{"id": c.lower(), "label": c} for c in COLUMNS]
    body = [{"c": [{"v": v} for v in row]} for row in rows]
    return {"cols": cols, "rows": body, "p": {"task_type": "Training"}}


def test_shares_group_by_op_type_and_skip_idle():
    rows = [
        [1, "Host", "IDLE", "IDLE", 0, 9e6, 9e6],
        [2, "Host", "_MklMatMul", "dense/MatMul", 10, 600e3, 500e3],
        [3, "Host", "_MklMatMul", "dense_1/MatMul", 10, 400e3, 300e3],
        [4, "Host", "Softmax", "attention/Softmax", 4, 150e3, 150e3],
        [5, "Host", "AddV2", "add", 7, 50e3, 50e3],
    ]
    # xprof returns the table twice (with and without IDLE); only the first is read.
    shares = summarize_op_stats(json.dumps([_table(rows), _table(rows[1:])]))
    assert [s.op_type for s in shares] == ["_MklMatMul", "Softmax", "AddV2"]
    assert shares[0].occurrences == 20 and shares[0].self_ms == pytest.approx(800.0)
    assert sum(s.share for s in shares) == pytest.approx(1.0)
    assert shares[0].share == pytest.approx(0.8)
    text = format_shares(shares, top=2)
    assert "| _MklMatMul | 20 | 800.0 | 80.0% |" in text
    assert "(other 1 types) | 7 | 50.0 | 5.0%" in text
