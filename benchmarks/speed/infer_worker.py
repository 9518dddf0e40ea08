"""An inference row in a process of its own: load once, warm up, then time what it is asked.

`python -m benchmarks.speed.infer_worker SPEC` reads commands as JSON lines on stdin and answers
each with one JSON line on stdout, so the coordinator can take the rows in turns, round after
round, and compare them inside the same minutes (the CPU's speed drifts).

Commands: {"cmd": "throughput"} (one pass over the sample at the batch size), {"cmd":
"latency"} (each latency text alone), {"cmd": "peaks"} (dense matmul peaks), {"cmd": "quit"}.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.speed.inference_rows import ROWS_BY_KEY

# Both interpreters run this module: it imports neither TensorFlow nor PyTorch at the top.


def load_runner(spec: dict) -> Any:
    """The row's runner: `infer_tf` for tfbert and export rows, `infer_torch` for the others."""
    row = ROWS_BY_KEY[spec["row"]]
    if row.runner in ("tfbert", "export"):
        from benchmarks.speed.infer_tf import build_tf_runner

        return build_tf_runner(row, spec)
    from benchmarks.speed.infer_torch import build_torch_runner

    return build_torch_runner(row, spec)


def _answer(runner: Any, command: dict) -> dict:
    kind = command.get("cmd")
    if kind == "throughput":
        start = time.perf_counter()
        counts = runner.throughput()
        return {"seconds": time.perf_counter() - start, **counts}
    if kind == "latency":
        return {"seconds": runner.latency()}
    if kind == "peaks":
        return {"peaks": runner.peaks()}
    raise ValueError(f"unknown command {kind!r}")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    spec = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    runner = load_runner(spec)
    runner.throughput()  # warm-up, untimed: tracing, kernel choice, first allocations
    if ROWS_BY_KEY[spec["row"]].latency:
        runner.latency()
    print(json.dumps({"ready": True, "info": runner.info()}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if command.get("cmd") == "quit":
            break
        print(json.dumps(_answer(runner, command)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
