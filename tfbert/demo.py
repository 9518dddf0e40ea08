"""A browser demo of an exported classifier: type a review, or paste or upload many.

It loads only the exported SavedModel and calls its raw-text signature, as TF Serving would:
neither transformers nor the training code is imported, so the demo runs wherever the export
does. Gradio is imported when the app is built, not when this module is.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

MAX_CHARS = 200_000  # per text; the export reads at most max_length tokens of it anyway
MAX_BATCH = 5_000  # texts per batch submission
CHUNK = 32  # texts per call to the model

EXAMPLES = [
    "One of the best films I have seen in years: sharp writing, a moving story and a superb cast.",
    "A dull, badly acted mess. I wanted my two hours back long before the first hour was over.",
    "Not bad at all. I expected to hate it, but it was never boring for a single minute.",
    "The first half is gripping and beautifully shot, but the ending is rushed and makes "
    "little sense.",
]


class DemoInputError(ValueError):
    """Input the demo cannot classify; the message is shown to the user as it is."""


@dataclass(frozen=True)
class Prediction:
    label: str
    probabilities: dict[str, float]

    @property
    def confidence(self) -> float:
        return self.probabilities[self.label]


class ExportedClassifier:
    """The `serving_default` signature of an export, with the class names it was trained on."""

    def __init__(self, export_dir: str | Path):
        path = Path(export_dir)
        if not (path / "saved_model.pb").is_file():
            raise FileNotFoundError(f"{path} holds no saved_model.pb; pass a version folder such "
                                    "as saved_models/<run>/export/classifier/1")
        loaded = tf.saved_model.load(str(path))
        signature = loaded.signatures["serving_default"]
        _, inputs = signature.structured_input_signature
        if set(inputs) != {"text"}:
            raise ValueError(f"{path}: serving_default takes {sorted(inputs)}, not raw text; "
                             "the demo needs an export with the raw-text signature")
        self._loaded, self._signature = loaded, signature  # keep the object alive
        width = int(signature.structured_outputs["probabilities"].shape[-1])
        names = getattr(loaded, "label_names", None)
        self.label_names = (tuple(n.decode() for n in names.numpy()) if names is not None
                            else tuple(f"class {i}" for i in range(width)))
        length = getattr(loaded, "max_length", None)
        self.max_length = int(length.numpy()) if length is not None else None

    def classify(self, texts: Sequence[str]) -> list[Prediction]:
        predictions = []
        for start in range(0, len(texts), CHUNK):
            chunk = tf.constant(list(texts[start:start + CHUNK]), tf.string)
            probabilities = self._signature(text=chunk)["probabilities"].numpy()
            for row in probabilities:
                best = int(np.argmax(row))
                predictions.append(Prediction(
                    self.label_names[best],
                    {name: float(p) for name, p in zip(self.label_names, row, strict=True)}))
        return predictions


def check_text(text: str | None) -> str:
    """The text to classify, or DemoInputError with what to do instead."""
    if text is None or not text.strip():
        raise DemoInputError("Type or paste a review first.")
    if len(text) > MAX_CHARS:
        raise DemoInputError(f"That text has {len(text):,} characters; the demo takes at most "
                             f"{MAX_CHARS:,}. Paste a shorter part of it.")
    return text


def length_note(text: str, classifier: ExportedClassifier) -> str:
    """Says when a text is longer than the model reads (a rough guess from its word count)."""
    words = len(text.split())
    if classifier.max_length and words > classifier.max_length * 0.7:
        return (f" The model reads at most {classifier.max_length} tokens; this text has about "
                f"{words:,} words, so only part of it was read.")
    return ""


def _non_blank_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def read_batch(lines: str | None, upload: str | None) -> list[str]:
    """Texts from the pasted lines (one per line) and an uploaded .txt or .csv file."""
    texts = _non_blank_lines(lines or "")
    if upload:
        path = Path(upload)
        raw = path.read_bytes().decode("utf-8", errors="replace")
        if path.suffix.lower() == ".csv":
            try:
                frame = pd.read_csv(io.StringIO(raw), keep_default_na=False, dtype=str)
            except (ValueError, pd.errors.ParserError) as err:
                raise DemoInputError(f"{path.name} cannot be read as CSV ({err}).") from err
            column = "text" if "text" in frame.columns else frame.columns[0]
            texts += [t for t in frame[column].tolist() if t.strip()]
        elif path.suffix.lower() == ".txt":
            texts += _non_blank_lines(raw)
        else:
            raise DemoInputError(f"{path.name}: upload a .txt file (one text per line) or a .csv "
                                 "file with a 'text' column.")
    if not texts:
        raise DemoInputError("Paste some texts (one per line) or upload a .txt or .csv file.")
    if len(texts) > MAX_BATCH:
        raise DemoInputError(f"{len(texts):,} texts; the demo takes at most {MAX_BATCH:,} at once.")
    for number, text in enumerate(texts, 1):
        if len(text) > MAX_CHARS:
            raise DemoInputError(f"Text {number} has {len(text):,} characters; the demo takes at "
                                 f"most {MAX_CHARS:,} per text.")
    return texts


def batch_table(texts: list[str], predictions: list[Prediction]) -> pd.DataFrame:
    return pd.DataFrame({
        "text": texts,
        "label": [p.label for p in predictions],
        "confidence": [round(p.confidence, 4) for p in predictions],
    })


def build_app(classifier: ExportedClassifier, title: str = "tfbert classifier"):
    """The Gradio Blocks app: one text with per-class bars, or a batch as a table and a CSV."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    def classify_one(text: str | None):
        try:
            text = check_text(text)
        except DemoInputError as err:
            return None, str(err)
        prediction = classifier.classify([text])[0]
        status = (f"**{prediction.label}** with confidence {prediction.confidence:.1%}."
                  + length_note(text, classifier))
        return prediction.probabilities, status

    def classify_many(lines: str | None, upload: str | None, progress=gr.Progress()):
        try:
            texts = read_batch(lines, upload)
        except DemoInputError as err:
            return None, None, str(err)
        predictions = []
        for start in progress.tqdm(range(0, len(texts), CHUNK), desc="Classifying"):
            predictions += classifier.classify(texts[start:start + CHUNK])
        table = batch_table(texts, predictions)
        out = Path(tempfile.mkdtemp(prefix="tfbert-demo-")) / "predictions.csv"
        table.to_csv(out, index=False, quoting=csv.QUOTE_NONNUMERIC)
        counts = table["label"].value_counts()
        summary = ", ".join(f"{counts.get(name, 0)} {name}" for name in classifier.label_names)
        return table, str(out), f"Classified {len(texts):,} texts: {summary}."

    with gr.Blocks(title=title) as app:
        gr.Markdown(f"# {title}\nLabels: {', '.join(classifier.label_names)}."
                    + (f" Texts are read up to {classifier.max_length} tokens."
                       if classifier.max_length else ""))
        with gr.Tab("One text"):
            text = gr.Textbox(label="Review", lines=5, placeholder="Type or paste a review",
                              elem_id="review")
            button = gr.Button("Classify", variant="primary", elem_id="classify")
            status = gr.Markdown(elem_id="status")
            label = gr.Label(label="Prediction", num_top_classes=len(classifier.label_names),
                             elem_id="prediction")
            gr.Examples(EXAMPLES, inputs=text, label="Examples")
            button.click(classify_one, inputs=text, outputs=[label, status])
            text.submit(classify_one, inputs=text, outputs=[label, status])
        with gr.Tab("Many texts"):
            lines = gr.Textbox(label="One text per line", lines=8, elem_id="batch-lines")
            upload = gr.File(label="...or a .txt / .csv file", file_types=[".txt", ".csv"],
                             type="filepath", elem_id="batch-file")
            batch_button = gr.Button("Classify all", variant="primary", elem_id="classify-all")
            batch_status = gr.Markdown(elem_id="batch-status")
            table = gr.Dataframe(label="Predictions", elem_id="batch-table", wrap=True)
            download = gr.File(label="Download as CSV", elem_id="batch-download")
            batch_button.click(classify_many, inputs=[lines, upload],
                               outputs=[table, download, batch_status])
    return app


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="demo.py", description="Serve a web demo of an exported classifier.")
    parser.add_argument("--export", required=True,
                        help="export version folder, e.g. saved_models/<run>/export/classifier/1")
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to listen on every interface")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--title", default="tfbert classifier")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        classifier = ExportedClassifier(args.export)
    except (FileNotFoundError, ValueError, OSError) as err:
        print(f"export error: {err}", file=sys.stderr)
        return 4
    app = build_app(classifier, args.title)
    print(f"demo of {args.export} on http://{args.host}:{args.port}", flush=True)
    app.queue().launch(server_name=args.host, server_port=args.port, show_error=True)
    return 0
