"""The SFTP transport against a real OpenSSH server (``tests/sftp_server.py``): uploads checked
byte for byte, host keys, client keys, dropped connections, and each diagnostic."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ports import free_port
from sftp_server import PASSPHRASE, KeyRing, KillAfter, OpenSshServer, fingerprint

from herald.destinations.ssh.endpoint import SftpEndpoint
from herald.destinations.ssh.transport import (
    SftpConnection,
    Uploaded,
    connect,
    partial_name,
    probe,
    upload,
)
from herald.exceptions import ConfigError, FatalSftpError, RetriableSftpError, SftpError
from herald.redact import redact

MIB = 1024 * 1024


def endpoint(server: OpenSshServer, **changes: Any) -> SftpEndpoint:
    values = server.settings(**{"retry_wait": 0.01, "connect_timeout": 5, "timeout": 10, **changes})
    return SftpEndpoint.model_validate({k: v for k, v in values.items() if v is not None})


@pytest.fixture
def conn(sftp_server: OpenSshServer) -> Iterator[SftpConnection]:
    with connect(endpoint(sftp_server)) as opened:
        yield opened


@pytest.fixture(scope="module")
def payload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 MiB of random bytes, with a multi-byte and a CR/LF pattern in the middle."""
    path = tmp_path_factory.mktemp("payload") / "audience.csv"
    data = bytearray(os.urandom(6 * MIB))
    data[3 * MIB : 3 * MIB + 12] = 'Émile\r\n,"x"'.encode()[:12]
    path.write_bytes(bytes(data))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def failure(call: Any, *args: Any, **kwargs: Any) -> SftpError:
    """The SftpError ``call`` raises, checked to be one line that names no secret."""
    with pytest.raises(SftpError) as caught:
        call(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    assert redact(message) == message
    return caught.value


def leftovers(server: OpenSshServer, folder: str = "/profiles") -> list[str]:
    return sorted(p.name for p in server.path(folder).iterdir())


# --- uploads --------------------------------------------------------------------------------


def test_an_upload_arrives_byte_for_byte(
    sftp_server: OpenSshServer, conn: SftpConnection, payload: Path
) -> None:
    seen: list[int] = []
    done = upload(conn, payload, "/profiles", "Spring_Sent.csv", progress=seen.append)
    arrived = sftp_server.path("/profiles/Spring_Sent.csv")
    assert arrived.read_bytes() == payload.read_bytes()
    assert done == Uploaded("/profiles/Spring_Sent.csv", payload.stat().st_size, sha256(payload))
    assert seen == sorted(seen)
    assert seen[-1] == payload.stat().st_size
    assert len(seen) >= 5  # about every MiB
    assert leftovers(sftp_server) == ["Spring_Sent.csv"]


def test_an_upload_replaces_the_file_of_the_same_name(
    sftp_server: OpenSshServer, conn: SftpConnection, tmp_path: Path
) -> None:
    older, newer = tmp_path / "old.csv", tmp_path / "new.csv"
    older.write_bytes(b"Email\nold@example.com\n" * 1000)
    newer.write_bytes(b"Email\nnew@example.com\n")
    upload(conn, older, "/profiles/", "daily.csv")
    upload(conn, newer, "/profiles/", "daily.csv")
    assert sftp_server.path("/profiles/daily.csv").read_bytes() == newer.read_bytes()
    assert leftovers(sftp_server) == ["daily.csv"]


def test_an_empty_file_is_uploaded(
    sftp_server: OpenSshServer, conn: SftpConnection, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert upload(conn, empty, "/events", "e.csv").size == 0
    assert sftp_server.path("/events/e.csv").read_bytes() == b""


@pytest.mark.parametrize("name", ["", ".", "..", "a/b.csv"])
def test_the_remote_name_must_be_a_plain_name(conn: SftpConnection, name: str) -> None:
    with pytest.raises(ValueError, match="plain name"):
        upload(conn, Path(__file__), "/profiles", name)


def test_uploads_run_in_threads_and_share_a_connection(
    sftp_server: OpenSshServer, conn: SftpConnection, payload: Path
) -> None:
    async def both() -> list[Uploaded]:
        return list(
            await asyncio.gather(
                *(asyncio.to_thread(upload, conn, payload, "/profiles", n) for n in "ab")
            )
        )

    done = asyncio.run(both())
    assert [d.remote_path for d in done] == ["/profiles/a", "/profiles/b"]
    for name in "ab":
        assert sftp_server.path(f"/profiles/{name}").read_bytes() == payload.read_bytes()


def test_a_stopped_upload_leaves_nothing_under_the_final_name(
    sftp_server: OpenSshServer, conn: SftpConnection, payload: Path
) -> None:
    stop = threading.Event()

    def progress(sent: int) -> None:
        if sent >= 2 * MIB:
            stop.set()

    error = failure(upload, conn, payload, "/profiles", "x.csv", progress=progress, stop=stop)
    assert isinstance(error, RetriableSftpError)
    assert error.reason == "stopped"
    assert "x.csv" not in leftovers(sftp_server)
    stop.clear()
    upload(conn, payload, "/profiles", "x.csv", stop=stop)  # the next upload replaces it
    assert leftovers(sftp_server) == ["x.csv"]


def test_a_server_without_posix_rename_gets_remove_and_rename(
    ssh_keys: KeyRing, payload: Path, tmp_path: Path
) -> None:
    older = tmp_path / "older.csv"
    older.write_bytes(b"Email\nold@example.com\n")
    with (
        OpenSshServer(ssh_keys, sftp_flags="-P posix-rename") as server,
        connect(endpoint(server)) as conn,
    ):
        upload(conn, older, "/profiles", "daily.csv")  # a plain rename
        assert server.path("/profiles/daily.csv").read_bytes() == older.read_bytes()
        upload(conn, payload, "/profiles", "daily.csv")  # remove, then rename
        assert server.path("/profiles/daily.csv").read_bytes() == payload.read_bytes()
        assert leftovers(server) == ["daily.csv"]


# --- a connection dropped mid-upload --------------------------------------------------------


def test_a_drop_without_retries_leaves_no_file_under_the_final_name_and_a_retry_succeeds(
    sftp_server: OpenSshServer, payload: Path
) -> None:
    with connect(endpoint(sftp_server, retries=0)) as conn:
        partial = sftp_server.path(f"/profiles/{partial_name('drop.csv')}")
        kill = KillAfter(sftp_server, after=2 * MIB, settle=partial)
        error = failure(upload, conn, payload, "/profiles", "drop.csv", progress=kill)
        assert (type(error), error.reason, kill.kills) == (RetriableSftpError, "dropped", 1)
        assert "drop.csv" not in leftovers(sftp_server)
        assert 0 < partial.stat().st_size < payload.stat().st_size
        assert not conn.active
        done = upload(conn, payload, "/profiles", "drop.csv")  # reconnects
    assert done.attempts == 1
    assert sftp_server.path("/profiles/drop.csv").read_bytes() == payload.read_bytes()
    assert leftovers(sftp_server) == ["drop.csv"]


@pytest.mark.parametrize("kills", [1, 3])
def test_drops_are_retried_resuming_after_the_bytes_on_the_server(
    sftp_server: OpenSshServer, conn: SftpConnection, payload: Path, kills: int
) -> None:
    partial = sftp_server.path(f"/profiles/{partial_name('resumed.csv')}")
    kill = KillAfter(sftp_server, after=MIB + 1, times=kills, settle=partial)
    done = upload(conn, payload, "/profiles", "resumed.csv", progress=kill)
    assert kill.kills == kills
    assert done.attempts == kills + 1
    assert done.resumed_from > 0
    assert done.sha256 == sha256(payload)
    assert sftp_server.path("/profiles/resumed.csv").read_bytes() == payload.read_bytes()
    assert leftovers(sftp_server) == ["resumed.csv"]


def test_a_partial_file_that_is_not_a_prefix_is_sent_again(
    sftp_server: OpenSshServer, conn: SftpConnection, payload: Path
) -> None:
    partial = sftp_server.path(f"/profiles/{partial_name('p.csv')}")

    def drop_and_spoil(sent: int) -> None:
        if sent >= 2 * MIB and not spoiled:
            spoiled.append(sftp_server.kill_sessions())
            with partial.open("r+b") as file:  # as if another writer had been there
                file.seek(partial.stat().st_size - 10)
                file.write(b"!" * 10)

    spoiled: list[int] = []
    done = upload(conn, payload, "/profiles", "p.csv", progress=drop_and_spoil)
    assert (done.attempts, done.resumed_from) == (2, 0)
    assert sftp_server.path("/profiles/p.csv").read_bytes() == payload.read_bytes()


def test_a_partial_file_left_by_another_upload_is_never_resumed(
    ssh_keys: KeyRing, payload: Path
) -> None:
    # Its last 64 KiB match the local file, but only the upload that wrote a partial file
    # may resume it: here the first attempt fails before writing (the server is down).
    with OpenSshServer(ssh_keys) as server:
        partial = server.path(f"/profiles/{partial_name('old.csv')}")
        stale = bytearray(payload.read_bytes()[: 3 * MIB])
        stale[:5] = b"stale"
        partial.write_bytes(bytes(stale))
        shutil.chown(partial, user=server.username)
        with connect(endpoint(server, retries=5, retry_wait=0.2)) as conn:
            server.stop()
            restart = threading.Timer(0.3, server.start)
            restart.start()
            try:
                done = upload(conn, payload, "/profiles", "old.csv")
            finally:
                restart.join()
        assert (done.attempts > 1, done.resumed_from) == (True, 0)
        assert server.path("/profiles/old.csv").read_bytes() == payload.read_bytes()


def test_stop_ends_the_wait_before_a_retry(sftp_server: OpenSshServer, payload: Path) -> None:
    stop = threading.Event()
    with connect(endpoint(sftp_server, retry_wait=30)) as conn:
        kill = KillAfter(sftp_server, after=MIB)
        threading.Timer(0.5, stop.set).start()
        started = time.monotonic()
        error = failure(upload, conn, payload, "/profiles", "s.csv", progress=kill, stop=stop)
    assert (error.reason, kill.kills) == ("stopped", 1)
    assert time.monotonic() - started < 10  # not the 15 to 30 s wait


def test_retries_run_out(sftp_server: OpenSshServer, payload: Path) -> None:
    with connect(endpoint(sftp_server, retries=2)) as conn:
        kill = KillAfter(sftp_server, after=MIB, times=10)
        error = failure(upload, conn, payload, "/profiles", "never.csv", progress=kill)
    assert (error.reason, kill.kills) == ("dropped", 3)
    assert "never.csv" not in leftovers(sftp_server)


# --- keys -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
def test_each_client_key_type_logs_in(
    sftp_server: OpenSshServer, ssh_keys: KeyRing, kind: str
) -> None:
    # sshd 8.8+ refuses ssh-rsa (SHA-1) signatures: an RSA login here is rsa-sha2.
    key = ssh_keys.clients[kind]
    with connect(endpoint(sftp_server, private_key_file=str(key))) as conn:
        probe(conn, "/profiles")
    accepted = [
        line for line in sftp_server.log_text().splitlines() if "Accepted publickey" in line
    ]
    assert fingerprint(Path(f"{key}.pub")) in accepted[-1]


def test_a_key_from_an_environment_variable_with_a_passphrase(
    sftp_server: OpenSshServer, ssh_keys: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SFTP_KEY", ssh_keys.encrypted.read_text(encoding="utf-8"))
    monkeypatch.setenv("TEST_SFTP_PASS", PASSPHRASE)
    settings = endpoint(
        sftp_server,
        private_key_file=None,
        private_key_env="TEST_SFTP_KEY",
        passphrase_env="TEST_SFTP_PASS",
    )
    with connect(settings) as conn:
        probe(conn, "/profiles")
    assert redact(f"it was {PASSPHRASE}") == "it was [secret]"


def test_a_key_pasted_with_escaped_line_breaks(
    sftp_server: OpenSshServer, ssh_keys: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = ssh_keys.clients["ecdsa"].read_text(encoding="utf-8").replace("\n", "\\n")
    monkeypatch.setenv("TEST_SFTP_KEY", text)
    with connect(endpoint(sftp_server, private_key_file=None, private_key_env="TEST_SFTP_KEY")):
        pass


@pytest.mark.parametrize(
    ("passphrase", "says"),
    [(None, "is encrypted: set passphrase_env"), ("wrong passphrase", "does not open")],
)
def test_an_encrypted_key_needs_its_passphrase(
    sftp_server: OpenSshServer,
    ssh_keys: KeyRing,
    monkeypatch: pytest.MonkeyPatch,
    passphrase: str | None,
    says: str,
) -> None:
    if passphrase:
        monkeypatch.setenv("TEST_SFTP_PASS", passphrase)
    settings = endpoint(
        sftp_server,
        private_key_file=str(ssh_keys.encrypted),
        passphrase_env="TEST_SFTP_PASS" if passphrase else None,
    )
    with pytest.raises(ConfigError, match=says) as caught:
        connect(settings)
    assert "\n" not in str(caught.value)
    assert "wrong passphrase" not in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"private_key_file": "/nonexistent/id_ed25519"}, "cannot be read: No such file"),
        ({"private_key_file": __file__}, "is not a private key"),
        ({"private_key_file": None, "private_key_env": "TEST_SFTP_UNSET"}, "is not set"),
    ],
)
def test_an_unreadable_key_is_a_config_error(
    sftp_server: OpenSshServer, changes: dict[str, Any], says: str
) -> None:
    with pytest.raises(ConfigError, match=says):
        connect(endpoint(sftp_server, **changes))


