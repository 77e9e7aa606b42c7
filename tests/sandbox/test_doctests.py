"""The ``>>>`` examples in the sandbox's docstrings run and pass."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "batch",
    "config",
    "decode",
    "faults",
    "filters",
    "ratelimit",
    "sftp_csv",
    "sftp_fs",
    "sftp_import",
    "validation",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"herald.sandbox.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
