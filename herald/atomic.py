"""Atomic writes: a file Herald later trusts is there whole under its name, or not at all.

Every such file (snapshots, recipients logs, delivery inputs and ledgers, exported CSVs,
``herald.toml``) is written under a temporary name in its own folder, flushed to disk, and
renamed over its final name, which the operating system does in one step. A failure (a
full disk, a read-only folder, an error of the writer) removes the temporary file, and the
final name keeps what it held before. A crash can leave a ``.NAME.partial`` file behind; the
next write of the same file replaces it.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_file(folder / "hello.txt") as out:
    ...     _ = out.write("hello")
    >>> (folder / "hello.txt").read_text(), sorted(p.name for p in folder.iterdir())
    ('hello', ['hello.txt'])
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from herald.exceptions import WriteError

__all__ = ["atomic_file", "atomic_path", "partial_path", "write_errors"]

_FULL = "free space on that disk (or write elsewhere), then try again"
_LOCKED = "make {folder} writable for this user, then try again"
_CONDITIONS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("the disk is full", _FULL),
    errno.EDQUOT: ("the disk quota is exceeded", _FULL),
    errno.EROFS: ("the file system is read-only", _LOCKED),
    errno.EACCES: ("permission denied", _LOCKED),
    errno.EPERM: ("permission denied", _LOCKED),
}
"""errno → what happened and what to do, for the conditions a user can fix."""


def partial_path(target: Path) -> Path:
    """The temporary name ``target`` is written under: hidden, in the same folder (so the
    rename stays on one file system)."""
    return target.with_name(f".{target.name}.partial")


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path for the caller to write ``target`` to, then publish it.

    When the block ends normally, the file at the temporary path is flushed to disk and
    renamed to ``target`` (its folder is created first). When the block raises, the
    temporary file is deleted and ``target`` is left as it was.

    Raises:
        WriteError: the folder or file cannot be written (a full disk, no permission, a
            read-only file system), also when the writer inside the block says so.
    """
    final = Path(target)
    temporary = partial_path(final)
    try:
        with write_errors(final):
            final.parent.mkdir(parents=True, exist_ok=True)
            yield temporary
            _sync(temporary)
            os.replace(temporary, final)
            _sync_folder(final.parent)
    except BaseException:
        with suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_file(
    target: str | os.PathLike[str],
    mode: str = "w",
    *,
    encoding: str | None = "utf-8",
    newline: str | None = None,
) -> Iterator[IO[Any]]:
    """Open a temporary file for writing ``target`` (``mode`` ``"w"`` or ``"wb"``); it
    replaces ``target`` when the block ends normally (see `atomic_path`).

    Raises:
        WriteError: as `atomic_path`.
    """
    text = "b" not in mode
    with (
        atomic_path(target) as temporary,
        temporary.open(mode, encoding=encoding if text else None, newline=newline) as handle,
    ):
        yield handle
        handle.flush()


@contextmanager
def write_errors(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn a failure to write ``path`` that the user can fix (full disk, no permission,
    read-only file system) into a one-line `WriteError` naming the path and what to do.

    Other errors pass through unchanged. A writer that reports such a condition in its own
    words (DuckDB, Arrow) is recognised by the operating system's description of it.
    """
    try:
        yield
    except WriteError:
        raise
    except Exception as error:
        condition = _condition(error)
        if condition is None:
            raise
        what, todo = condition
        place = Path(path)
        folder = _existing_folder(place)
        msg = f"cannot write '{place}': {what}; {todo.format(folder=repr(str(folder)))}"
        raise WriteError(msg, path=str(place)) from error


def _condition(error: BaseException) -> tuple[str, str] | None:
    code = getattr(error, "errno", None)
    if isinstance(error, OSError) and code in _CONDITIONS:
        return _CONDITIONS[code]
    text = str(error)
    for number, condition in _CONDITIONS.items():
        if os.strerror(number) in text:
            return condition
    return None


def _existing_folder(path: Path) -> Path:
    """The nearest folder above ``path`` that exists: the one that refused the write."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _sync(path: Path) -> None:
    # Before the rename: after a power cut the new name must not point at a hole.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_folder(folder: Path) -> None:
    # The rename itself is durable once the folder's entry is on disk.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a folder; the rename still happened
    finally:
        os.close(fd)
