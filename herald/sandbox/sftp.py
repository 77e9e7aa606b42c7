"""A local stand-in for Klaviyo's SFTP import server, for rehearsals, tests and the demo.

``SftpSandbox`` serves a folder over SFTP (paramiko's server API: one ``Transport`` per
connection, each in its own threads) on 127.0.0.1, with Klaviyo's layout (``profiles/``,
``events/``, see ``sftp_fs``), public-key authentication only, and a host key of its own,
generated once and kept in a state folder so that its fingerprint stays the same from one start
to the next. Each CSV finished in ``profiles/`` is checked as Klaviyo describes and its rows are
imported into a running Klaviyo sandbox through Klaviyo's API (``sftp_import``); the outcome is
written beside it as ``NAME.result.json``. Files in ``events/`` are kept, not imported.

Example::

    from herald.sandbox import SandboxServer
    from herald.sandbox.sftp import KlaviyoTarget, SftpSandbox

    with SandboxServer() as klaviyo, SftpSandbox(
        tmp / "sftp", authorized_keys=[client_key], klaviyo=KlaviyoTarget(klaviyo.url)
    ) as sftp:
        ...  # upload to sftp.port as "herald", checking sftp.fingerprint
        sftp.wait()  # every finished upload imported: [ImportResult, …]
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import os
import socket
import threading
from collections.abc import Iterable
from itertools import pairwise
from pathlib import Path
from types import TracebackType

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paramiko.common import (
    AUTH_FAILED,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_SUCCEEDED,
)

from herald.exceptions import ConfigError
from herald.sandbox.sftp_fs import FOLDERS, SandboxFolder, SessionServer
from herald.sandbox.sftp_import import Importer, ImportResult, KlaviyoTarget

__all__ = [
    "DEFAULT_USERNAME",
    "ImportResult",
    "KlaviyoTarget",
    "SftpSandbox",
    "authorized_blobs",
    "ensure_key",
    "fingerprint",
]

logger = logging.getLogger("herald.sandbox.sftp")
# paramiko logs every client that closes its connection abruptly as an ERROR ("Socket
# exception: Connection reset by peer"): routine for a server, noise on the demo's terminal.
# The sessions' SSH log goes here instead, shown only when asked for (its level lowered).
ssh_logger = logging.getLogger("herald.sandbox.sftp.ssh")
ssh_logger.setLevel(logging.CRITICAL)

#: The user name the sandbox accepts unless told otherwise.
DEFAULT_USERNAME = "herald"
HOST_KEY = "host_key"
"""The host key's file in the state folder (Ed25519, OpenSSH format)."""


def ensure_key(path: Path) -> paramiko.PKey:
    """The Ed25519 private key in ``path`` (OpenSSH format), generated on first use, with its
    public key beside it in ``PATH.pub``.

    Raises:
        ConfigError: the file exists but is not a private key paramiko can read.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
    try:
        loaded = paramiko.PKey.from_path(path)
    except (paramiko.SSHException, ValueError) as exc:
        msg = f"{path} is not a private key ({exc}): delete it and a new one is generated"
        raise ConfigError(msg) from None
    public = path.with_name(f"{path.name}.pub")
    if not public.exists():
        public.write_text(f"{loaded.get_name()} {loaded.get_base64()} herald-sandbox\n")
    return loaded


def fingerprint(key: paramiko.PKey) -> str:
    """The key's SHA256 fingerprint as OpenSSH prints it (``SHA256:`` and unpadded base64)."""
    return str(key.fingerprint)


def authorized_blobs(keys: Path | str | Iterable[paramiko.PKey | str]) -> set[bytes]:
    """The public keys in an ``authorized_keys`` file (a path), its text, or a list of keys
    (``PKey`` objects or ``authorized_keys`` lines), as SSH wire blobs.

    Raises:
        ConfigError: the file cannot be read, a line holds no key, or there is no key at all.
    """
    if isinstance(keys, Path):
        try:
            keys = keys.read_text()
        except OSError as exc:
            msg = f"cannot read the authorized keys file {keys}: {exc.strerror}"
            raise ConfigError(msg) from None
    items: Iterable[paramiko.PKey | str] = keys.splitlines() if isinstance(keys, str) else keys
    blobs = set()
    for number, item in enumerate(items, start=1):
        if isinstance(item, paramiko.PKey):
            blobs.add(item.asbytes())
        elif item.strip() and not item.lstrip().startswith("#"):
            blobs.add(_blob(item, number))
    if not blobs:
        msg = "no authorized public key: give at least one (an OpenSSH .pub line)"
        raise ConfigError(msg)
    return blobs


def _blob(line: str, number: int) -> bytes:
    """The key of one ``authorized_keys`` line: the token after its key type (options such
    as ``from="…"`` may come first)."""
    tokens = line.split()
    for kind, data in pairwise(tokens):
        if kind.startswith(("ssh-", "ecdsa-sha2-", "sk-")):
            try:
                return base64.b64decode(data, validate=True)
            except binascii.Error:
                break
    msg = f"line {number} of the authorized keys is not a public key: use an OpenSSH .pub line"
    raise ConfigError(msg)


