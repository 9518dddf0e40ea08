"""The evaluation report of a regression head and of a multi-label head: `report.md` and PNGs.

These mirror the single-label report in `tfbert.scoring.report`: a headline, the tables a
reader needs to see where the errors are (by text length, by true value, by label), plots of
the same, and a few texts to look at.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tfbert.base.files import write_text_atomic
from tfbert.scoring.report import LENGTH_EDGES, _pyplot

MAX_DISTINCT_TARGETS = 20  # up to this many distinct targets: one error row per value
TARGET_BINS = 10  # otherwise: this many quantile bins of the target
MAX_TABLE_LABELS = 12  # the co-occurrence table is printed only up to this many labels
THRESHOLD_GRID = np.linspace(0.01, 0.99, 99)


def _number(value: float | None, digits: int = 4) -> str:
    """A metric for the markdown: "n/a" where it is undefined (a constant side, no positives)."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def _cell(text: str, width: int = 300) -> str:
    """A text shortened and escaped so that it stays inside one markdown table cell or line."""
    shown = text if len(text) <= width else text[:width - 3] + "..."
    return shown.replace("\n", " ").replace("|", "\\|")


def _finish(fig, path: Path) -> None:
    """Every figure ends the same way: laid out, saved, and closed so memory does not grow."""
    plt = _pyplot()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_training(history: dict[str, list[float]], right_keys: Sequence[str], right_title: str,
                   path: Path) -> None:
    """Loss on the left, the task's own validation scores on the right, per epoch."""
    fig, axes = _pyplot().subplots(1, 2, figsize=(10, 3.8))
    epochs = np.arange(1, len(history["loss"]) + 1)
    panels = ((axes[0], ("loss", "val_loss"), "Loss"), (axes[1], tuple(right_keys), right_title))
    for ax, keys, title in panels:
        for key in (k for k in keys if history.get(k)):
            ax.plot(np.arange(1, len(history[key]) + 1), history[key], marker="o", label=key)
        ax.set(xlabel="epoch", title=title, xticks=epochs)
        ax.grid(alpha=0.3)
        if ax.lines:  # an empty legend only draws a warning
            ax.legend()
    _finish(fig, path)


def _training_lines(history: dict[str, list[float]] | None, right_keys: Sequence[str],
                    right_title: str, folder: Path) -> list[str]:
    if not history or not history.get("loss"):
        return []
    _plot_training(history, right_keys, right_title, folder / "training_curves.png")
    return ["## Training curves", "", "![training curves](training_curves.png)", ""]


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows] + [""]


# ---------------------------------------------------------------- regression


def _length_buckets(texts: Sequence[str]) -> list[tuple[str, np.ndarray]]:
    """(label, mask) per word-count bucket of `LENGTH_EDGES` that holds at least one text."""
    words = np.array([len(text.split()) for text in texts], dtype=int)
    uppers = [*LENGTH_EDGES[1:], None]
    buckets = []
    for low, high in zip(LENGTH_EDGES, uppers, strict=True):
        mask = words >= low if high is None else (words >= low) & (words < high)
        if mask.any():
            buckets.append((f"{low}+" if high is None else f"{low}-{high - 1}", mask))
    return buckets


def error_by_length(texts: Sequence[str], targets: np.ndarray, predictions: np.ndarray) -> list[dict]:
    """MAE and mean residual (prediction - target) per text length: do truncated texts suffer?"""
    residual = np.asarray(predictions, dtype=np.float64) - np.asarray(targets, dtype=np.float64)
    return [{"words": label, "n": int(mask.sum()), "mae": float(np.abs(residual[mask]).mean()),
             "mean_residual": float(residual[mask].mean())} for label, mask in _length_buckets(texts)]


def error_by_value(targets: np.ndarray, predictions: np.ndarray) -> list[dict]:
    """Errors per true value (or per decile of it): models often pull the extremes to the middle.

    Each row: `target` (a label), `low`/`high` (the range it covers), `n`, `mean_prediction`, `mae`.
    """
    y = np.asarray(targets, dtype=np.float64).reshape(-1)
    p = np.asarray(predictions, dtype=np.float64).reshape(-1)
    values = np.unique(y)
    if len(values) <= MAX_DISTINCT_TARGETS:
        groups = [(f"{v:g}", v, v, y == v) for v in values]
    else:
        edges = np.unique(np.quantile(y, np.linspace(0, 1, TARGET_BINS + 1)))
        bins = np.searchsorted(edges[1:-1], y, side="right")  # the top edge joins the last bin
        groups = [(f"{edges[b]:.3g} to {edges[b + 1]:.3g}", edges[b], edges[b + 1], bins == b)
                  for b in range(len(edges) - 1)]
    return [{"target": label, "low": float(low), "high": float(high), "n": int(mask.sum()),
             "mean_prediction": float(p[mask].mean()), "mae": float(np.abs(p[mask] - y[mask]).mean())}
            for label, low, high, mask in groups if mask.any()]


