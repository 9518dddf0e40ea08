"""What every command shares: value parsers, the run/export flags, start-up and the error guard."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from tfbert.base.errors import ExitCode, TfbertError, first_line, is_disk_full
from tfbert.cli.console import VERBOSE_ENV, is_verbose, setup_logging, start_tensorflow
from tfbert.config import INFERENCE_DTYPES, PredictConfig


def parse_size(text: str) -> float | int:
    """`200` -> 200 examples; `0.1` -> a fraction."""
    try:
        value = float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from err
    return int(value) if value.is_integer() else value


def parse_names(text: str) -> tuple[str, ...]:
    """`a, b,c` -> ("a", "b", "c")."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def parse_text_columns(text: str) -> tuple[str, str | None]:
    """`--text-column review` -> ("review", None); `question,answer` -> a pair's two columns."""
    names = parse_names(text)
    if len(names) not in (1, 2):
        raise argparse.ArgumentTypeError(f"give one column, or two for pairs (a,b), got {text!r}")
    return names[0], (names[1] if len(names) == 2 else None)


TEXT_COLUMN_HELP = "text column, or two comma-separated columns for pairs (e.g. question,answer)"


def add_verbose_flag(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show TensorFlow's and transformers' own start-up and info lines "
                             f"(also: {VERBOSE_ENV}=1)")
    return parser


def add_run_flags(parser: argparse.ArgumentParser, export_too: bool) -> None:
    """`--run` (and `--export`), plus the old `--model` that meant a run folder."""
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--run", help="run folder written by train.py")
    if export_too:
        group.add_argument("--export", help="export version folder, e.g. "
                                            "saved_models/<run>/export/classifier/1")
    group.add_argument("--model", dest="legacy_model", help="deprecated: use --run"
                       + (" or --export" if export_too else ""))


def add_compute_dtype_flag(parser: argparse.ArgumentParser) -> None:
    """`--compute-dtype`: what a run's forward pass computes in (an export keeps its own)."""
    parser.add_argument("--compute-dtype", choices=INFERENCE_DTYPES, default=None,
                        help=f"what --run computes in (default {PredictConfig().compute_dtype}: "
                             "bfloat16 on a CPU with native bfloat16, avx512_bf16 or amx_bf16, "
                             "float32 elsewhere); an export computes in the dtype it was "
                             "exported with")


def resolve_run_flags(args: argparse.Namespace) -> None:
    """Maps the deprecated `--model` onto `--run` (or `--export` for a SavedModel folder)."""
    path = args.legacy_model
    if path is None:
        return
    as_export = hasattr(args, "export") and (Path(path) / "saved_model.pb").is_file()
    kind, flag = ("an export", "--export") if as_export else ("a run", "--run")
    print(f"note: --model for {kind} folder is deprecated; use {flag}", file=sys.stderr)
    setattr(args, "export" if as_export else "run", path)


def start(verbose_flag: bool) -> None:
    """TensorFlow loaded quietly (unless -v) and our logging set up, before the command's work."""
    verbose = is_verbose(verbose_flag)
    setup_logging(verbose)  # first: TensorFlow's logger then uses our handler, not one of its own
    start_tensorflow(verbose)


def _stop_on_sigterm(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def guarded(body: Callable[[], int]) -> int:
    """Runs a command, turning a user-fixable error into one line on stderr and its exit code.

    While it runs, SIGTERM (a scheduler stopping the job) unwinds like Ctrl-C, so locks are
    released and half-written files removed; by default it would end the process on the spot.
    """
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm) if in_main else None
    try:
        return body()
    except TfbertError as err:
        print(f"{err.kind}: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted: stopped cleanly; run the same command again to continue",
              file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception as err:  # noqa: BLE001 (only a full disk is turned into a line; the rest re-raises)
        if not is_disk_full(err):
            raise
        print(f"run folder error: no space left on the disk ({first_line(err)}); free some space "
              "and run the same command again: it continues from what was saved", file=sys.stderr)
        return ExitCode.RUN_FOLDER
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
