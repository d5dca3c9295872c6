"""Fixtures the CLI tests share with the model tests."""

from tests.training.conftest import small_config, transactions_file  # noqa: F401
