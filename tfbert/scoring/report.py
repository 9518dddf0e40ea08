"""The evaluation report: `report.md` with PNG plots beside `metrics.json`.

Confusion matrix, training curves, reliability diagram with ECE, accuracy by text length, and
the most confident mistakes: where people learn what the model gets wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tfbert.base.files import write_text_atomic
from tfbert.scoring.calibration import expected_calibration_error, reliability_bins
from tfbert.scoring.metrics import softmax

LENGTH_EDGES = (0, 100, 200, 300, 500, 1000)  # words per text


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(matrix: Sequence[Sequence[int]], names: Sequence[str], path: Path) -> None:
    plt = _pyplot()
    matrix = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 2.5, 1.2 * len(names) + 2))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center",
                color="white" if count > matrix.max() / 2 else "black")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_history(history: dict[str, list[float]], path: Path) -> None:
    plt = _pyplot()
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for key in ("loss", "val_loss"):
        if key in history:
            left.plot(epochs, history[key], marker="o", label=key)
    for key in ("accuracy", "val_accuracy", "val_f1"):
        if key in history:
            right.plot(epochs, history[key], marker="o", label=key)
    for ax, title in ((left, "Loss"), (right, "Accuracy and macro-F1")):
        ax.set_xlabel("epoch")
        ax.set_xticks(epochs)  # whole epochs only
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_reliability(probabilities: np.ndarray, labels: np.ndarray, path: Path,
                     calibrated: np.ndarray | None = None) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    series = [("model", probabilities)] + ([("calibrated", calibrated)] if calibrated is not None else [])
    for name, probs in series:
        table = reliability_bins(probs, labels)
        used = table["counts"] > 0
        ece = expected_calibration_error(probs, labels)
        ax.plot(table["confidence"][used], table["accuracy"][used], marker="o",
                label=f"{name} (ECE {ece:.3f})")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title("Reliability diagram")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def accuracy_by_length(texts: Sequence[str], correct: np.ndarray) -> list[dict]:
    """Accuracy per word-count bucket, so one sees whether long (truncated) texts suffer."""
    words = np.array([len(t.split()) for t in texts])
    rows = []
    for low, high in zip(LENGTH_EDGES, (*LENGTH_EDGES[1:], None), strict=True):
        inside = (words >= low) & ((words < high) if high is not None else True)
        if inside.any():
            rows.append({"words": f"{low}-{high - 1}" if high else f"{low}+",
                         "n": int(inside.sum()), "accuracy": float(correct[inside].mean())})
    return rows


def plot_length(rows: list[dict], path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar([r["words"] for r in rows], [r["accuracy"] for r in rows], color="#4a7ab5")
    for i, r in enumerate(rows):
        ax.text(i, r["accuracy"], f"n={r['n']}", ha="center", va="bottom", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("words per text")
    ax.set_ylabel("accuracy")
    ax.set_title("Accuracy by text length")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def confident_mistakes(texts: Sequence[str], labels: np.ndarray, probabilities: np.ndarray,
                       names: Sequence[str], count: int = 10, width: int = 300) -> list[dict]:
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    worst = wrong[np.argsort(-probabilities[wrong].max(axis=1), kind="stable")][:count]
    return [{"text": texts[i] if len(texts[i]) <= width else texts[i][:width - 3] + "...",
             "true": names[labels[i]], "predicted": names[predicted[i]],
             "confidence": float(probabilities[i].max())} for i in worst]


PAIR_JOINER = "  ‖  "  # how the report shows a pair of texts


def shown_texts(frame) -> list[str]:
    """A frame's texts as the report shows them: a pair as "first ‖ second"."""
    texts = frame["text"].astype(str)
    if "text_pair" in frame.columns:
        texts = texts + PAIR_JOINER + frame["text_pair"].astype(str)
    return texts.tolist()


def _example_lines(texts: Sequence[str], labels: np.ndarray, probabilities: np.ndarray,
                   names: Sequence[str], count: int = 5, width: int = 300) -> list[str]:
    """The first few examples with their true and predicted labels: what the inputs look like."""
    lines = ["## A few examples", "", "| text | true | predicted | probability |", "|---|---|---|---|"]
    for i in range(min(count, len(texts))):
        text = texts[i] if len(texts[i]) <= width else texts[i][:width - 3] + "..."
        text = text.replace("\n", " ").replace("|", "\\|")
        best = int(probabilities[i].argmax())
        lines.append(f"| {text} | {names[labels[i]]} | {names[best]} | {probabilities[i][best]:.3f} |")
    return lines + [""]


def write_report(folder: Path, title: str, metrics: dict, logits: np.ndarray, labels: np.ndarray,
                 texts: Sequence[str], names: Sequence[str],
                 history: dict[str, list[float]] | None = None,
                 temperature: float | None = None) -> Path:
    """Writes `report.md` and its PNGs into `folder`; returns the report's path."""
    folder.mkdir(parents=True, exist_ok=True)
    probabilities = softmax(logits)
    calibrated = softmax(logits / temperature) if temperature else None
    plot_confusion(metrics["confusion_matrix"], names, folder / "confusion_matrix.png")
    plot_reliability(probabilities, labels, folder / "reliability.png", calibrated)
    by_length = accuracy_by_length(texts, probabilities.argmax(axis=1) == labels)
    plot_length(by_length, folder / "accuracy_by_length.png")
    lines = [f"# {title}", "",
             f"{metrics['n_examples']} examples: accuracy {metrics['accuracy']:.4f}, macro-F1 "
             f"{metrics['f1']:.4f}, macro precision {metrics['precision']:.4f}, macro recall "
             f"{metrics['recall']:.4f}, loss {metrics['loss']:.4f}.", "",
             "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    lines += [f"| {n} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | {r['support']} |"
              for n, r in metrics["per_class"].items()]
    lines += ["", "![confusion matrix](confusion_matrix.png)", ""]
    lines += _example_lines(texts, labels, probabilities, names)
    if history and history.get("loss"):
        plot_history(history, folder / "training_curves.png")
        lines += ["## Training curves", "", "![training curves](training_curves.png)", ""]
    ece = expected_calibration_error(probabilities, labels)
    lines += ["## Calibration", "", f"Expected calibration error (15 bins): {ece:.4f}."]
    if calibrated is not None:
        lines.append(f"With temperature {temperature:.3f} (fitted on the validation split): "
                     f"{expected_calibration_error(calibrated, labels):.4f}.")
    lines += ["", "![reliability diagram](reliability.png)", "", "## Accuracy by length", "",
              "| words | examples | accuracy |", "|---|---|---|"]
    lines += [f"| {r['words']} | {r['n']} | {r['accuracy']:.4f} |" for r in by_length]
    lines += ["", "![accuracy by length](accuracy_by_length.png)", "",
              "## The most confident mistakes", ""]
    mistakes = confident_mistakes(texts, labels, probabilities, names)
    if not mistakes:
        lines.append("None: every example was classified correctly.")
    for m in mistakes:
        text = m["text"].replace("\n", " ").replace("|", "\\|")
        lines.append(f"- **{m['predicted']}** at {m['confidence']:.3f}, truly **{m['true']}**: {text}")
    path = folder / "report.md"
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path
