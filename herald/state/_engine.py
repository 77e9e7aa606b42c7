"""Engines for the state database: SQLite (default) or PostgreSQL, behaving alike.

SQLite needs help to behave like a server database under concurrent writers:

* WAL, so readers never block the writer and the writer never blocks readers;
* foreign keys, which SQLite leaves off unless asked on every connection;
* a busy timeout, so a second writer waits for the lock instead of failing at once;
* ``BEGIN IMMEDIATE`` for writes: the write lock is taken before the first read, so two
  stores cannot both read "no draft yet" and then both try to write. Python's sqlite3 module
  would otherwise open the transaction lazily at the first write.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url

from herald.exceptions import ConfigError, MissingDependencyError, StateError

BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for another writer's lock before giving up."""

WRITE_OPTION = "herald_write"
"""Execution option marking a connection whose transactions will write."""


def create_state_engine(url: str, *, create: bool = True) -> Engine:
    """Create an engine for a state database URL, configured for its backend.

    Args:
        url: the state database's SQLAlchemy URL.
        create: whether a missing SQLite file (and its folder) may be created.

    Raises:
        ConfigError: the URL is not a valid SQLAlchemy URL, or names an unsupported backend.
        MissingDependencyError: the backend's driver (psycopg) is not installed.
        StateError: ``create`` is false and the SQLite file does not exist.
    """
    parsed = parse_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, create=create)
    if backend == "postgresql":
        return _postgres_engine(parsed)
    msg = (
        f"state store URL {safe_url(parsed)} uses {backend!r}; Herald's state store supports "
        "sqlite:///path/to/state.db and postgresql+psycopg://user@host/db"
    )
    raise ConfigError(msg)


def safe_url(url: URL | str) -> str:
    """Render a URL for messages, with any password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparseable URL>"


def is_in_memory(url: URL) -> bool:
    """Whether a SQLite URL names no file (``sqlite://``, ``sqlite:///:memory:``)."""
    database = url.database or ""
    return url.get_backend_name() == "sqlite" and (
        database in ("", ":memory:") or "mode=memory" in database
    )


def parse_url(url: str) -> URL:
    """Parse a state database URL.

    Raises:
        ConfigError: naming what is wrong, never echoing the URL (it may hold a password).
    """
    try:
        return make_url(url)
    except (sa.exc.ArgumentError, ValueError) as err:
        # Not the URL in the message: a malformed one may still hold a password.
        reason = "a port is not a number" if isinstance(err, ValueError) else "cannot be parsed"
        msg = f"state store URL is not valid ({reason}); expected e.g. sqlite:///.herald/state.db"
        raise ConfigError(msg) from None


def _sqlite_engine(url: URL, *, create: bool) -> Engine:
    database = url.database
    if database and not is_in_memory(url) and not database.startswith("file:"):
        path = Path(database)
        if create:
            # A fresh workspace has no .herald/ folder yet; SQLite would fail to create the file.
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.is_file():
            # SQLite would silently create an empty store here: a typo would hide every
            # definition behind an empty list.
            msg = (
                f"the state database {path} does not exist: create it with `herald init`, "
                "or fix [state] url in herald.toml"
            )
            raise StateError(msg)
    engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module; _sqlite_on_begin emits BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
        cursor.execute("PRAGMA foreign_keys = ON")
        _use_wal(cursor)
        # In WAL mode NORMAL is durable across application crashes and much faster than FULL.
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def _use_wal(cursor: Any) -> None:
    """Switch the file to WAL (persistent, so usually already done).

    Switching needs an exclusive lock, and SQLite answers "database is locked" at once, without
    waiting out busy_timeout, while another process holds a lock on a brand-new file: retry.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
            return
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) and "busy" not in str(err):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_on_begin(connection: sa.Connection) -> None:
    writes = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def _postgres_engine(url: URL) -> Engine:
    if url.drivername == "postgresql":
        # Herald ships with psycopg 3; SQLAlchemy's bare "postgresql" would mean psycopg2.
        url = url.set(drivername="postgresql+psycopg")
    try:
        return sa.create_engine(url, pool_pre_ping=True)
    except ModuleNotFoundError as err:
        msg = (
            f"the state store URL {safe_url(url)} needs the PostgreSQL driver: "
            "pip install 'herald[postgres]'"
        )
        raise MissingDependencyError(msg) from err
