"""Fixtures of the benchmark tests: tfbert's own (tests/conftest.py), imported as they are."""

from tests.conftest import tiny_model_dir, toy_data_dir, trained_run  # noqa: F401  (fixtures)
