"""Configuration of the export and of the web demo."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tfbert.config import COMPUTE_DTYPES, DEFAULT_EXPORT_NAME, EXPORT_NAME_PATTERN


@dataclass(frozen=True)
class ExportConfig:
    """Which run to export, under which name and version, computing in which dtype."""

    run: str
    version: int | None = None  # None: the next free version number
    name: str = DEFAULT_EXPORT_NAME
    compute_dtype: str = "float32"

    def __post_init__(self) -> None:
        if not self.run:
            raise ValueError("run must not be empty")
        if self.version is not None and self.version < 1:
            raise ValueError(f"version must be a positive integer, got {self.version}")
        if not re.fullmatch(EXPORT_NAME_PATTERN, self.name):
            raise ValueError(f"model name {self.name!r}: use letters, digits, '.', '_' or '-'")
        if self.compute_dtype not in COMPUTE_DTYPES:
            raise ValueError(f"compute dtype must be one of {COMPUTE_DTYPES}, "
                             f"got {self.compute_dtype!r}")


@dataclass(frozen=True)
class DemoConfig:
    """The web demo: which export it shows, and where it listens."""

    export: str
    host: str = "127.0.0.1"
    port: int = 7860
    title: str = "tfbert classifier"

    def __post_init__(self) -> None:
        if not self.export:
            raise ValueError("export must not be empty")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
