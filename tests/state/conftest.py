"""Fixtures for the state store tests: a store on SQLite and on a real PostgreSQL server
(the server's fixtures are in tests/postgres_server.py, shared through tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from herald.state import StateStore

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


# --- the store on each backend ------------------------------------------------------------------


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / '.herald' / 'state.db'}"


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest) -> str:
    """A URL for a fresh state database, on each backend in turn."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def store(url: str) -> Iterator[StateStore]:
    """An open store on a fresh database, on each backend in turn."""
    with StateStore.open(url) as opened:
        yield opened


@pytest.fixture
def open_store(url: str) -> Iterator[Callable[[], StateStore]]:
    """Open more stores on the same database as `store`; they are closed at the end."""
    opened: list[StateStore] = []

    def factory() -> StateStore:
        opened.append(StateStore.open(url))
        return opened[-1]

    yield factory
    for each in opened:
        each.close()
