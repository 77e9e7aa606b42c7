"""paramiko's and the socket's exceptions translated into one-line :class:`SftpError`\\ s that
say what is wrong and what to do: the boundary where vendor errors stop (STYLE rule 9)."""

from __future__ import annotations

import errno
import socket

import paramiko

from herald.destinations.ssh.endpoint import SftpEndpoint
from herald.exceptions import FatalSftpError, RetriableSftpError, SftpError

__all__ = ["auth_error", "connect_error", "dropped", "operation_error"]


def connect_error(error: BaseException, endpoint: SftpEndpoint, *, stage: str) -> SftpError:
    """What a failure to open the connection (``stage`` ``tcp``) or to start SSH on it
    (``stage`` ``ssh``) means."""
    where = f"SFTP {endpoint.address}"
    if isinstance(error, socket.gaierror):
        text = f"{where}: cannot resolve the host name '{endpoint.host}' ({error.strerror})"
        if error.errno == socket.EAI_AGAIN:
            return RetriableSftpError(f"{text}; DNS may be down: try again later", reason="dns")
        return FatalSftpError(f"{text}: check the host setting", reason="dns")
    if isinstance(error, ConnectionRefusedError):
        text = f"{where}: connection refused: check the host and port, and that the server runs"
        return RetriableSftpError(text, reason="refused")
    if isinstance(error, TimeoutError) or _timed_out(error):
        text = (
            f"{where}: no answer within {endpoint.connect_timeout:g} s: check the host, the "
            "port and any firewall between"
            if stage == "tcp"
            else f"{where}: connected, but no SSH handshake within "
            f"{endpoint.connect_timeout:g} s: is it an SSH server, and on this port?"
        )
        return RetriableSftpError(text, reason="timeout")
    if isinstance(error, paramiko.SSHException):
        text = f"{where}: the SSH handshake failed ({error}): is it an SFTP server on this port?"
        return FatalSftpError(text, reason="protocol")
    if isinstance(error, EOFError | ConnectionResetError):
        text = f"{where}: the server closed the connection during the SSH handshake"
        return RetriableSftpError(text, reason="dropped")
    reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
    text = f"{where}: cannot connect ({reason}): check the host, the port and the network"
    return RetriableSftpError(text, reason="network")


def _timed_out(error: BaseException) -> bool:
    """paramiko reports a banner that never came as an SSHException caused by a timeout."""
    cause = error.__cause__ or error.__context__
    text = str(error).lower()
    return isinstance(cause, TimeoutError) or "timeout" in text or "banner" in text


def auth_error(
    error: paramiko.AuthenticationException, endpoint: SftpEndpoint, key: paramiko.PKey
) -> FatalSftpError:
    """The server refused the account's key."""
    allowed = getattr(error, "allowed_types", None)
    if isinstance(error, paramiko.BadAuthenticationType) and allowed:
        detail = f"it takes only {', '.join(allowed)} authentication, not a key"
    else:
        detail = f"it refused the key {key.get_name()} {key.fingerprint} for '{endpoint.username}'"
    text = (
        f"SFTP {endpoint.address}: authentication failed: {detail}; add that public key "
        "to the account on the server, and check username"
    )
    return FatalSftpError(text, reason="auth")


def dropped(endpoint: SftpEndpoint, doing: str, error: BaseException | None) -> SftpError:
    """The connection dropped (or stopped answering) while ``doing``."""
    cause = f" ({error})" if error is not None and str(error) else ""
    text = f"SFTP {endpoint.address}: the connection dropped while {doing}{cause}"
    return RetriableSftpError(text, reason="dropped")


def operation_error(
    error: OSError, endpoint: SftpEndpoint, *, doing: str, path: str, folder: str
) -> SftpError:
    """What the server's refusal of an operation on ``path`` (in ``folder``) means.

    paramiko raises the SFTP status codes as ``OSError``: "no such file" with ``ENOENT``,
    "permission denied" with ``EACCES``, the others with the server's text alone.
    """
    where = f"SFTP {endpoint.address}"
    if error.errno == errno.ENOENT:
        text = f"{where}: no such folder {folder} on the server: check the remote folder"
        return FatalSftpError(text, reason="no_folder")
    if error.errno == errno.EACCES:
        text = (
            f"{where}: permission denied {doing} {path}: the account may not write in "
            f"{folder}: check the remote folder and the account's rights"
        )
        return FatalSftpError(text, reason="permission")
    detail = error.strerror or (str(error.args[0]) if error.args else "") or "failure"
    text = f"{where}: the server failed {doing} {path}: {detail}"
    return RetriableSftpError(text, reason="failed")
