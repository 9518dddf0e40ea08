"""`scripts/predict_beam.py`: label files with an export on Apache Beam; other --options go to Beam."""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Sequence

from tfbert.base.errors import ExitCode
from tfbert.cli.common import (
    TEXT_COLUMN_HELP,
    add_verbose_flag,
    guarded,
    parse_names,
    parse_text_columns,
    start,
)
from tfbert.cli.console import is_verbose, quiet_child_processes
from tfbert.labelling.config import BEAM_OUTPUT_FORMATS, BeamPredictConfig

log = logging.getLogger("tfbert")

# What Beam's worker processes log at start-up: their INFO lines and notes about optional clients.
BEAM_WORKER_NOISE = re.compile(rb"^((INFO|DEBUG):|WARNING:[\w.]+:(apitools not found"
                               rb"|No semi_persistent_directory found|Discarding unparseable args"
                               rb"|Resource module is not available))")


def build_parser() -> argparse.ArgumentParser:
    d = BeamPredictConfig(export="e", input="i", output="o")  # only for its defaults
    parser = argparse.ArgumentParser(
        prog="predict_beam.py", allow_abbrev=False, formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Label files of texts with an export on Apache Beam. Other --options go to Beam "
                    "(--runner, --direct_num_workers, --direct_running_mode, ...).")
    parser.add_argument("--export", required=True,
                        help="export version folder, e.g. saved_models/<run>/export/classifier/1")
    parser.add_argument("--input", required=True,
                        help="glob of CSV, TSV, JSONL, JSON, parquet or .txt (one text a line) files")
    parser.add_argument("--output", required=True, help="prefix of the output shards")
    parser.add_argument("--format", dest="output_format", choices=BEAM_OUTPUT_FORMATS,
                        default=d.output_format)
    parser.add_argument("--text-column", type=parse_text_columns, default=d.text_column,
                        help=TEXT_COLUMN_HELP)
    parser.add_argument("--id-column", default=d.id_column,
                        help="column that names each row (default: a `row` column of <file>:<row>, "
                             "rows from 0)")
    parser.add_argument("--keep-columns", type=parse_names, default=d.keep_columns,
                        help="comma-separated input columns to copy into the output (as text)")
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--num-shards", type=int, default=d.num_shards,
                        help="output files; 0 lets the runner decide")
    parser.add_argument("--share-model", action="store_true", default=d.share_model,
                        help="one model per machine, shared by its worker processes")
    return add_verbose_flag(parser)


def main(argv: Sequence[str] | None = None) -> int:
    """Labels files on Apache Beam; flags this command does not know go to Beam."""
    parser = build_parser()
    args, pipeline_args = parser.parse_known_args(argv)
    verbose = vars(args).pop("verbose")
    start(verbose)  # before Beam's import sets up logging its way
    if not is_verbose(verbose):  # Beam's notes about cloud clients and its memory probe
        logging.getLogger().handlers[0].addFilter(
            lambda record: record.levelno >= logging.ERROR or "apache_beam" not in record.pathname)
    from tfbert.labelling.beam import describe_skipped, run, unknown_pipeline_option

    if bad := unknown_pipeline_option(pipeline_args):
        parser.error(f"{bad} is neither a flag of this script nor a Beam pipeline option")
    if not is_verbose(verbose):
        if not any(a.startswith("--default_sdk_harness_log_level") for a in pipeline_args):
            pipeline_args.append("--default_sdk_harness_log_level=WARNING")  # worker processes too
    try:
        flags = vars(args)
        flags["text_column"], flags["text_pair_column"] = flags["text_column"]
        cfg = BeamPredictConfig(**flags, pipeline_args=tuple(pipeline_args))
    except ValueError as err:
        parser.error(str(err))

    def body() -> int:
        import tensorflow as tf

        has_gpu = bool(tf.config.list_physical_devices("GPU"))
        # Beam's workers print to our stderr: their start-up noise is filtered on the descriptor.
        with quiet_child_processes(is_verbose(verbose), has_gpu, BEAM_WORKER_NOISE):
            counts = run(cfg)
        log.info("labelled %d texts into %s-*.%s; skipped: %s", counts["labelled"], cfg.output,
                 cfg.output_format, describe_skipped(counts))
        return ExitCode.OK

    return guarded(body)
