"""`scripts/demo.py`: a web demo of an export; imports neither transformers nor the training code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tfbert.base.errors import ExitCode, ExportError
from tfbert.cli.common import add_verbose_flag, start
from tfbert.serving.config import DemoConfig


def build_parser() -> argparse.ArgumentParser:
    d = DemoConfig(export="export")  # only for its defaults
    parser = argparse.ArgumentParser(
        prog="demo.py", description="Serve a web demo of an exported classifier.")
    parser.add_argument("--export", required=True,
                        help="export version folder, e.g. saved_models/<run>/export/classifier/1")
    parser.add_argument("--host", default=d.host, help="0.0.0.0 to listen on every interface")
    parser.add_argument("--port", type=int, default=d.port)
    parser.add_argument("--title", default=d.title)
    return add_verbose_flag(parser)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cfg = DemoConfig(args.export, args.host, args.port, args.title)
    except ValueError as err:
        parser.error(str(err))
    start(args.verbose)
    from tfbert.serving.demo import build_app
    from tfbert.serving.exported import ExportedClassifier

    try:
        classifier = ExportedClassifier(cfg.export)
    except (ExportError, OSError) as err:
        print(f"export error: {err}", file=sys.stderr)
        return ExitCode.RUN_FOLDER
    app = build_app(classifier, cfg.title)
    print(f"demo of {cfg.export} on http://{cfg.host}:{cfg.port}", flush=True)
    app.queue().launch(server_name=cfg.host, server_port=cfg.port, show_error=True)
    return ExitCode.OK
