"""What a command shows on the terminal: our log lines, and TensorFlow's start-up chatter only on request.

TensorFlow prints its start-up lines from C++ before its logging is configured, so no log-level
variable hides them: the import runs with file descriptor 2 pointed at a temporary file, and
what it caught is replayed without the known noise. `-v` or `TFBERT_VERBOSE=1` shows it all.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import warnings

import tfbert

VERBOSE_ENV = "TFBERT_VERBOSE"
# C++ INFO/WARNING lines (glog format) and absl's notice that it is not initialised yet.
_STARTUP_NOISE = re.compile(rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
                            rb"|[IW]\d{4} [\d:.]+ +\d+ \S+:\d+\] )")
# An "error" on every machine without a GPU: CUDA's driver probe failing is the expected answer.
_NO_GPU_PROBE = re.compile(rb"^E\d{4} .*failed call to cuInit")


def is_verbose(flag: bool = False) -> bool:
    return flag or os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def start_tensorflow(verbose: bool = False) -> None:
    """Imports TensorFlow (and probes for GPUs) with the start-up noise filtered out.

    Call it before anything imports TensorFlow; once TensorFlow is loaded it does nothing.
    """
    if "tensorflow" in sys.modules:
        return
    if verbose:
        if not tfbert.USER_SET_TF_LOG_LEVEL:
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        import tensorflow  # noqa: F401
        return
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
                if not (_STARTUP_NOISE.match(line) or (not gpus and _NO_GPU_PROBE.match(line))):
                    sys.stderr.buffer.write(line)
            sys.stderr.flush()


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