def test_a_wrong_key_is_refused(sftp_server: OpenSshServer, ssh_keys: KeyRing) -> None:
    error = failure(connect, endpoint(sftp_server, private_key_file=str(ssh_keys.stranger)))
    assert (type(error), error.reason) == (FatalSftpError, "auth")
    assert fingerprint(Path(f"{ssh_keys.stranger}.pub")) in str(error)
    assert "authentication failed" in str(error)


# --- host keys ------------------------------------------------------------------------------


def known_hosts(tmp_path: Path, *lines: str) -> str:
    path = tmp_path / "known_hosts"
    path.write_text("".join(lines), encoding="utf-8")
    return str(path)


def test_the_fingerprint_is_the_one_openssh_prints(
    sftp_server: OpenSshServer, conn: SftpConnection
) -> None:
    assert conn.host_key == sftp_server.host_fingerprint()
    assert conn.host_key.startswith("SHA256:")
    assert len(conn.host_key) == len("SHA256:") + 43


def test_an_unknown_host_key_is_refused_and_the_message_says_how_to_trust_it(
    sftp_server: OpenSshServer, ssh_keys: KeyRing, tmp_path: Path
) -> None:
    other = Path(f"{ssh_keys.other_host}.pub").read_text(encoding="utf-8")
    listed = known_hosts(tmp_path, f"other.example.com {other}", "not a known_hosts line\n")
    error = failure(connect, endpoint(sftp_server, host_key_fingerprint=None, known_hosts=listed))
    assert (type(error), error.reason) == (FatalSftpError, "host_key_unknown")
    offered = sftp_server.host_fingerprint()
    assert f'host_key_fingerprint = "{offered}"' in str(error)
    # Both ways the message offers work.
    line = str(error).split("add this line to known_hosts: ")[1]
    with connect(endpoint(sftp_server, host_key_fingerprint=None, known_hosts=known_hosts(
        tmp_path, line + "\n"))):  # fmt: skip
        pass
    with connect(endpoint(sftp_server, host_key_fingerprint=offered)):
        pass


