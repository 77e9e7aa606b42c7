"""Opening stores: URLs, SQLite settings, errors that never show a password."""

from __future__ import annotations

import socket

import pytest
import sqlalchemy as sa

from herald.exceptions import ConfigError, StateError
from herald.state import StateStore
from herald.state._engine import create_state_engine


def test_sqlite_creates_the_workspace_folder(tmp_path):
    path = tmp_path / "ws" / ".herald" / "state.db"

    with StateStore.open(f"sqlite:///{path}") as store:
        store.save_draft("segment", "vip", {})

    assert path.is_file()


def test_sqlite_connections_use_wal_and_foreign_keys(tmp_path):
    engine = create_state_engine(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    finally:
        engine.dispose()


def test_context_manager_closes(sqlite_url):
    with StateStore.open(sqlite_url) as store:
        store.save_draft("segment", "vip", {})
    with StateStore.open(sqlite_url) as store:
        assert [s.name for s in store.list("segment")] == ["vip"]


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("not a url", "state store URL is not valid"),
        ("mysql://u:s3cret@localhost/db", "uses 'mysql'; Herald's state store supports"),
    ],
)
def test_bad_urls_are_config_errors(url, match):
    with pytest.raises(ConfigError, match=match) as raised:
        StateStore.open(url)
    assert "s3cret" not in str(raised.value)


def test_unreachable_postgres_is_a_state_error_without_the_password():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    with pytest.raises(StateError, match="state database error") as raised:
        StateStore.open(f"postgresql://herald:s3cret@127.0.0.1:{port}/herald?connect_timeout=5")

    assert "s3cret" not in str(raised.value)


def test_repr_hides_the_password():
    engine = create_state_engine("postgresql://herald:s3cret@127.0.0.1/herald")
    try:
        assert engine.dialect.driver == "psycopg"  # bare postgresql:// means psycopg 3 here
        assert "s3cret" not in repr(StateStore(engine))
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_store_is_really_postgres(postgres_url):
    with StateStore.open(postgres_url) as store:
        store.save_draft("segment", "vip", {})
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            assert conn.dialect.name == "postgresql"
            assert conn.execute(sa.text("SELECT count(*) FROM definitions")).scalar() == 1
    finally:
        engine.dispose()