def largest_errors(texts: Sequence[str], targets: np.ndarray, predictions: np.ndarray,
                   count: int = 10) -> list[dict]:
    """The texts the model is furthest off on, worst first."""
    y = np.asarray(targets, dtype=np.float64).reshape(-1)
    p = np.asarray(predictions, dtype=np.float64).reshape(-1)
    worst = np.argsort(-np.abs(p - y), kind="stable")[:count]
    return [{"text": _cell(texts[i]), "target": float(y[i]), "prediction": float(p[i])} for i in worst]


def plot_scatter(targets: np.ndarray, predictions: np.ndarray, path: Path) -> None:
    fig, ax = _pyplot().subplots(figsize=(4.8, 4.5))
    ax.scatter(targets, predictions, s=8, alpha=0.3, color="#4a7ab5")
    both = np.concatenate([np.ravel(targets), np.ravel(predictions)])
    low, high = (float(both.min()), float(both.max())) if both.size else (0.0, 1.0)
    ax.plot([low, high], [low, high], "--", color="grey", label="prediction = target")
    ax.set(xlabel="target", ylabel="prediction", title="Predicted against true")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    _finish(fig, path)


def _plot_bars(names: Sequence[str], heights: Sequence[float], counts: Sequence[int],
               labels: tuple[str, str, str], path: Path) -> None:
    """Bars annotated with how many examples each stands on; labels are x, y and title."""
    fig, ax = _pyplot().subplots(figsize=(6, 3.5))
    ax.bar(list(names), list(heights), color="#4a7ab5")
    for i, (height, n) in enumerate(zip(heights, counts, strict=True)):
        ax.annotate(f"n={n}", (i, height), ha="center", va="bottom", fontsize=8)
    ax.set(xlabel=labels[0], ylabel=labels[1], title=labels[2])
    _finish(fig, path)