def test_a_changed_host_key_is_refused(sftp_server: OpenSshServer, ssh_keys: KeyRing) -> None:
    pinned = fingerprint(Path(f"{ssh_keys.other_host}.pub"))
    error = failure(connect, endpoint(sftp_server, host_key_fingerprint=pinned))
    assert (type(error), error.reason) == (FatalSftpError, "host_key_changed")
    assert sftp_server.host_fingerprint() in str(error)
    assert pinned in str(error)


@pytest.mark.parametrize("listed", ["other ed25519", "rsa"])
def test_a_changed_host_key_in_known_hosts_is_refused(
    sftp_server: OpenSshServer, ssh_keys: KeyRing, tmp_path: Path, listed: str
) -> None:
    # An RSA key listed for a server that has only an ed25519 key is a changed key too.
    public = ssh_keys.other_host if listed == "other ed25519" else ssh_keys.hosts["rsa"]
    line = sftp_server.known_hosts_line(Path(f"{public}.pub"))
    path = known_hosts(tmp_path, line)
    error = failure(connect, endpoint(sftp_server, host_key_fingerprint=None, known_hosts=path))
    assert error.reason == "host_key_changed"
    assert sftp_server.host_fingerprint() in str(error)
    assert "replace the server's line in known_hosts" in str(error)


