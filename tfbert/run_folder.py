"""The run folder: its layout, its creation, and atomic writes of the files inside it.

Layout of `<output_dir>/<run_name>/`:
    config.json, tf_model.h5, tokenizer files   the fine-tuned model (`from_pretrained(run_dir)`)
    run_config.json                             the resolved RunConfig, to repeat the run
    labels.json                                 id2label as written by training
    history.csv                                 one row per epoch (loss, val metrics, lr)
    metrics.json                                validation and test metrics
    checkpoints/                                the best weights seen so far
    logs/                                       TensorBoard event files
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class RunFolderError(Exception):
    """The run folder cannot be used as asked (exists already, or is not a run)."""


@dataclass(frozen=True)
class RunFolder:
    """Paths inside one run folder."""

    path: Path

    @property
    def run_config(self) -> Path:
        return self.path / "run_config.json"

    @property
    def labels(self) -> Path:
        return self.path / "labels.json"

    @property
    def history(self) -> Path:
        return self.path / "history.csv"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.json"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def best_weights(self) -> Path:
        return self.checkpoints / "best.weights.h5"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    @property
    def export(self) -> Path:
        return self.path / "export"

    def is_complete(self) -> bool:
        """True once training saved the model and wrote metrics."""
        return self.metrics.exists() and (self.path / "tf_model.h5").exists()


def default_run_name(model_name_or_path: str) -> str:
    """`<model>-<UTC time>`, e.g. `all-MiniLM-L6-v2-20261125-213001`."""
    base = Path(model_name_or_path.rstrip("/")).name or "model"
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", base)
    return f"{base}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"


def create_run_folder(output_dir: str | Path, run_name: str, overwrite: bool) -> RunFolder:
    """Creates the run folder, refusing to mix a new run into an existing one.

    Raises:
        RunFolderError: the folder exists and holds files while `overwrite` is False.
    """
    path = Path(output_dir) / run_name
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise RunFolderError(
            f"run folder {path} already exists; pass --overwrite to replace it "
            "or choose another --run-name"
        )
    if path.exists() and overwrite:
        import shutil

        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return RunFolder(path)


def open_run_folder(path: str | Path) -> RunFolder:
    """Opens a finished run for prediction or evaluation.

    Raises:
        RunFolderError: the folder does not hold a saved model.
    """
    folder = RunFolder(Path(path))
    if not folder.path.is_dir():
        raise RunFolderError(f"run folder {folder.path} does not exist")
    if not (folder.path / "config.json").exists():
        raise RunFolderError(
            f"{folder.path} holds no saved model (config.json missing); "
            "point at the folder that scripts/train.py created"
        )
    return folder


def write_text_atomic(path: str | Path, text: str) -> None:
    """Writes to a temporary file in the same folder, then renames it into place.

    A reader (or a crash) never sees a half-written file: it sees the old one or the new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp_name, 0o644)  # mkstemp creates 0600; outputs are meant to be shared
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | Path, payload: Any) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")


def read_json(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)
