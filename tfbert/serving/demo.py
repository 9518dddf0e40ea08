"""A browser demo of an exported classifier: type a review (or a pair of texts), or paste or upload many.

It loads only the exported SavedModel and calls its raw-text signature, as TF Serving would:
neither transformers nor the training code is imported, so the demo runs wherever the export
does. Gradio is imported when the app is built, not when this module is.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path

import pandas as pd

from tfbert.prediction import Prediction
from tfbert.serving.exported import ExportedClassifier

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
    windows = getattr(classifier, "max_windows", 1)
    if classifier.max_length and words > classifier.max_length * windows * 0.7:
        reads = (f"{windows} windows of {classifier.max_length} tokens" if windows > 1
                 else f"{classifier.max_length} tokens")
        return (f" The model reads at most {reads}; this text has about {words:,} words, so "
                "only part of it was read.")
    return ""


def _non_blank_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _split_pairs(lines: list[str]) -> list[tuple[str, str]]:
    """`first<TAB>second` lines as pairs."""
    pairs = []
    for number, line in enumerate(lines, 1):
        first, tab, second = line.partition("\t")
        if not tab or not first.strip() or not second.strip():
            raise DemoInputError(f"Line {number} is not a pair: write the two texts on one line, "
                                 "separated by a tab.")
        pairs.append((first, second))
    return pairs


def _read_upload(path: Path, pair: bool) -> list:
    """Texts (or pairs) of an uploaded .txt (one per line) or .csv (`text` [and `text_pair`])."""
    raw = path.read_bytes().decode("utf-8", errors="replace")
    if path.suffix.lower() == ".txt":
        lines = _non_blank_lines(raw)
        return _split_pairs(lines) if pair else lines
    if path.suffix.lower() != ".csv":
        raise DemoInputError(f"{path.name}: upload a .txt file (one text per line) or a .csv "
                             "file with a 'text' column" + (" and a 'text_pair' column." if pair
                                                             else "."))
    try:
        frame = pd.read_csv(io.StringIO(raw), keep_default_na=False, dtype=str)
    except (ValueError, pd.errors.ParserError) as err:
        raise DemoInputError(f"{path.name} cannot be read as CSV ({err}).") from err
    if not pair:
        column = "text" if "text" in frame.columns else frame.columns[0]
        return [t for t in frame[column].tolist() if t.strip()]
    names = ["text", "text_pair"] if {"text", "text_pair"} <= set(frame.columns) else frame.columns[:2]
    if len(names) < 2:
        raise DemoInputError(f"{path.name}: a pair model needs two columns (text, text_pair).")
    return [(a, b) for a, b in zip(frame[names[0]], frame[names[1]], strict=True)
            if a.strip() and b.strip()]


def read_batch(lines: str | None, upload: str | None, pair: bool = False) -> list:
    """Texts from the pasted lines (one per line) and an uploaded .txt or .csv file; for a pair
    model, pairs (a tab between the two texts of a line; CSV columns text and text_pair)."""
    texts = _non_blank_lines(lines or "")
    if pair:
        texts = _split_pairs(texts)
    if upload:
        texts += _read_upload(Path(upload), pair)
    if not texts:
        raise DemoInputError("Paste some texts (one per line) or upload a .txt or .csv file.")
    if len(texts) > MAX_BATCH:
        raise DemoInputError(f"{len(texts):,} texts; the demo takes at most {MAX_BATCH:,} at once.")
    for number, text in enumerate(texts, 1):
        size = sum(map(len, text)) if pair else len(text)
        if size > MAX_CHARS:
            raise DemoInputError(f"Text {number} has {size:,} characters; the demo takes at "
                                 f"most {MAX_CHARS:,} per text.")
    return texts


def batch_table(texts: list, predictions: list[Prediction]) -> pd.DataFrame:
    """One row per text: its class and confidence, its labels (joined by "|"), or its score."""
    columns = {"text": [p.text for p in predictions]}
    if predictions and predictions[0].text_pair is not None:
        columns["text_pair"] = [p.text_pair for p in predictions]
    if predictions and predictions[0].score is not None:
        return pd.DataFrame({**columns, "score": [round(p.score, 4) for p in predictions]})
    if predictions and predictions[0].labels is not None:
        return pd.DataFrame({**columns, "labels": ["|".join(p.labels) for p in predictions]})
    return pd.DataFrame({**columns, "label": [p.label for p in predictions],
                         "confidence": [round(p.confidence, 4) for p in predictions]})


def describe(prediction: Prediction) -> str:
    """The answer in words: a class and its confidence, label chips, or a score."""
    if prediction.score is not None:
        return f"Score **{prediction.score:.3f}**."
    if prediction.labels is not None:
        chips = " ".join(f"`{label}`" for label in prediction.labels)
        return f"Labels: {chips}." if chips else "No label reaches its threshold."
    return f"**{prediction.label}** with confidence {prediction.confidence:.1%}."


def summarise(table: pd.DataFrame, names: tuple[str, ...]) -> str:
    """A batch in one line: texts per class or per label, or the scores' range."""
    if "score" in table.columns:
        return (f"scores from {table['score'].min():.3f} to {table['score'].max():.3f}, "
                f"mean {table['score'].mean():.3f}")
    if "labels" in table.columns:
        given = table["labels"].str.split("|").explode()
        counts = given[given != ""].value_counts()
        return ", ".join(f"{counts.get(name, 0)} with {name}" for name in names)
    counts = table["label"].value_counts()
    return ", ".join(f"{counts.get(name, 0)} {name}" for name in names)


