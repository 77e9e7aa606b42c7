"""The transactions of the state store, shared by `StateStore` and its method groups.

Every store method runs its work (a function of a connection, from the row-level modules
such as `herald.state._campaigns`) through `StoreBase._read` or `StoreBase._write`: in a
transaction of its own, or in the one `StoreBase.transaction` holds open for the thread.
Driver errors become Herald's here, at the store's boundary.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from herald.exceptions import StateError
from herald.state import _lifecycle as lc
from herald.state._engine import WRITE_OPTION

T = TypeVar("T")

_WRITE_ATTEMPTS = 3
"""A write that loses a race on a unique constraint is retried this many times in all."""


class StoreBase:
    """An engine and the transaction, if any, that this thread holds open on it."""

    def __init__(self, engine: Engine) -> None:
        """Wrap an engine whose database is already at the newest schema; use `open`."""
        self._engine = engine
        self._joined = threading.local()  # the connection of an open `transaction()`, if any

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run every call on this store inside the block (in this thread) as one transaction.

        Everything the block writes is committed together when it ends, or nothing is when it
        raises; calls inside see the block's own changes. A nested block joins the outer one.

        Raises:
            StateError: another writer changed the same name meanwhile; run it again.
        """
        if getattr(self._joined, "conn", None) is not None:
            yield
            return
        try:
            with database_errors(), self._engine.connect() as conn:
                conn.execution_options(**{WRITE_OPTION: True})
                with conn.begin():
                    self._joined.conn = conn
                    try:
                        yield
                    finally:
                        self._joined.conn = None
        except lc.LostRace as lost:
            msg = f"the state store was changed concurrently and nothing was written: {lost}"
            raise StateError(msg) from lost.__cause__

    def _read(self, work: Callable[[sa.Connection], T]) -> T:
        joined = getattr(self._joined, "conn", None)
        if joined is not None:
            with database_errors():
                return work(joined)
        # One transaction even for reads, so a method sees one consistent snapshot.
        with database_errors(), self._engine.connect() as conn, conn.begin():
            return work(conn)

    def _write(self, work: Callable[[sa.Connection], T]) -> T:
        joined = getattr(self._joined, "conn", None)
        if joined is not None:  # inside transaction(): a lost race fails the whole block
            with database_errors():
                return work(joined)
        for attempt in range(1, _WRITE_ATTEMPTS + 1):
            try:
                with database_errors(), self._engine.connect() as conn:
                    conn.execution_options(**{WRITE_OPTION: True})
                    with conn.begin():
                        return work(conn)
            except lc.LostRace as lost:
                # Another writer created the same name or version first (PostgreSQL only:
                # SQLite writers are serialised). Re-reading now sees its work.
                if attempt == _WRITE_ATTEMPTS:
                    msg = f"the state store was changed concurrently and the write failed: {lost}"
                    raise StateError(msg) from lost.__cause__
        msg = "unreachable: the last attempt either returns or raises"
        raise AssertionError(msg)


@contextmanager
def database_errors() -> Iterator[None]:
    """Translate driver errors into Herald's, at the store's boundary."""
    try:
        yield
    except sa.exc.IntegrityError as err:
        if is_unique_violation(err):
            raise lc.LostRace(str(err.orig)) from err
        msg = f"the state database refused the change: {err.orig}"
        raise StateError(msg) from err
    except sa.exc.DBAPIError as err:
        msg = f"state database error: {err.orig}"
        raise StateError(msg) from err


def is_unique_violation(err: sa.exc.IntegrityError) -> bool:
    # PostgreSQL reports SQLSTATE 23505; Python's sqlite3 (3.11+) names the extended code.
    code = getattr(err.orig, "sqlstate", None) or getattr(err.orig, "sqlite_errorname", None)
    return code in {"23505", "SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}