def test_a_hashed_known_hosts_file_is_read(sftp_server: OpenSshServer, tmp_path: Path) -> None:
    path = known_hosts(tmp_path, sftp_server.known_hosts_line())
    subprocess.run(["ssh-keygen", "-H", "-f", path], check=True, capture_output=True)
    assert "127.0.0.1" not in Path(path).read_text()
    with connect(endpoint(sftp_server, host_key_fingerprint=None, known_hosts=path)) as conn:
        assert conn.host_key == sftp_server.host_fingerprint()


def test_a_revoked_host_key_is_refused(sftp_server: OpenSshServer, tmp_path: Path) -> None:
    line = sftp_server.known_hosts_line()
    path = known_hosts(tmp_path, "@cert-authority *.example.com " + line.split(" ", 1)[1], line)
    with connect(endpoint(sftp_server, host_key_fingerprint=None, known_hosts=path)):
        pass
    path = known_hosts(tmp_path, line, f"@revoked {line}")
    error = failure(connect, endpoint(sftp_server, host_key_fingerprint=None, known_hosts=path))
    assert (error.reason, "is marked @revoked" in str(error)) == ("host_key_changed", True)


def test_a_missing_known_hosts_file_is_a_config_error(sftp_server: OpenSshServer) -> None:
    settings = endpoint(sftp_server, host_key_fingerprint=None, known_hosts="/nonexistent/kh")
    with pytest.raises(ConfigError, match="known_hosts '/nonexistent/kh' is not a file"):
        connect(settings)


