"""Label files of texts with an export on Apache Beam: `RunInference` over the raw-text signature.

Workers load only the SavedModel (`tf.saved_model.load`); neither transformers nor the training
code is imported, so any runner whose workers have TensorFlow and Beam can run the pipeline.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import posixpath
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import apache_beam as beam
import pandas as pd
import pyarrow as pa
import tensorflow as tf
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics, MetricsFilter
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult, RunInference
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms.util import SortAndBatchElements

import tfbert
from tfbert.base.errors import DataError, ExportError
from tfbert.config import TEXT_TYPES
from tfbert.labelling.columns import LABEL_SEPARATOR, check_text_columns, output_columns
from tfbert.labelling.config import BeamPredictConfig
from tfbert.serving.exported import TEXT_SIGNATURE, no_signature_error, no_variables_error
from tfbert.tables import Utf8Counter, read_table
from tfbert.tasks.kinds import MULTI_LABEL, REGRESSION, SINGLE_LABEL

log = logging.getLogger(__name__)

METRICS_NAMESPACE = "tfbert"
SKIPPED = ("missing_text", "empty_text", "missing_id", "malformed_lines", "unreadable_files")
COUNTERS = {name: Metrics.counter(METRICS_NAMESPACE, name) for name in (*SKIPPED, "labelled")}


def read_label_names(export_dir: str) -> tuple[str, ...]:
    """Class names of an export with a raw-text signature (see `read_export`)."""
    return read_export(export_dir)[0]


def read_export(export_dir: str) -> tuple[tuple[str, ...], bool, str]:
    """Class (or label) names of an export with a raw-text signature, whether it reads pairs,
    and its task, read without loading its graph (an export from before problem types has no
    `task` variable: single-label).

    The launcher checks the export this cheaply, so a wrong path fails before any worker starts.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    root = export_dir.rstrip("/")
    if not tf.io.gfile.exists(f"{root}/saved_model.pb"):
        raise ExportError(f"{export_dir} holds no saved_model.pb; pass a version folder such as "
                              "saved_models/<run>/export/classifier/1")
    try:
        with tf.io.gfile.GFile(f"{root}/saved_model.pb", "rb") as handle:
            signatures = saved_model_pb2.SavedModel.FromString(handle.read()).meta_graphs[0].signature_def
    except Exception as err:  # damaged: one line for the user
        raise ExportError(f"{export_dir}: cannot read the export ({err})") from err
    if TEXT_SIGNATURE not in signatures:
        raise no_signature_error(export_dir, signatures)
    if not tf.io.gfile.isdir(f"{root}/variables"):
        raise no_variables_error(export_dir)
    try:
        variables = tf.train.load_checkpoint(f"{root}/variables/variables")
        names = tuple(n.decode() for n in variables.get_tensor("label_names/.ATTRIBUTES/VARIABLE_VALUE"))
        task = (variables.get_tensor("task/.ATTRIBUTES/VARIABLE_VALUE").decode()
                if variables.has_tensor("task/.ATTRIBUTES/VARIABLE_VALUE") else SINGLE_LABEL)
    except Exception as err:  # damaged, or not a tfbert export
        raise ExportError(f"{export_dir}: cannot read the export ({err})") from err
    inputs = set(signatures[TEXT_SIGNATURE].inputs)
    if inputs not in ({"text"}, {"text", "text_pair"}):
        raise ExportError(f"{export_dir}: serving_default does not take raw text; export a model "
                          "whose tokenizer has an in-graph copy (see the README's serving section)")
    return names, "text_pair" in inputs, task


def match_inputs(pattern: str) -> list[str]:
    """The files a glob matches, sorted; each must be of a type the pipeline reads."""
    paths = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    if not paths:
        raise DataError(f"no input file matches {pattern!r}")
    for path in paths:
        if (suffix := posixpath.splitext(path)[1].lower()) not in TEXT_TYPES:
            raise DataError(f"{path}: unknown file type {suffix or '(none)'}; "
                             f"use one of {', '.join(TEXT_TYPES)}")
    return paths


def _id_root(pattern: str) -> str:
    """The folder a glob starts from; ids name files relative to it."""
    fixed = min((i for i in map(pattern.find, "*?[{") if i >= 0), default=len(pattern))
    return pattern[:pattern.rfind("/", 0, fixed) + 1]


def _is_missing(value) -> bool:
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def _as_text(value) -> str | None:
    """A kept input value as text (Beam's outputs declare every kept column a string)."""
    return None if _is_missing(value) else str(value)


