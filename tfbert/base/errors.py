"""What can go wrong for a user, and the exit code each entry point returns for it."""

from __future__ import annotations

import enum
import errno


class ExitCode(enum.IntEnum):
    """What every entry point returns; the README's table lists the same."""

    OK = 0
    USAGE = 2  # unknown flag or invalid value (argparse exits with 2 too)
    DATA = 3  # unreadable or unusable data, including --max-length above the model's limit
    MODEL = 4  # the model or tokenizer cannot be loaded, or they do not match
    RUN_FOLDER = 5  # run or output complete or different, not a run folder, export missing or taken
    DIVERGED = 6  # training diverged: NaN or infinite loss
    INTERRUPTED = 130  # Ctrl-C or SIGTERM: stopped cleanly, the same command continues the work


def is_disk_full(err: BaseException | None) -> bool:
    """ENOSPC or a quota, as an OSError or in the message of h5py's or TensorFlow's errors."""
    while err is not None:
        if getattr(err, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or any(
                text in str(err) for text in ("No space left on device", "Disk quota exceeded")):
            return True
        err = err.__cause__ or err.__context__
    return False


def first_line(err: BaseException, limit: int = 200) -> str:
    """The first line of an error's message (its type's name when empty), for one-line reports."""
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:limit]


class TfbertError(Exception):
    """An error the user can fix; the message says how. Scripts print it as one line."""

    exit_code = ExitCode.USAGE
    kind = "error"


class DataError(TfbertError):
    """The data cannot be used as given; the message says which file and what to do."""

    exit_code, kind = ExitCode.DATA, "data error"


class ModelLoadError(TfbertError):
    """The checkpoint or its tokenizer cannot be loaded; the message says what is missing."""

    exit_code, kind = ExitCode.MODEL, "model error"


class RunFolderError(TfbertError):
    """The run folder (or an output) cannot be used as asked: exists already, or is not a run."""

    exit_code, kind = ExitCode.RUN_FOLDER, "run folder error"


class ExportError(TfbertError):
    """The export cannot be written or read as asked (version exists, bad name, not an export)."""

    exit_code, kind = ExitCode.RUN_FOLDER, "export error"


class TrainingDivergedError(TfbertError):
    """The loss became NaN or infinite; the best checkpoint so far is kept."""

    exit_code, kind = ExitCode.DIVERGED, "training diverged"
