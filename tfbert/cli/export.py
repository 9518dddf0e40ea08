"""`scripts/export.py`: a finished run as a SavedModel version folder for TF Serving."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from tfbert.base.errors import ExitCode
from tfbert.cli.common import add_verbose_flag, guarded, start
from tfbert.config import COMPUTE_DTYPES
from tfbert.serving.config import ExportConfig


def _version(text: str) -> int | None:
    if text == "auto":
        return None
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"version must be a positive integer or 'auto', got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    d = ExportConfig(run="run")  # only for its defaults
    parser = argparse.ArgumentParser(
        prog="export.py", description="Export a run as a SavedModel for TensorFlow Serving.")
    parser.add_argument("--run", required=True, help="run folder written by train.py")
    parser.add_argument("--version", type=_version, default=d.version,
                        help="integer version folder; default 'auto' = next free number")
    parser.add_argument("--name", default=d.name, help="model name (export/<name>/<version>)")
    parser.add_argument("--compute-dtype", choices=COMPUTE_DTYPES, default=d.compute_dtype,
                        help="bfloat16: faster on CPUs with native bfloat16 (avx512_bf16, AMX), "
                             "slower elsewhere; inputs and outputs stay the same")
    return add_verbose_flag(parser)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cfg = ExportConfig(args.run, args.version, args.name, args.compute_dtype)
    except ValueError as err:
        parser.error(str(err))

    def body() -> int:
        start(args.verbose)
        from tfbert.serving.export import export_run

        result = export_run(cfg.run, version=cfg.version, model_name=cfg.name,
                            compute_dtype=cfg.compute_dtype)
        print(result.path)
        return ExitCode.OK

    return guarded(body)
