"""What the scripts print: our own lines from the first one on; TensorFlow's chatter only with -v."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import REPO

OURS = re.compile(r"^\d\d:\d\d:\d\d (INFO|WARNING|ERROR) ")
NOISE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog|[IWE]\d{4} [\d:.]+ +\d+ \S+\] "
                   r"|.*failed call to cuInit|.*Could not find cuda drivers"
                   r"|.*contains input name\(s\).*unsupported characters"
                   r"|.*TensorFlow and JAX classes are deprecated)")


def _script(name: str, *args: str, env: dict | None = None) -> list[str]:
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("TF_CPP_MIN_LOG_LEVEL", "TFBERT_VERBOSE", "TRANSFORMERS_VERBOSITY")}
    done = subprocess.run([sys.executable, str(REPO / "scripts" / name), *args], cwd=REPO,
                          env={**environment, **(env or {})}, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode in (0, 5), done.stderr[-3000:]
    return (done.stderr + done.stdout).splitlines()


def _noise(lines: list[str]) -> list[str]:
    return [line for line in lines if NOISE.match(line)]


def test_training_prints_our_lines_first_and_no_startup_noise(tiny_model_dir, toy_data_dir, tmp_path):
    lines = _script("train.py", "--model", str(tiny_model_dir), "--data", str(toy_data_dir),
                    "--max-length", "16", "--epochs", "1", "--output-dir", str(tmp_path),
                    "--run-name", "quiet")
    assert OURS.match(lines[0]), lines[:8]
    assert _noise(lines) == []
    assert any("exported" in line for line in lines)  # the export ran, without its INFO renames


@pytest.mark.parametrize("command", ["predict-export", "evaluate", "export", "demo", "beam"])
def test_every_entry_point_is_quiet(trained_run, toy_data_dir, tmp_path, command):
    run, export = str(trained_run.run_dir), str(trained_run.run_dir / "export" / "classifier" / "1")
    args = {"predict-export": ("predict.py", "--export", export, "a great film"),
            "evaluate": ("evaluate.py", "--run", run, "--data", str(toy_data_dir), "--split",
                         "validation"),
            "export": ("export.py", "--run", run, "--version", "1"),  # taken: exits 5 after loading
            "demo": ("demo.py", "--export", str(tmp_path)),  # not an export: exits 5
            "beam": ("predict_beam.py", "--export", export, "--input", str(toy_data_dir / "*.csv"),
                     "--output", str(tmp_path / "labels"), "--runner=FnApiRunner")}[command]
    lines = _script(*args)
    assert _noise(lines) == [], lines[:10]
    assert lines, "the command printed its result"


def test_verbose_shows_what_the_quiet_mode_hides(trained_run, monkeypatch):
    from tfbert.cli.console import VERBOSE_ENV, is_verbose

    export = str(trained_run.run_dir / "export" / "classifier" / "1")
    lines = _script("predict.py", "-v", "--export", export, "a great film")
    assert _noise(lines), "with -v TensorFlow's start-up lines are back"
    monkeypatch.delenv(VERBOSE_ENV, raising=False)
    assert not is_verbose(False) and is_verbose(True)
    monkeypatch.setenv(VERBOSE_ENV, "1")  # the variable does what -v does
    assert is_verbose(False)
    monkeypatch.setenv(VERBOSE_ENV, "0")
    assert not is_verbose(False)


CHILD_LINES = ("'I0000 00:00:1795785569.347959   30042 port.cc:153] oneDNN custom operations are on.\\n'"
               "'WARNING:root:Resource module is not available for current platform\\n'"
               "'E0000 00:00:1795785573.188253   30018 cuda_platform.cc:52] failed call to cuInit: 303\\n'"
               "'INFO:__main__:Logging handler created.\\n'"
               "'WARNING:apache_beam.io.filebasedsink:Deleting 2 existing files\\n'"
               "'Traceback (most recent call last): a real error\\n'")


def _parent_with_a_child(verbose: bool) -> list[str]:
    """What a parent process shows when it runs a chatty child, then writes a line of its own.

    The parent is a real process (not pytest's captured one), so its `sys.stderr` writes to file
    descriptor 2 as a script's does and its lines queue behind the child's in the same pipe.
    """
    parent = (f"import subprocess, sys\n"
              f"from tfbert.cli.beam import BEAM_WORKER_NOISE\n"
              f"from tfbert.cli.console import quiet_child_processes\n"
              f"child = 'import sys; sys.stderr.write(' + {CHILD_LINES!r} + ')'\n"
              f"with quiet_child_processes({verbose}, False, BEAM_WORKER_NOISE):\n"
              f"    subprocess.run([sys.executable, '-c', child], check=True)\n"
              f"    print('ours, from this process', file=sys.stderr)\n"
              f"print('after the block', file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", parent], cwd=REPO, capture_output=True, text=True,
                          timeout=60, check=True)
    return done.stderr.splitlines()


def test_child_processes_print_through_the_filter():
    """Beam's workers write to the inherited stderr: noise is dropped there, the rest kept in order."""
    assert _parent_with_a_child(verbose=False) == [
        "WARNING:apache_beam.io.filebasedsink:Deleting 2 existing files",
        "Traceback (most recent call last): a real error", "ours, from this process",
        "after the block"]
    shown = _parent_with_a_child(verbose=True)  # -v: nothing is filtered
    assert len(shown) == 8 and shown[0].startswith("I0000 ") and shown[-1] == "after the block"
