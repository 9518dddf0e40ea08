"""What a command shows on the terminal: our log lines, and TensorFlow's start-up chatter only on request.

TensorFlow prints its start-up lines from C++ before its logging is configured, so no log-level
variable hides them: the import runs with file descriptor 2 pointed at a temporary file, and
what it caught is replayed without the known noise. `-v` or `TFBERT_VERBOSE=1` shows it all.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator

import tfbert

VERBOSE_ENV = "TFBERT_VERBOSE"
# C++ INFO/WARNING lines (glog format) and absl's notice that it is not initialised yet.
_STARTUP_NOISE = re.compile(rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
                            rb"|[IW]\d{4} [\d:.]+ +\d+ \S+:\d+\] )")
# An "error" on every machine without a GPU: CUDA's driver probe failing is the expected answer.
_NO_GPU_PROBE = re.compile(rb"^E\d{4} .*failed call to cuInit")


def is_verbose(flag: bool = False) -> bool:
    return flag or os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def start_tensorflow(verbose: bool = False) -> bool:
    """Imports TensorFlow (and probes for GPUs) with the start-up noise filtered out.

    Call it before anything imports TensorFlow. Returns False, and says so in a debug line,
    when TensorFlow was already loaded: its start-up lines were printed (or not) back then.
    """
    if "tensorflow" in sys.modules:
        logging.getLogger("tfbert").debug("TensorFlow was imported before start-up; its start-up "
                                          "lines were not filtered (or shown with -v)")
        return False
    if verbose:
        if not tfbert.USER_SET_TF_LOG_LEVEL:
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        import tensorflow  # noqa: F401
        return True
    sys.stderr.flush()
    saved, gpus = os.dup(2), []
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")  # the probe prints here, once
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            for line in caught:
                if not _is_noise(line, bool(gpus)):
                    sys.stderr.buffer.write(line)
            sys.stderr.flush()
    return True


def _is_noise(line: bytes, has_gpu: bool, extra: re.Pattern[bytes] | None = None) -> bool:
    return bool(_STARTUP_NOISE.match(line) or (extra is not None and extra.match(line))
                or (not has_gpu and _NO_GPU_PROBE.match(line)))


@contextlib.contextmanager
def quiet_child_processes(verbose: bool = False, has_gpu: bool = False,
                          extra_noise: re.Pattern[bytes] | None = None) -> Iterator[None]:
    """File descriptor 2 goes through a filter while the block runs, for the processes it starts.

    Child processes (Beam's workers) import TensorFlow on their own and write to the inherited
    stderr, so the filter has to sit on the descriptor: TensorFlow's start-up noise and lines
    matching `extra_noise` (the children's own) are dropped, every other line (ours, real
    warnings, errors) is passed on in order.
    """
    if verbose:
        yield
        return
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    terminal = os.dup(2)
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump() -> None:
        with open(read_end, "rb") as pipe:
            for line in pipe:
                if not _is_noise(line, has_gpu, extra_noise):
                    os.write(terminal, line)

    thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(terminal, 2)  # our end of the pipe is closed: the filter ends when the workers have
        thread.join(timeout=10)
        if not thread.is_alive():  # a worker that outlives the block keeps the copy it writes to
            os.close(terminal)


def setup_logging(verbose: bool = False) -> None:
    """Our lines at INFO; TensorFlow's Python loggers at WARNING; transformers' only at ERROR.

    transformers is not imported here: labelling with an export must work without it.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")
    warnings.filterwarnings("ignore", message=".*seed_generator.*is deprecated")
    if verbose:
        return
    # e.g. the export's "input name(s) ... with unsupported characters which will be renamed",
    # or datasets' "TensorFlow version 2.21.0 available."
    for name in ("tensorflow", "absl", "datasets"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # The "newly initialized classifier" notice is expected when fine-tuning; keep real errors.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if sys.modules.get("transformers") is not None:  # imported already: the variable is read
        sys.modules["transformers"].logging.set_verbosity_error()
