"""Fixtures for the destination tests: a real OpenSSH server for the SFTP transport and the
SFTP destination types (see ``tests/sftp_server.py``)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sftp_server import KeyRing, OpenSshServer, unavailable


def _require_sshd() -> None:
    """Skip without an OpenSSH server to start, except in CI (``CI=true``): a failure there."""
    reason = unavailable()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI needs the OpenSSH server tests: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def ssh_keys(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    """Client and host key pairs, made once per session."""
    _require_sshd()
    return KeyRing.make(tmp_path_factory.mktemp("ssh-keys"))


@pytest.fixture(scope="module")
def openssh_server(ssh_keys: KeyRing) -> Iterator[OpenSshServer]:
    """An sshd on a loopback port, one per test module, with a chrooted SFTP-only account
    (``profiles/`` and ``events/`` writable, ``/`` not) and an ed25519 host key."""
    with OpenSshServer(ssh_keys) as server:
        yield server


@pytest.fixture
def sftp_server(openssh_server: OpenSshServer) -> OpenSshServer:
    """The module's sshd with its account's folders emptied for this test."""
    openssh_server.clear()
    return openssh_server