def test_any_host_key_type_of_the_server_can_be_pinned(ssh_keys: KeyRing, tmp_path: Path) -> None:
    # The server offers ed25519 first; a pinned RSA or ECDSA fingerprint still matches.
    with OpenSshServer(ssh_keys, host_keys=("ed25519", "ecdsa", "rsa")) as server:
        for kind in ("rsa", "ecdsa", "ed25519"):
            with connect(endpoint(server, host_key_fingerprint=server.host_fingerprint(kind))) as c:
                assert c.host_key == server.host_fingerprint(kind)
        # known_hosts listing only the RSA key: the server is asked for it first.
        line = server.known_hosts_line(Path(f"{ssh_keys.hosts['rsa']}.pub"))
        path = known_hosts(tmp_path, line)
        with connect(endpoint(server, host_key_fingerprint=None, known_hosts=path)) as c:
            assert c.host_key == server.host_fingerprint("rsa")
        error = failure(connect, endpoint(server, host_key_fingerprint=fingerprint(
            Path(f"{ssh_keys.other_host}.pub"))))  # fmt: skip
        assert error.reason == "host_key_changed"


# --- diagnostics ----------------------------------------------------------------------------


def test_dns(sftp_server: OpenSshServer) -> None:
    error = failure(connect, endpoint(sftp_server, host="herald-no-such-host.invalid"))
    assert error.reason == "dns"  # fatal, or retriable when no resolver answered at all
    assert "cannot resolve the host name 'herald-no-such-host.invalid'" in str(error)


def test_connection_refused(sftp_server: OpenSshServer) -> None:
    error = failure(connect, endpoint(sftp_server, port=free_port()))
    assert (type(error), error.reason) == (RetriableSftpError, "refused")
    assert "connection refused" in str(error)


def test_timeout_when_the_server_never_speaks_ssh(sftp_server: OpenSshServer) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        error = failure(connect, endpoint(sftp_server, port=port, connect_timeout=0.5))
    assert (type(error), error.reason) == (RetriableSftpError, "timeout")
    assert "no SSH handshake within 0.5 s" in str(error)


def test_permission_denied(sftp_server: OpenSshServer, conn: SftpConnection) -> None:
    for call in (lambda: probe(conn, "/"), lambda: upload(conn, Path(__file__), "/", "x.csv")):
        error = failure(call)
        assert (type(error), error.reason) == (FatalSftpError, "permission")
        assert "permission denied" in str(error)
    assert sorted(p.name for p in sftp_server.chroot.iterdir()) == ["events", "profiles"]


def test_no_such_folder(conn: SftpConnection) -> None:
    error = failure(probe, conn, "/nope")
    assert (type(error), error.reason) == (FatalSftpError, "no_folder")
    assert "no such folder /nope" in str(error)
    error = failure(upload, conn, Path(__file__), "/nope", "x.csv")
    assert error.reason == "no_folder"


def test_a_probe_writes_and_removes_its_file(
    sftp_server: OpenSshServer, conn: SftpConnection
) -> None:
    probe(conn, "/profiles")
    assert leftovers(sftp_server) == []
    upload(conn, Path(__file__), "/profiles", "file")
    error = failure(probe, conn, "/profiles/file")
    assert error.reason == "no_folder"
    assert "/profiles/file is a file, not a folder" in str(error)


def test_a_dropped_connection_is_reopened_by_the_next_operation(
    sftp_server: OpenSshServer, conn: SftpConnection
) -> None:
    assert sftp_server.kill_sessions() > 0
    deadline = time.monotonic() + 10
    while conn.active and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not conn.active
    probe(conn, "/profiles")
    assert conn.active
