"""Label files of texts with an export on Apache Beam: see `python scripts/predict_beam.py --help`.

Flags this script does not know go to Beam as pipeline options (--runner, --direct_num_workers, ...).
Exit codes: 0 success, 2 usage error, 3 data error (no input, no usable text), 5 export error.
"""

import argparse
import dataclasses
import logging
import os
import sys
from pathlib import Path

REPO = str(Path(__file__).resolve().parents[1])
sys.path.insert(0, REPO)
# Local worker processes (--direct_running_mode multi_processing) unpickle tfbert's DoFns too.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")]))

from tfbert.predict_beam import (  # noqa: E402
    OUTPUT_FORMATS,
    BeamPredictConfig,
    ExportLoadError,
    InputError,
    describe_skipped,
    run,
)


def build_parser() -> argparse.ArgumentParser:
    defaults = {f.name: f.default for f in dataclasses.fields(BeamPredictConfig)}
    parser = argparse.ArgumentParser(
        prog="predict_beam.py", allow_abbrev=False,
        description="Label files of texts with an export on Apache Beam. Other --options go to Beam "
                    "(--runner, --direct_num_workers, --direct_running_mode, ...).")
    parser.add_argument("--export", required=True,
                        help="export version folder, e.g. saved_models/<run>/export/classifier/1")
    parser.add_argument("--input", required=True,
                        help="glob of CSV, TSV, JSONL, JSON, parquet or .txt (one text a line) files")
    parser.add_argument("--output", required=True, help="prefix of the output shards")
    parser.add_argument("--format", dest="output_format", choices=OUTPUT_FORMATS,
                        default=defaults["output_format"])
    parser.add_argument("--text-column", default=defaults["text_column"])
    parser.add_argument("--id-column", default=None,
                        help="column that names each row (default: <file>:<row>, rows from 0)")
    parser.add_argument("--batch-size", type=int, default=defaults["batch_size"])
    parser.add_argument("--num-shards", type=int, default=defaults["num_shards"],
                        help="output files; 0 lets the runner decide")
    parser.add_argument("--share-model", action="store_true",
                        help="one model per machine, shared by its worker processes")
    return parser


def unknown_pipeline_option(pipeline_args: list[str]) -> str | None:
    """The first argument that is no Beam pipeline option (Beam would only warn and drop it)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    options = PipelineOptions(pipeline_args)
    unknown = set(options.get_all_options(retain_unknown_options=True)) - set(options.get_all_options())
    names = [arg for arg in pipeline_args if arg.startswith("-")]
    return next((a for a in names if a.lstrip("-").split("=")[0].replace("-", "_") in unknown), None)


def main() -> int:
    parser = build_parser()
    args, pipeline_args = parser.parse_known_args()
    if bad := unknown_pipeline_option(pipeline_args):
        parser.error(f"{bad} is neither a flag of this script nor a Beam pipeline option")
    try:
        cfg = BeamPredictConfig(**vars(args), pipeline_args=tuple(pipeline_args))
    except ValueError as err:
        parser.error(str(err))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S", force=True)
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    try:
        counts = run(cfg)
    except InputError as err:
        print(f"data error: {err}", file=sys.stderr)
        return 3
    except ExportLoadError as err:
        print(f"export error: {err}", file=sys.stderr)
        return 5
    print(f"labelled {counts['labelled']} texts into {cfg.output}-*.{cfg.output_format}; "
          f"skipped: {describe_skipped(counts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
