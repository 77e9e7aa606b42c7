"""Shared fixtures: a small demo database, made once per test session."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

AS_OF = dt.date(2026, 6, 30)


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3,000-customer demo database (seed 11, as of 2026-06-30), read-only for tests."""
    from herald.demo.generate import generate_demo_database

    path = tmp_path_factory.mktemp("demo") / "customers.duckdb"
    generate_demo_database(path, customers=3_000, seed=11, as_of=AS_OF)
    return path
