"""The run folder: its layout, its creation, and atomic writes of the files inside it.

Layout of `<output_dir>/<run_name>/`:
    config.json, tf_model.h5, tokenizer files   the fine-tuned model (`from_pretrained(run_dir)`)
    run_config.json                             the resolved RunConfig, to repeat the run
    labels.json                                 id2label as written by training
    history.csv                                 one row per epoch (loss, val metrics, lr)
    metrics.json                                validation and test metrics
    checkpoints/                                the best weights seen so far
    backup/                                     resume state while training (removed at the end)
    logs/                                       TensorBoard event files
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfbert.errors import RunFolderError


@dataclass(frozen=True)
class RunFolder:
    """Paths inside one run folder."""

    path: Path
    backup_root: Path | None = None  # other workers share the chief's backup

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
    def backup(self) -> Path:
        return self.backup_root or self.path / "backup"

    @property
    def progress(self) -> Path:
        return self.backup / "progress.json"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    @property
    def export(self) -> Path:
        return self.path / "export"

    def is_complete(self) -> bool:
        """True once training saved the model and wrote metrics."""
        return self.metrics.exists() and (self.path / "tf_model.h5").exists()

    def text_cut(self) -> tuple[int, str, int | None]:
        """(max_length, truncation, head_tokens) the run trained with, so texts are cut alike.

        Runs without a saved config (or from before `--truncation`) read 512 tokens from the start.
        """
        data = read_json(self.run_config).get("data", {}) if self.run_config.exists() else {}
        return data.get("max_length", 512), data.get("truncation", "head"), data.get("head_tokens")

    def temperature(self) -> float:
        """The probability temperature `--calibrate` fitted on validation; 1.0 without one."""
        metrics = read_json(self.metrics) if self.metrics.exists() else {}
        return float(metrics.get("calibration", {}).get("temperature", 1.0))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", Path(text.rstrip("/")).name or "x").strip("-")


def default_run_name(model_name_or_path: str, data_source: str, fingerprint: str) -> str:
    """`<model>-<data>-<config hash>`, e.g. `all-MiniLM-L6-v2-imdb-3fa9c2d1`.

    The same command gives the same name, so re-running it resumes or reports the run.
    """
    return f"{_slug(model_name_or_path)}-{_slug(data_source)}-{fingerprint}"


def prepare_run_folder(output_dir: str | Path, run_name: str, run_config: dict,
                       overwrite: bool) -> tuple[RunFolder, bool]:
    """Creates the run folder, or reopens an interrupted run of the same configuration.

    Returns:
        The folder, and True when training should resume from its backup.
    Raises:
        RunFolderError: the run is already complete, or the folder holds something else.
    """
    folder = RunFolder(Path(output_dir) / run_name)
    path = folder.path
    if path.exists() and overwrite:
        shutil.rmtree(path)
    if not path.exists() or not any(path.iterdir()):
        path.mkdir(parents=True, exist_ok=True)
        return folder, False
    if folder.is_complete():
        raise RunFolderError(
            f"run {path} is already complete (metrics.json and the model are there); "
            "pass --overwrite to train it again or choose another --run-name"
        )
    saved = read_json(folder.run_config) if folder.run_config.exists() else None
    wanted = json.loads(json.dumps(run_config))  # tuples become lists, as in the saved file
    same = saved is not None and {k: v for k, v in saved.items() if k != "output"} == \
        {k: v for k, v in wanted.items() if k != "output"}
    if not same:
        raise RunFolderError(
            f"run folder {path} holds a different or unknown run; pass --overwrite to "
            "replace it or choose another --run-name"
        )
    return folder, folder.backup.exists()


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
