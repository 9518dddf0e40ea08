"""The command lines of `scripts/*.py`: one module per command, each `build_parser()` and `main()`.

One vocabulary across the commands: `--model` is a checkpoint to fine-tune, `--run` a run folder
written by train.py, `--export` an export version folder. Exit codes: `tfbert.base.errors.ExitCode`.
"""
