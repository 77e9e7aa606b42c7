"""Opening stores: URLs, SQLite settings, errors that never show a password."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

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


def test_without_create_a_missing_sqlite_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "nonexistent" / "dir" / "state.db"

    with pytest.raises(StateError, match="herald init") as raised:
        StateStore.open(f"sqlite:///{path}", create=False)

    assert str(path) in str(raised.value)
    assert not path.parent.exists()  # nothing created, not even the folder


def test_without_create_an_existing_store_opens(sqlite_url):
    StateStore.open(sqlite_url).close()
    with StateStore.open(sqlite_url, create=False) as store:
        assert store.list("segment") == []


def test_without_create_a_database_without_tables_is_an_error(url):
    # A file SQLite made elsewhere, or a PostgreSQL database whose name was mistyped into an
    # existing one: no silent migration into it.
    if url.startswith("sqlite"):
        path = make_url(url).database
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        sqlite3.connect(path).close()
    with pytest.raises(StateError, match=r"has no Herald tables.*herald init"):
        StateStore.open(url, create=False)
    engine = sa.create_engine(url)
    try:
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


@pytest.mark.parametrize("url", ["postgresql://u:s3cret@host:notaport/db", "sqlite:/x.db"])
def test_malformed_urls_are_one_line_config_errors(url):
    with pytest.raises(ConfigError, match="state store URL is not valid") as raised:
        StateStore.open(url)
    assert "s3cret" not in str(raised.value)


def test_a_workspace_store_is_made_by_init_only(url, tmp_path):
    from herald.workspace import Workspace

    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "herald.toml").write_text(f'[state]\nurl = "{url}"\n')
    with Workspace.open(tmp_path / "ws") as ws, pytest.raises(StateError, match="herald init"):
        ws.store  # noqa: B018 - opening the store is what is tested
    with Workspace.init(tmp_path / "ws") as ws:
        ws.store.save_draft("segment", "vip", {})
    with Workspace.open(tmp_path / "ws") as ws:
        assert [s.name for s in ws.store.list("segment")] == ["vip"]