def _predict(classifier: ExportedClassifier, items: list) -> list[Prediction]:
    if classifier.is_pair:
        return classifier.predict([a for a, _ in items], [b for _, b in items])
    return classifier.predict(items)


def _one_text_tab(gr, classifier: ExportedClassifier) -> None:
    """One text (or pair): a box (two for pairs), a button, the per-class bars."""

    def classify_one(text: str | None, second: str | None = None):
        try:
            text = check_text(text)
            second = check_text(second) if classifier.is_pair else None
        except DemoInputError as err:
            return None, str(err)
        prediction = _predict(classifier, [(text, second)] if second is not None else [text])[0]
        status = describe(prediction) + length_note(text + " " + (second or ""), classifier)
        return prediction.probabilities or None, status

    first_label = "First text" if classifier.is_pair else "Review"
    text = gr.Textbox(label=first_label, lines=5, placeholder="Type or paste a text",
                      elem_id="review")
    inputs = [text]
    if classifier.is_pair:
        inputs.append(gr.Textbox(label="Second text", lines=5, elem_id="review-pair",
                                 placeholder="Type or paste the text it goes with"))
    button = gr.Button("Classify", variant="primary", elem_id="classify")
    status = gr.Markdown(elem_id="status")
    label = gr.Label(label="Prediction", num_top_classes=len(classifier.label_names),
                     elem_id="prediction")
    if not classifier.is_pair:
        gr.Examples(EXAMPLES, inputs=text, label="Examples")
    button.click(classify_one, inputs=inputs, outputs=[label, status])
    text.submit(classify_one, inputs=inputs, outputs=[label, status])


def _batch_tab(gr, classifier: ExportedClassifier) -> None:
    """Many texts: pasted lines or an uploaded file; a table and a CSV to download."""

    def classify_many(lines: str | None, upload: str | None, progress=gr.Progress()):
        try:
            items = read_batch(lines, upload, classifier.is_pair)
        except DemoInputError as err:
            return None, None, str(err)
        predictions = []
        for start in progress.tqdm(range(0, len(items), CHUNK), desc="Classifying"):
            predictions += _predict(classifier, items[start:start + CHUNK])
        table = batch_table(items, predictions)
        out = Path(tempfile.mkdtemp(prefix="tfbert-demo-")) / "predictions.csv"
        table.to_csv(out, index=False, quoting=csv.QUOTE_NONNUMERIC)
        summary = summarise(table, classifier.label_names)
        return table, str(out), f"Classified {len(items):,} texts: {summary}."

    per_line = "One pair per line, a tab between its two texts" if classifier.is_pair \
        else "One text per line"
    lines = gr.Textbox(label=per_line, lines=8, elem_id="batch-lines")
    upload = gr.File(label="...or a .txt / .csv file", file_types=[".txt", ".csv"],
                     type="filepath", elem_id="batch-file")
    batch_button = gr.Button("Classify all", variant="primary", elem_id="classify-all")
    batch_status = gr.Markdown(elem_id="batch-status")
    table = gr.Dataframe(label="Predictions", elem_id="batch-table", wrap=True)
    download = gr.File(label="Download as CSV", elem_id="batch-download")
    batch_button.click(classify_many, inputs=[lines, upload],
                       outputs=[table, download, batch_status])


def build_app(classifier: ExportedClassifier, title: str = "tfbert classifier"):
    """The Gradio Blocks app: one text (or pair) with per-class bars, or a batch as a table and
    a CSV."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    with gr.Blocks(title=title) as app:
        kind = {"regression": "Scores", "multi-label": "Labels (any number per text)"}
        gr.Markdown(f"# {title}\n{kind.get(classifier.task, 'Labels')}: "
                    f"{', '.join(classifier.label_names)}."
                    + (" The model reads pairs of texts." if classifier.is_pair else "")
                    + (f" Texts are read up to {classifier.max_length} tokens."
                       if classifier.max_length else ""))
        with gr.Tab("One pair" if classifier.is_pair else "One text"):
            _one_text_tab(gr, classifier)
        with gr.Tab("Many pairs" if classifier.is_pair else "Many texts"):
            _batch_tab(gr, classifier)
    return app
