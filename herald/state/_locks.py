"""Named locks that hold across processes and, on PostgreSQL, across machines.

A run's process holds its run's lock for as long as it works on it, so a run that is
``running`` while nobody holds its lock was interrupted; the scheduler relies on the same
locks to never work on one run twice.

* SQLite (one machine): ``flock`` on a file per name in a ``locks`` folder beside the database.
  The operating system releases it when the process dies, however it dies.
* PostgreSQL (several machines sharing the store): a session-level advisory lock, held on a
  connection kept open for the lock's life. The server releases it when the connection drops,
  so a killed process, or a lost machine, frees its locks too.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from herald.state._engine import is_in_memory


class NamedLock:
    """A lock taken with `try_acquire`; `release` (or the ``with`` block) gives it back."""

    def __init__(self, release: Callable[[], None]) -> None:
        self._release: Callable[[], None] | None = release

    def release(self) -> None:
        """Give the lock back; releasing twice does nothing."""
        release, self._release = self._release, None
        if release is not None:
            release()

    def __enter__(self) -> NamedLock:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def try_acquire(engine: Engine, name: str, *, shared: bool = False) -> NamedLock | None:
    """Take the lock ``name`` without waiting; None when another process (or connection)
    holds it. Any number of holders may share a ``shared`` lock; an exclusive one excludes
    every other holder."""
    if engine.dialect.name == "postgresql":
        return _try_advisory(engine, name, shared=shared)
    if is_in_memory(engine.url):
        return _try_in_process(name, shared=shared)
    return _try_flock(_lock_file(engine, name), shared=shared)


def is_held(engine: Engine, name: str) -> bool:
    """Whether someone holds the lock ``name`` now, shared or not (taking it for a moment to
    find out)."""
    lock = try_acquire(engine, name)
    if lock is None:
        return True
    lock.release()
    return False


def _key(engine: Engine, name: str) -> int:
    """A signed 64-bit key for an advisory lock, the same in every process and machine.

    Advisory locks are the server's, not the database's: the database name and the URL's
    options (a schema on the search path) keep two stores on one server apart.
    """
    scope = f"{engine.url.database}|{engine.url.query.get('options', '')}|{name}"
    return int.from_bytes(hashlib.sha256(scope.encode()).digest()[:8], "big", signed=True)


def _try_advisory(engine: Engine, name: str, *, shared: bool) -> NamedLock | None:
    take, give = (
        (sa.func.pg_try_advisory_lock_shared, sa.func.pg_advisory_unlock_shared)
        if shared
        else (sa.func.pg_try_advisory_lock, sa.func.pg_advisory_unlock)
    )
    conn = engine.connect()
    try:
        key = _key(engine, name)
        got = conn.execute(sa.select(take(key))).scalar_one()
        conn.commit()  # the lock is the session's, not the transaction's
    except BaseException:
        conn.close()
        raise
    if not got:
        conn.close()
        return None

    def release() -> None:
        try:
            conn.execute(sa.select(give(key)))
            conn.commit()
        finally:
            conn.close()

    return NamedLock(release)


def _lock_file(engine: Engine, name: str) -> Path:
    database = Path(engine.url.database or "")
    digest = hashlib.sha256(name.encode()).hexdigest()[:32]
    return database.parent / f"{database.name}.locks" / f"{digest}.lock"


def _try_flock(path: Path, *, shared: bool) -> NamedLock | None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    if not shared:  # (several holders would overwrite each other's)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # for people looking at the folder
    return NamedLock(lambda: os.close(fd))  # closing releases the lock


_EXCLUSIVE = -1
_IN_PROCESS: dict[str, int] = {}
"""Holders per name held, or _EXCLUSIVE."""
_IN_PROCESS_GUARD = threading.Lock()


def _try_in_process(name: str, *, shared: bool) -> NamedLock | None:
    # An in-memory database lives in one process: a count of holders per name is enough.
    with _IN_PROCESS_GUARD:
        holders = _IN_PROCESS.get(name, 0)
        if holders == _EXCLUSIVE or (holders and not shared):
            return None
        _IN_PROCESS[name] = holders + 1 if shared else _EXCLUSIVE

    def release() -> None:
        with _IN_PROCESS_GUARD:
            left = _IN_PROCESS.pop(name, 0) - 1
            if left > 0:
                _IN_PROCESS[name] = left

    return NamedLock(release)
