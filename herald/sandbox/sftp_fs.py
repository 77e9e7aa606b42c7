"""The SFTP sandbox's file system: one folder served as the SFTP root, laid out as Klaviyo's
SFTP import server is (``profiles/`` and ``events/``).

Every path a client sends is read from the root: ``..`` stops at the root, as in a chroot, and
a path whose real location (symbolic links resolved) is outside the root is refused. Clients
may create, write, read, rename and remove files inside ``profiles/`` and ``events/``; the root
itself is read-only, and folders and symbolic links cannot be created.

``rename`` keeps SFTP version 3's rule (it fails when the new name exists); ``posix_rename``
(OpenSSH's ``posix-rename@openssh.com``) replaces it. A file in ``profiles/`` is handed to
``on_finished`` when its writer closes it under a name to import, or when it is renamed to one
(see ``sftp_csv.is_import_name``).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import Any

from paramiko import SFTPAttributes, SFTPHandle, SFTPServer, SFTPServerInterface
from paramiko.sftp import (
    SFTP_FAILURE,
    SFTP_NO_SUCH_FILE,
    SFTP_OK,
    SFTP_OP_UNSUPPORTED,
    SFTP_PERMISSION_DENIED,
)

from herald.sandbox.sftp_csv import is_import_name

#: The folders clients may write in (Klaviyo's layout).
FOLDERS = ("profiles", "events")
#: The folder whose finished CSVs are imported.
IMPORTED_FOLDER = "profiles"
_WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

#: Called with (file on disk, its path on the server without the leading ``/``).
OnFinished = Callable[[Path, str], None]


def virtual(path: str) -> str:
    """A client's path as an absolute server path, with ``.`` and ``..`` resolved as a chroot
    resolves them (nothing goes above ``/``).

    >>> virtual("profiles/../../../etc/passwd"), virtual("."), virtual("/profiles/a.csv")
    ('/etc/passwd', '/', '/profiles/a.csv')
    """
    normal = posixpath.normpath(posixpath.join("/", path))
    return "/" + normal.lstrip("/")  # normpath keeps a leading "//"


def _status(exc: OSError) -> int:
    """The SFTP status code for an OS error."""
    return int(SFTPServer.convert_errno(exc.errno or 0))


def _attributes(stat: Callable[[], os.stat_result]) -> SFTPAttributes | int:
    try:
        return SFTPAttributes.from_stat(stat())
    except OSError as exc:
        return _status(exc)


class _Handle(SFTPHandle):
    """An open file; when a file written in ``profiles/`` is closed, it may be imported."""

    def __init__(self, flags: int, file: Any, finished: Callable[[], None] | None) -> None:
        super().__init__(flags)
        self.readfile = self.writefile = file
        self._finished = finished

    def stat(self) -> SFTPAttributes | int:
        return _attributes(lambda: os.fstat(self.readfile.fileno()))

    def chattr(self, attr: SFTPAttributes) -> int:
        return SFTP_OK  # times and modes of uploads are not kept; clients that set them go on

    def close(self) -> None:
        super().close()
        if self._finished is not None:
            finished, self._finished = self._finished, None
            finished()

    def abandon(self) -> None:
        """Close without importing: the client never closed the file (its session ended)."""
        self._finished = None
        self.close()


class SessionServer(SFTPServer):
    """paramiko's SFTP subsystem, except that a file left open when the session ends (a
    dropped connection) is closed without being imported: it may be incomplete."""

    def finish_subsystem(self) -> None:
        for handle in list(self.file_table.values()):
            if isinstance(handle, _Handle):
                handle.abandon()
        self.file_table = {}
        super().finish_subsystem()


class SandboxFolder(SFTPServerInterface):
    """The ``SFTPServerInterface`` of one session, over ``root``.

    Args:
        server: the session's ``paramiko.ServerInterface``.
        root: the folder served as ``/``.
        on_finished: called for every finished file in ``profiles/`` to import.
    """

    def __init__(self, server: Any, *, root: Path, on_finished: OnFinished) -> None:
        super().__init__(server)
        self.root = root.resolve()
        self.on_finished = on_finished

    # --- paths --------------------------------------------------------------------------

    def _local(self, path: str) -> Path | None:
        """Where a server path is on disk, or None when it would leave the root."""
        parts = virtual(path).strip("/").split("/")
        local = self.root.joinpath(*[p for p in parts if p])
        real = Path(os.path.realpath(local))
        return local if real == self.root or real.is_relative_to(self.root) else None

    @staticmethod
    def _writable(path: str) -> bool:
        parts = virtual(path).strip("/").split("/")
        return len(parts) >= 2 and parts[0] in FOLDERS

    def _import_name(self, path: str) -> str | None:
        parts = virtual(path).strip("/").split("/")
        if len(parts) == 2 and parts[0] == IMPORTED_FOLDER and is_import_name(parts[1]):
            return "/".join(parts)
        return None

    def _finished(self, path: str) -> Callable[[], None] | None:
        name, local = self._import_name(path), self._local(path)
        if name is None or local is None:
            return None
        return lambda: self.on_finished(local, name)

    # --- the interface ------------------------------------------------------------------

    def canonicalize(self, path: str) -> str:
        return virtual(path)

    def list_folder(self, path: str) -> list[SFTPAttributes] | int:
        local = self._local(path)
        if local is None:
            return SFTP_PERMISSION_DENIED

        try:
            names = sorted(os.listdir(local))
            return [SFTPAttributes.from_stat(os.lstat(local / n), n) for n in names]
        except OSError as exc:
            return _status(exc)

    def stat(self, path: str) -> SFTPAttributes | int:
        local = self._local(path)
        if local is None:
            return SFTP_PERMISSION_DENIED
        return _attributes(lambda: os.stat(local))

    def lstat(self, path: str) -> SFTPAttributes | int:
        local = self._local(path)
        if local is None:
            return SFTP_PERMISSION_DENIED
        return _attributes(lambda: os.lstat(local))

    def open(self, path: str, flags: int, attr: SFTPAttributes) -> SFTPHandle | int:
        local = self._local(path)
        writing = bool(flags & _WRITING)
        if local is None or (writing and not self._writable(path)):
            return SFTP_PERMISSION_DENIED
        try:
            fd = os.open(local, flags | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            return _status(exc)
        file = os.fdopen(fd, _mode(flags))
        return _Handle(flags, file, self._finished(path) if writing else None)

    def remove(self, path: str) -> int:
        local = self._local(path)
        if local is None or not self._writable(path):
            return SFTP_PERMISSION_DENIED
        try:
            os.remove(local)
        except OSError as exc:
            return _status(exc)
        return SFTP_OK

    def rename(self, oldpath: str, newpath: str) -> int:
        return self._rename(oldpath, newpath, replace=False)

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        return self._rename(oldpath, newpath, replace=True)

    def _rename(self, oldpath: str, newpath: str, *, replace: bool) -> int:
        old, new = self._local(oldpath), self._local(newpath)
        if old is None or new is None or not (self._writable(oldpath) and self._writable(newpath)):
            return SFTP_PERMISSION_DENIED
        if old.is_symlink():
            return SFTP_PERMISSION_DENIED
        if not replace and os.path.lexists(new):
            return SFTP_FAILURE  # SFTP v3: the new name must not exist
        try:
            os.replace(old, new)
        except OSError as exc:
            return _status(exc)
        finished = self._finished(newpath)
        if finished is not None and new.is_file():
            finished()
        return SFTP_OK

    def mkdir(self, path: str, attr: SFTPAttributes) -> int:
        return SFTP_PERMISSION_DENIED  # Klaviyo's layout is fixed: profiles/ and events/

    def rmdir(self, path: str) -> int:
        return SFTP_PERMISSION_DENIED

    def chattr(self, path: str, attr: SFTPAttributes) -> int:
        local = self._local(path)
        if local is None or not self._writable(path):
            return SFTP_PERMISSION_DENIED
        return SFTP_OK if local.exists() else SFTP_NO_SUCH_FILE

    def symlink(self, target_path: str, path: str) -> int:
        return SFTP_PERMISSION_DENIED

    def readlink(self, path: str) -> str | int:
        return SFTP_OP_UNSUPPORTED


def _mode(flags: int) -> str:
    if flags & os.O_RDWR:
        return "a+b" if flags & os.O_APPEND else "r+b"
    if flags & os.O_WRONLY:
        return "ab" if flags & os.O_APPEND else "wb"
    return "rb"