class _Auth(paramiko.ServerInterface):
    """Public keys only, for one user name; the ``sftp`` subsystem only (no shell, no exec)."""

    def __init__(self, username: str, blobs: set[bytes]) -> None:
        self.username = username
        self.blobs = blobs

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if username == self.username and key.asbytes() in self.blobs:
            return AUTH_SUCCESSFUL
        return AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return OPEN_SUCCEEDED
        return OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


class SftpSandbox:
    """Klaviyo's SFTP import server, locally, in background threads.

    Args:
        folder: the sandbox's folder: ``root/`` is served (``profiles/`` and ``events/`` are
            created in it), and the host key is kept beside it in ``host_key``.
        authorized_keys: the public keys that may log in: an ``authorized_keys`` file, its
            text, or a list of ``PKey`` objects or ``.pub`` lines.
        klaviyo: the Klaviyo sandbox to import profiles into; None only checks the files.
        username: the user name to accept.
        host: the interface to listen on.
        port: the port; 0 picks a free one.
        root: the folder to serve instead of ``folder/root``.
    """

    def __init__(
        self,
        folder: Path,
        *,
        authorized_keys: Path | str | Iterable[paramiko.PKey | str],
        klaviyo: KlaviyoTarget | None = None,
        username: str = DEFAULT_USERNAME,
        host: str = "127.0.0.1",
        port: int = 0,
        root: Path | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.root = Path(root) if root is not None else self.folder / "root"
        self.username = username
        self.host = host
        self.port = port
        self._blobs = authorized_blobs(authorized_keys)
        self.host_key = ensure_key(self.folder / HOST_KEY)
        self.importer = Importer(klaviyo)
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._transports: list[paramiko.Transport] = []
        self._lock = threading.Lock()

    @property
    def fingerprint(self) -> str:
        """The host key's SHA256 fingerprint, as OpenSSH prints it."""
        return fingerprint(self.host_key)

    @property
    def running(self) -> bool:
        """Whether the server accepts connections (between ``start()`` and ``stop()``)."""
        return self._listener is not None

    @property
    def results(self) -> list[ImportResult]:
        """The result of every file imported so far, in order."""
        return list(self.importer.results)

    def known_hosts_line(self) -> str:
        """The host key as a ``known_hosts`` line for this host and port."""
        name = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        return f"{name} {self.host_key.get_name()} {self.host_key.get_base64()}"

    def wait(self, timeout: float = 60.0) -> list[ImportResult]:
        """Wait until every upload finished so far is imported; every result so far.

        Raises:
            TimeoutError: imports are still running after ``timeout`` seconds.
        """
        return self.importer.wait(timeout)

    def start(self) -> SftpSandbox:
        """Create the layout, bind the port and start accepting connections.

        Raises:
            OSError: the port cannot be bound.
        """
        for name in FOLDERS:
            (self.root / name).mkdir(parents=True, exist_ok=True)
        listener = socket.create_server((self.host, self.port), reuse_port=False)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self.importer.start()
        self._thread = threading.Thread(target=self._accept, name="herald-sftp", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, close every session, and let the import in progress finish."""
        listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown wakes the accept() of the serving thread; close alone may not.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        with self._lock:
            transports, self._transports = self._transports, []
        for transport in transports:
            transport.close()
        self.importer.stop()

    def __enter__(self) -> SftpSandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _accept(self) -> None:
        while (listener := self._listener) is not None:
            try:
                connection, _ = listener.accept()
            except OSError:
                return  # the listener was closed: stop() is under way
            try:
                self._serve(connection)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                logger.info("an SFTP connection failed before its session began: %s", exc)
                connection.close()

    def _serve(self, connection: socket.socket) -> None:
        """Start a paramiko ``Transport`` (its own thread) for one connection."""
        transport = paramiko.Transport(connection)
        transport.set_log_channel(ssh_logger.name)
        transport.add_server_key(self.host_key)
        transport.set_subsystem_handler(
            "sftp", SessionServer, SandboxFolder, root=self.root, on_finished=self._finished
        )
        with self._lock:
            self._transports = [t for t in self._transports if t.is_active()]
            self._transports.append(transport)
        # With an event, start_server returns at once: the handshake runs in the transport's
        # thread, so a slow or silent client never holds up the next connection.
        transport.start_server(event=threading.Event(), server=_Auth(self.username, self._blobs))

    def _finished(self, path: Path, name: str) -> None:
        try:
            size = path.stat().st_size
        except OSError:
            return  # removed or replaced already: its successor is reported on its own
        logger.info("%s: uploaded, %s bytes", name, f"{size:,}")
        self.importer.submit(path, name)