class ReadTexts(beam.DoFn):
    """Reads a file into ((id, kept values), (text,)) pairs through the product's one reader;
    a pair model's rows carry (text, text_pair).

    Rows without a usable text or id are counted and skipped; a file that cannot be read is
    counted and skipped whole (it is read at once, so it is labelled whole or not at all).
    """

    def __init__(self, text_columns: Sequence[str], id_column: str | None,
                 keep_columns: Sequence[str], id_root: str):
        self.text_columns, self.id_column, self.id_root = tuple(text_columns), id_column, id_root
        self.keep_columns = tuple(keep_columns)

    def process(self, path: str) -> Iterator[tuple[tuple, tuple[str, ...]]]:
        faults = Utf8Counter()
        try:
            frame = read_table(path, text_columns=self.text_columns, utf8=faults,
                               opener=FileSystems.open)
        except Exception as err:  # a damaged file must not stop the others
            log.warning("%s: skipped, cannot be read (%s)", path, err)
            COUNTERS["unreadable_files"].inc()
            return
        if faults.bad_lines:  # JSON lines holding no object: skipped, as predict.py does
            log.warning("%s: skipped %d malformed JSON lines (first: line %d)", path,
                        len(faults.bad_lines), faults.bad_lines[0])
            COUNTERS["malformed_lines"].inc(len(faults.bad_lines))
        for column in (*self.text_columns, self.id_column, *self.keep_columns):
            if column is not None and column not in frame.columns:
                log.warning("%s: no column %r; columns are %s", path, column, list(frame.columns))
        name = path[len(self.id_root):] if path.startswith(self.id_root) else path
        missing = pd.Series([None] * len(frame), dtype=object)
        texts = [frame.get(c, missing).to_numpy() for c in self.text_columns]
        ids = frame.get(self.id_column, missing) if self.id_column else None
        kept = [frame.get(c, missing).to_numpy() for c in self.keep_columns]
        for row in range(len(frame)):
            row_texts = [column[row] for column in texts]
            if any(_is_missing(text) for text in row_texts):
                COUNTERS["missing_text"].inc()
            elif not all(str(text).strip() for text in row_texts):
                COUNTERS["empty_text"].inc()
            elif ids is not None and _is_missing(ids.iloc[row]):
                COUNTERS["missing_id"].inc()
            else:
                key = f"{name}:{row}" if ids is None else str(ids.iloc[row])
                yield (key, tuple(_as_text(column[row]) for column in kept)), tuple(map(str, row_texts))


class LoadedExport:
    """An export's `serving_default`; it returns NumPy, so a process-shared proxy can pass it on."""

    def __init__(self, export_dir: str):
        self._loaded = tf.saved_model.load(export_dir)  # keeps the signature's variables alive
        self._serve = self._loaded.signatures["serving_default"]

    def classify(self, rows: list[tuple[str, ...]]) -> list[tuple]:
        """The answer of each text (or pair of texts), as the output columns after the key:
        (label, label_id, *probabilities), (labels, *probabilities) or (score,)."""
        inputs = {name: tf.constant([row[i] for row in rows], tf.string)
                  for i, name in enumerate(("text", "text_pair")[:len(rows[0])])}
        out = {key: value.numpy() for key, value in self._serve(**inputs).items()}
        if "score" in out:
            return [(float(score),) for score in out["score"]]
        probabilities = [tuple(map(float, row)) for row in out["probabilities"]]
        if "labels_mask" in out:
            return [([n.decode() for n, on in zip(names, mask, strict=True) if on], *probs)
                    for names, mask, probs in zip(out["label_names"], out["labels_mask"],
                                                  probabilities, strict=True)]
        return [(label.decode(), int(label_id), *probs) for label, label_id, probs
                in zip(out["label"], out["label_id"], probabilities, strict=True)]


class ExportModelHandler(ModelHandler[tuple, PredictionResult, LoadedExport]):
    """RunInference's handler for our export.

    Beam's TFModelHandlerTensor loads a Keras model (and imports tensorflow_hub); our export is a
    `tf.Module` whose signature takes strings, so this handler calls that signature directly.
    """

    def __init__(self, export_dir: str, share_across_processes: bool = False):
        super().__init__(large_model=share_across_processes)
        self._export_dir = export_dir

    def load_model(self) -> LoadedExport:
        return LoadedExport(self._export_dir)

    def run_inference(self, batch: Sequence[tuple[str, ...]], model: LoadedExport,
                      inference_args: dict | None = None) -> list[PredictionResult]:
        answers = model.classify(list(batch))
        return [PredictionResult(text, answer) for text, answer in zip(batch, answers, strict=True)]

    def get_num_bytes(self, batch: Sequence[tuple[str, ...]]) -> int:
        return sum(len(text.encode()) for texts in batch for text in texts)

    def get_metrics_namespace(self) -> str:
        return METRICS_NAMESPACE


def _text_columns(cfg: BeamPredictConfig) -> tuple[str, ...]:
    return (cfg.text_column, *filter(None, [cfg.text_pair_column]))


def _text_length(keyed: tuple[tuple, tuple[str, ...]]) -> int:
    return sum(len(text) for text in keyed[1])


def _output_row(keyed: tuple[tuple, PredictionResult], columns: Sequence[str]) -> dict:
    """One output row, its columns named as `predict.py` names them (`output_columns`)."""
    (key, kept), result = keyed
    COUNTERS["labelled"].inc()
    return dict(zip(columns, [key, *result.inference, *kept], strict=True))


