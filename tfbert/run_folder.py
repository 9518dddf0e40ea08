"""The run folder: its layout, its creation, and atomic writes of the files inside it.

Layout of `<output_dir>/<run_name>/`:
    config.json, tf_model.h5, tokenizer files   the fine-tuned model (`from_pretrained(run_dir)`)
    run_config.json                             the resolved RunConfig, to repeat the run
    labels.json                                 id2label as written by training
    head.json                                   the task, its outputs, standardisation, thresholds
    history.csv                                 one row per epoch (loss, val metrics, lr)
    metrics.json                                validation and test metrics
    checkpoints/                                the best weights seen so far
    backup/                                     resume state while training (removed at the end)
    logs/                                       TensorBoard event files
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from tfbert.base.errors import RunFolderError
from tfbert.base.files import read_json
from tfbert.config import RunConfig


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
    def head(self) -> Path:
        return self.path / "head.json"

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

    def config(self) -> RunConfig:
        """The run's configuration, read once through `RunConfig.load`: what the saved file
        leaves out (a run from an older version) takes the dataclass defaults, so prediction,
        evaluation and the export cut texts exactly as training did. A folder without
        `run_config.json` (a bare `save_pretrained` checkpoint) gets the defaults.
        """
        if not self.run_config.exists():
            return RunConfig()
        try:
            return RunConfig.load(self.run_config)
        except (ValueError, TypeError, OSError) as err:
            raise RunFolderError(f"{self.run_config} cannot be read ({err}); it is not a run "
                                 "config written by train.py") from err

    def task_head(self, names: tuple[str, ...]):
        """The trained head (`tasks.head.TaskHead`); a run from before problem types, with no
        head.json, is single-label over `names`."""
        from tfbert.tasks.head import TaskHead, single_label_head

        return TaskHead.load(self.head) if self.head.exists() else single_label_head(names)

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


def prepare_run_folder(output_dir: str | Path, run_name: str, run_config: RunConfig,
                       overwrite: bool) -> tuple[RunFolder, bool]:
    """Creates the run folder, or reopens an interrupted run of the same configuration.

    "The same" is `RunConfig.identity()`: what changes results, so a run resumed on a machine
    that resolves the same precision for another reason is still recognised.

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
    try:
        saved = RunConfig.load(folder.run_config) if folder.run_config.exists() else None
    except (ValueError, TypeError):
        saved = None
    if saved is None or saved.identity() != run_config.identity():
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
    if not (folder.path / "tf_model.h5").exists():
        raise RunFolderError(f"{folder.path} holds no trained weights (tf_model.h5 missing): its "
                             "training has not finished; run the same train.py command to resume")
    return folder
