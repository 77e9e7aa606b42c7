"""Fixtures for the destination tests: a real OpenSSH server for the SFTP transport and the
SFTP destination types (see ``tests/sftp_server.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sftp_server import KeyRing, OpenSshServer, require_sshd


@pytest.fixture(scope="session")
def ssh_keys(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    """Client and host key pairs, made once per session."""
    require_sshd()
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