def _csv_line(row: dict, columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    values = [LABEL_SEPARATOR.join(v) if isinstance(v, list) else v for v in (row[c] for c in columns)]
    csv.writer(buffer, lineterminator="").writerow(values)
    return buffer.getvalue()


def _parquet_types(task: str, label_count: int, kept: int) -> list:
    """Column types of a parquet output: the key, the task's answer, the kept columns."""
    answer = {SINGLE_LABEL: [pa.string(), pa.int32(), *[pa.float32()] * label_count],
              MULTI_LABEL: [pa.list_(pa.string()), *[pa.float32()] * label_count],
              REGRESSION: [pa.float32()]}[task]
    return [pa.string(), *answer, *[pa.string()] * kept]


def build_pipeline(pipeline: beam.Pipeline, cfg: BeamPredictConfig, files: Sequence[str],
                   label_names: tuple[str, ...], task: str = SINGLE_LABEL) -> None:
    """Read -> spread -> sort by length and batch -> RunInference -> write shards."""
    handler = KeyedModelHandler(ExportModelHandler(cfg.export, cfg.share_model)).with_no_batching()
    columns = output_columns(cfg.id_column, label_names, cfg.keep_columns, task)
    rows = (pipeline
            | "Files" >> beam.Create(list(files))
            | "SpreadFiles" >> beam.Reshuffle()
            | "Read" >> beam.ParDo(ReadTexts(_text_columns(cfg), cfg.id_column, cfg.keep_columns,
                                             _id_root(cfg.input)))
            | "SpreadTexts" >> beam.Reshuffle()
            # Length-aware BatchElements needs a real-time timer, which sends the DirectRunner to
            # its one-process fallback; sorting within a bundle runs on every runner.
            | "SortAndBatch" >> SortAndBatchElements(1, cfg.batch_size, sys.maxsize,
                                                     element_size_fn=_text_length)
            | "Classify" >> RunInference(handler)
            | "Rows" >> beam.Map(_output_row, columns))
    shards = {"num_shards": cfg.num_shards, "file_name_suffix": f".{cfg.output_format}"}
    if cfg.output_format == "parquet":
        types = _parquet_types(task, len(label_names), len(cfg.keep_columns))
        schema = pa.schema(list(zip(columns, types, strict=True)))
        _ = rows | "Write" >> beam.io.WriteToParquet(cfg.output, schema, codec="snappy", **shards)
    elif cfg.output_format == "csv":
        header = _csv_line(dict(zip(columns, columns, strict=True)), columns)
        _ = (rows | "Csv" >> beam.Map(_csv_line, columns)
             | "Write" >> beam.io.WriteToText(cfg.output, header=header, **shards))
    else:
        _ = (rows | "Json" >> beam.Map(json.dumps, ensure_ascii=False)
             | "Write" >> beam.io.WriteToText(cfg.output, **shards))


def run(cfg: BeamPredictConfig) -> dict[str, int]:
    """Runs the pipeline to its end; returns how many rows were labelled and skipped, by reason.

    Raises:
        DataError: no input file matches, one is of an unknown type, or no row had a text.
        ExportError: the export cannot serve raw text.
    """
    files = match_inputs(cfg.input)
    label_names, reads_pairs, task = read_export(cfg.export)
    check_text_columns(reads_pairs, cfg.text_pair_column is not None)
    # Local worker processes (DirectRunner multi_processing) unpickle tfbert's DoFns: they need
    # the package on their path, wherever the command was started.
    package_root = str(Path(tfbert.__file__).resolve().parents[1])
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    log.info("labelling %d file(s) with %s (%s: %s)", len(files), cfg.export, task,
             ", ".join(label_names))
    pipeline = beam.Pipeline(options=PipelineOptions(list(cfg.pipeline_args)))
    build_pipeline(pipeline, cfg, files, label_names, task)
    result = pipeline.run()
    result.wait_until_finish()
    counts = dict.fromkeys(COUNTERS, 0)
    for counter in result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))["counters"]:
        if counter.key.metric.name in counts:
            counts[counter.key.metric.name] += counter.result
    if counts["labelled"] == 0 and any(counts[name] for name in SKIPPED):
        # the sinks wrote their (empty) shards anyway: none is left under the output's name
        written = FileSystems.match([f"{cfg.output}-*-of-*.{cfg.output_format}"])[0].metadata_list
        FileSystems.delete([found.path for found in written])
        raise DataError(f"no row had a usable text ({describe_skipped(counts)}); "
                         f"check --text-column ({cfg.text_column!r})")
    return counts


def describe_skipped(counts: dict[str, int]) -> str:
    return ", ".join(f"{name.replace('_', ' ')} {counts[name]}" for name in SKIPPED)


def unknown_pipeline_option(pipeline_args: Sequence[str]) -> str | None:
    """The first argument that is no Beam pipeline option (Beam would only warn and drop it)."""
    options = PipelineOptions(list(pipeline_args))
    unknown = set(options.get_all_options(retain_unknown_options=True)) - set(options.get_all_options())
    names = [arg for arg in pipeline_args if arg.startswith("-")]
    return next((a for a in names if a.lstrip("-").split("=")[0].replace("-", "_") in unknown), None)