def write_regression_report(folder: Path, title: str, metrics: dict, targets: np.ndarray,
                            predictions: np.ndarray, texts: Sequence[str],
                            history: dict[str, list[float]] | None = None) -> Path:
    """Writes `report.md` and its PNGs for a regression head into `folder`; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    y = np.asarray(targets, dtype=np.float64).reshape(-1)
    p = np.asarray(predictions, dtype=np.float64).reshape(-1)
    plot_scatter(y, p, folder / "scatter.png")
    by_length = error_by_length(texts, y, p)
    _plot_bars([r["words"] for r in by_length], [r["mae"] for r in by_length],
               [r["n"] for r in by_length], ("words per text", "MAE", "Error by text length"),
               folder / "error_by_length.png")
    lines = [f"# {title}", "",
             f"{metrics['n_examples']} examples: RMSE {_number(metrics.get('rmse'))}, "
             f"MAE {_number(metrics.get('mae'))}, Pearson {_number(metrics.get('pearson'))}, "
             f"Spearman {_number(metrics.get('spearman'))}, loss {_number(metrics.get('loss'))}.", "",
             "![predicted against true](scatter.png)", ""]
    lines += _training_lines(history, ("val_rmse", "val_mae"), "Validation RMSE and MAE", folder)
    lines += ["## Error by text length", ""]
    lines += _table(("words", "examples", "MAE", "mean residual"),
                    [(r["words"], r["n"], f"{r['mae']:.4f}", f"{r['mean_residual']:+.4f}")
                     for r in by_length])
    lines += ["Residual = prediction - target: below zero, the model predicts too low.", "",
              "![error by length](error_by_length.png)", "", "## Error by true value", ""]
    lines += _table(("target", "examples", "mean prediction", "MAE"),
                    [(r["target"], r["n"], f"{r['mean_prediction']:.4f}", f"{r['mae']:.4f}")
                     for r in error_by_value(y, p)])
    lines += ["## The largest errors", ""]
    worst = largest_errors(texts, y, p)
    lines += [f"- target **{e['target']:g}**, predicted **{e['prediction']:.3f}**: {e['text']}"
              for e in worst] or ["None: there are no examples."]
    path = folder / "report.md"
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------- multi-label


def f1_by_threshold(truth: np.ndarray, scores: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """One label's F1 at each threshold of `grid`; 0.0 where precision + recall is 0.

    Shows how flat (forgiving) or peaked the F1 is around the tuned threshold.
    """
    positive = np.asarray(truth).astype(bool).reshape(-1)
    called = np.asarray(scores, dtype=np.float64).reshape(1, -1) >= np.asarray(grid).reshape(-1, 1)
    hits = (called & positive).sum(axis=1)
    denominator = called.sum(axis=1) + positive.sum()  # F1 = 2 TP / (predicted + actual)
    return np.where(hits > 0, 2 * hits / np.maximum(denominator, 1), 0.0)


def cooccurrence(labels: np.ndarray) -> np.ndarray:
    """How many texts carry both label i and label j (the diagonal: each label's count)."""
    onehot = np.asarray(labels).astype(np.int64)
    return onehot.T @ onehot


def plot_cooccurrence(counts: np.ndarray, names: Sequence[str], path: Path) -> None:
    side = 0.9 * len(names) + 2.5
    fig, ax = _pyplot().subplots(figsize=(side, side - 0.5))
    ax.imshow(counts, cmap="Purples")
    middle = counts.max() / 2 if counts.size else 0
    for row, column in np.ndindex(*counts.shape):
        value = counts[row, column]
        ax.annotate(str(value), (column, row), ha="center", va="center", fontsize=8,
                    color="white" if value > middle else "black")
    ax.set_xticks(range(len(names)), list(names), rotation=30, ha="right")
    ax.set_yticks(range(len(names)), list(names))
    ax.set_title("Co-occurrence of true labels")
    _finish(fig, path)


def plot_threshold_curves(labels: np.ndarray, probabilities: np.ndarray, thresholds: Sequence[float],
                          names: Sequence[str], path: Path) -> None:
    fig, ax = _pyplot().subplots(figsize=(6.5, 4.2))
    for j, name in enumerate(names):
        line = ax.plot(THRESHOLD_GRID, f1_by_threshold(labels[:, j], probabilities[:, j],
                                                       THRESHOLD_GRID), label=name)[0]
        chosen = float(thresholds[j])
        at = f1_by_threshold(labels[:, j], probabilities[:, j], np.array([chosen]))[0]
        ax.plot([chosen], [at], "o", color=line.get_color())
    ax.set(xlabel="threshold", ylabel="F1", title="F1 by threshold (dot: the chosen one)",
           xlim=(0, 1), ylim=(0, 1.05))
    ax.grid(alpha=0.3)
    if len(names) <= MAX_TABLE_LABELS:  # beyond that the legend covers the plot
        ax.legend(fontsize=8)
    _finish(fig, path)


def _label_set(row: np.ndarray, names: Sequence[str]) -> str:
    return ", ".join(name for name, on in zip(names, row, strict=True) if on) or "(none)"


def _multilabel_tables(metrics: dict, counts: np.ndarray, names: Sequence[str],
                       gain: dict | None) -> list[str]:
    lines = ["## Per label", ""]
    lines += _table(("label", "threshold", "precision", "recall", "F1", "support", "AP"),
                    [(name, f"{r['threshold']:.3f}", f"{r['precision']:.4f}", f"{r['recall']:.4f}",
                      f"{r['f1']:.4f}", r["support"], _number(r.get("average_precision")))
                     for name, r in metrics["per_label"].items()])
    if gain:
        lines += ["## Tuned thresholds vs 0.5", ""]
        lines += _table(("", "tuned", "at 0.5"),
                        [("micro-F1", _number(gain.get("micro_f1_tuned")),
                          _number(gain.get("micro_f1_at_0.5"))),
                         ("macro-F1", _number(gain.get("macro_f1_tuned")),
                          _number(gain.get("macro_f1_at_0.5")))])
    lines += ["## Label co-occurrence", "",
              "How many texts carry both labels (true labels; the diagonal counts each label).", ""]
    if len(names) <= MAX_TABLE_LABELS:
        lines += _table(("", *names), [(name, *counts[i]) for i, name in enumerate(names)])
    return lines + ["![co-occurrence](cooccurrence.png)", ""]


def write_multilabel_report(folder: Path, title: str, metrics: dict, labels: np.ndarray,
                            probabilities: np.ndarray, thresholds: Sequence[float],
                            names: Sequence[str], texts: Sequence[str],
                            history: dict[str, list[float]] | None = None,
                            gain: dict | None = None) -> Path:
    """Writes `report.md` and its PNGs for a multi-label head into `folder`; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    truth = np.asarray(labels).astype(bool)
    scores = np.asarray(probabilities, dtype=np.float64)
    counts = cooccurrence(truth)
    plot_cooccurrence(counts, names, folder / "cooccurrence.png")
    plot_threshold_curves(truth, scores, thresholds, names, folder / "threshold_curves.png")
    lines = [f"# {title}", "",
             f"{metrics['n_examples']} examples: micro-F1 {metrics['micro_f1']:.4f}, macro-F1 "
             f"{metrics['macro_f1']:.4f}, micro precision {metrics['micro_precision']:.4f}, micro "
             f"recall {metrics['micro_recall']:.4f}, subset accuracy {metrics['subset_accuracy']:.4f}, "
             f"mean average precision {_number(metrics.get('mean_average_precision'))}, "
             f"loss {_number(metrics.get('loss'))}; {metrics['texts_without_label']} texts carry "
             "no label.", ""]
    lines += _multilabel_tables(metrics, counts, names, gain)
    lines += ["## F1 by threshold", "", "![threshold curves](threshold_curves.png)", ""]
    lines += _training_lines(history, ("val_micro_f1", "val_macro_f1"), "Validation micro/macro-F1",
                             folder)
    predicted = scores >= np.asarray(thresholds, dtype=np.float64)[None, :]
    lines += ["## A few examples", ""]
    lines += _table(("text", "true", "predicted"),
                    [(_cell(texts[i]), _label_set(truth[i], names), _label_set(predicted[i], names))
                     for i in range(min(5, len(texts)))])
    path = folder / "report.md"
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path
