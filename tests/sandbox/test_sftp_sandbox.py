"""``herald sandbox sftp``: a real SFTP server (paramiko's server API) on a loopback port, driven
by paramiko's client and by OpenSSH's ``sftp``, importing into a real Klaviyo sandbox."""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest

from herald.destinations.registry import parse_destination
from herald.sandbox import SandboxConfig, SandboxServer
from herald.sandbox.sftp import KlaviyoTarget, SftpSandbox, ensure_key

pytestmark = pytest.mark.timeout(120)


class _Fingerprint(paramiko.MissingHostKeyPolicy):
    """Accept the server's host key only when its SHA256 fingerprint is the expected one."""

    def __init__(self, expected: str) -> None:
        self.expected = expected

    def missing_host_key(self, client: Any, hostname: str, key: paramiko.PKey) -> None:
        if key.fingerprint != self.expected:
            raise paramiko.SSHException(f"host key {key.fingerprint} is not {self.expected}")


def connect(
    server: SftpSandbox,
    key: paramiko.PKey,
    *,
    username: str = "herald",
    fingerprint: str | None = None,
) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(_Fingerprint(fingerprint or server.fingerprint))
    client.connect(
        server.host,
        server.port,
        username=username,
        pkey=key,
        allow_agent=False,
        look_for_keys=False,
        timeout=10,
    )
    return client


def upload(sftp: paramiko.SFTPClient, data: bytes, name: str, folder: str = "/profiles") -> None:
    """As Herald uploads: under a partial name, then renamed when complete."""
    partial = f"{folder}/.{name}.herald-partial"
    sftp.putfo(io.BytesIO(data), partial)
    sftp.posix_rename(partial, f"{folder}/{name}")


@pytest.fixture
def client_key(tmp_path: Path) -> paramiko.PKey:
    return ensure_key(tmp_path / "keys" / "client")


@pytest.fixture
def klaviyo() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(limits="off", job_tick=0.01)) as server:
        yield server
        assert server.violations() == []


@pytest.fixture
def server(
    tmp_path: Path, client_key: paramiko.PKey, klaviyo: SandboxServer
) -> Iterator[SftpSandbox]:
    target = KlaviyoTarget(klaviyo.url, attempts=2)
    with SftpSandbox(tmp_path / "sftp", authorized_keys=[client_key], klaviyo=target) as running:
        yield running


@pytest.fixture
def sftp(server: SftpSandbox, client_key: paramiko.PKey) -> Iterator[paramiko.SFTPClient]:
    with connect(server, client_key) as client, client.open_sftp() as session:
        yield session


def emails(klaviyo: SandboxServer) -> dict[str, Any]:
    return {p.email: p for p in klaviyo.state.profiles()}


def result_file(server: SftpSandbox, name: str) -> dict[str, Any]:
    return json.loads((server.root / "profiles" / f"{name}.result.json").read_text())


# --- upload, check and import ---------------------------------------------------------------


def test_an_upload_is_checked_and_imported(
    server: SftpSandbox, sftp: paramiko.SFTPClient, klaviyo: SandboxServer
) -> None:
    assert sorted(sftp.listdir("/")) == ["events", "profiles"]
    rows = "Email,PhoneNumber,ExternalID,Tier,Note\n"
    rows += 'ann@example.com,+12065550100,c-1,gold,\nbob@example.com,,c-2,silver,"a, b"\n'
    rows += ",+12065550102,,bronze,\n"
    upload(sftp, rows.encode(), "vip.csv")

    [result] = server.wait()
    assert (result.file, result.status, result.rows, result.imported) == (
        "profiles/vip.csv",
        "imported",
        3,
        3,
    )
    assert result.rejected == []
    assert result_file(server, "vip.csv")["imported"] == 3
    assert "vip.csv.result.json" in sftp.listdir("/profiles")  # the client can read it
    found = emails(klaviyo)
    assert found["ann@example.com"].phone_number == "+12065550100"
    assert found["ann@example.com"].external_id == "c-1"
    assert found["ann@example.com"].attributes["properties"] == {"Tier": "gold"}
    assert found["bob@example.com"].attributes["properties"] == {"Tier": "silver", "Note": "a, b"}
    assert found[None].phone_number == "+12065550102"


def test_imported_profiles_join_the_list(
    tmp_path: Path, client_key: paramiko.PKey, klaviyo: SandboxServer
) -> None:
    with klaviyo.client() as http:
        body = {"data": {"type": "list", "attributes": {"name": "SFTP"}}}
        list_id = http.post("/api/lists", json=body).json()["data"]["id"]
    target = KlaviyoTarget(klaviyo.url, list_id=list_id)
    with (
        SftpSandbox(tmp_path / "s", authorized_keys=[client_key], klaviyo=target) as server,
        connect(server, client_key) as client,
        client.open_sftp() as sftp,
    ):
        upload(sftp, b"Email\nann@example.com\nbob@example.com\n", "list.csv")
        [result] = server.wait()
    assert result.list_id == list_id
    members = {klaviyo.state.profile(pid).email for pid in klaviyo.state.list_members(list_id)}
    assert members == {"ann@example.com", "bob@example.com"}


def test_a_large_gzip_file_is_imported_in_jobs_of_10000(
    server: SftpSandbox, sftp: paramiko.SFTPClient, klaviyo: SandboxServer
) -> None:
    lines = ["ExternalID,Score"] + [f"x{i},{i}" for i in range(10_001)]
    upload(sftp, gzip.compress("\n".join(lines).encode()), "big.csv.gz")
    [result] = server.wait()
    assert (result.status, result.rows, result.imported, len(result.jobs)) == (
        "imported",
        10_001,
        10_001,
        2,
    )
    assert [j.total_count for j in klaviyo.state.jobs()] == [10_000, 1]
    assert len(klaviyo.state.profiles()) == 10_001


def test_throttling_and_server_errors_are_retried(
    tmp_path: Path, client_key: paramiko.PKey
) -> None:
    faults = "429=0.3,5xx=0.2,only=bulk_import_profiles+get_bulk_import_profiles_job"
    config = SandboxConfig(limits="off", job_tick=0.01, faults=faults, seed=3)
    lines = ["ExternalID"] + [f"x{i}" for i in range(25_000)]
    with (
        SandboxServer(config) as klaviyo,
        SftpSandbox(
            tmp_path / "s", authorized_keys=[client_key], klaviyo=KlaviyoTarget(klaviyo.url)
        ) as server,
        connect(server, client_key) as client,
        client.open_sftp() as sftp,
    ):
        upload(sftp, "\n".join(lines).encode(), "storm.csv")
        [result] = server.wait()
        statuses = {status for _, status in klaviyo.state.request_counts()}
        assert (result.status, result.imported, result.rejected) == ("imported", 25_000, [])
        assert len(klaviyo.state.profiles()) == 25_000
    assert {429, 202, 200} <= statuses
    assert statuses & {500, 502, 503, 504}


def test_bad_rows_are_rejected_by_number_and_never_shown(
    server: SftpSandbox,
    sftp: paramiko.SFTPClient,
    klaviyo: SandboxServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "herald.sandbox.sftp")
    rows = [
        "Email,PhoneNumber,Name",
        "ann@example.com,,Ann",  # row 2: fine
        ",,Nobody",  # row 3: no identifier
        "not-an-email,,Bad",  # row 4: Klaviyo refuses the email
        "carl@example.com,,Carl,extra",  # row 5: one field too many
        "dee@example.com,5550100,Dee",  # row 6: not E.164
    ]
    upload(sftp, "\n".join(rows).encode(), "rows.csv")
    [result] = server.wait()
    assert (result.status, result.rows, result.imported) == ("imported", 5, 1)
    assert [(r.row, r.reason) for r in result.rejected] == [
        (3, "no Email, PhoneNumber or ExternalID value"),
        (4, "Invalid email address."),
        (5, "4 field(s) where the header has 3"),
        (6, "Invalid phone number; it must be in E.164 format."),
    ]
    assert list(emails(klaviyo)) == ["ann@example.com"]
    written = (server.root / "profiles" / "rows.csv.result.json").read_text()
    assert "@" not in written
    assert "@" not in caplog.text
    assert "rows.csv: 5 rows, 1 imported, 4 rejected" in caplog.text


BAD_FILES = {
    "lower-case header": (b"email,Name\nann@example.com,Ann\n", "rename 'email' to 'Email'"),
    "no identifier header": (b"Name\nAnn\n", "no Email, PhoneNumber or ExternalID header"),
    "repeated header": (b"Email,Email\na@example.com,b@example.com\n", "appears more than once"),
    "empty header": (b"Email,\na@example.com,x\n", "column 2 has no header"),
    "empty file": (b"", "the file is empty"),
    "not UTF-8": ("Email,Name\nann@example.com,Zoë\n".encode("latin-1"), "not UTF-8"),
    "bad quoting": (b'Email,Name\nann@example.com,"Ann" x\n', "not valid CSV at row 2"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_is_rejected_whole_with_a_result_file(
    case: str, server: SftpSandbox, sftp: paramiko.SFTPClient, klaviyo: SandboxServer
) -> None:
    data, reason = BAD_FILES[case]
    upload(sftp, data, "bad.csv")
    [result] = server.wait()
    assert result.status == "rejected"
    assert reason in (result.error or "")
    assert result_file(server, "bad.csv")["status"] == "rejected"
    assert klaviyo.state.jobs() == []
    assert klaviyo.state.profiles() == []


def test_a_broken_gzip_file_is_rejected(server: SftpSandbox, sftp: paramiko.SFTPClient) -> None:
    upload(sftp, gzip.compress(b"Email\nann@example.com\n")[:-6], "cut.csv.gz")
    [result] = server.wait()
    assert (result.status, result.error) == (
        "rejected",
        "not a complete gzip file: upload it again, or as plain .csv",
    )


def test_partial_names_are_not_imported_until_renamed(
    server: SftpSandbox, sftp: paramiko.SFTPClient, klaviyo: SandboxServer
) -> None:
    data = b"Email\nann@example.com\n"
    for name in (".a.csv", "a.csv.herald-partial", "a.csv.part", "a.csv.tmp", "a.txt"):
        sftp.putfo(io.BytesIO(data), f"/profiles/{name}")
    sftp.putfo(io.BytesIO(data), "/events/e.csv")  # kept, not imported
    assert server.wait() == []
    sftp.rename("/profiles/.a.csv", "/profiles/a.csv")
    assert [r.file for r in server.wait()] == ["profiles/a.csv"]
    assert list(emails(klaviyo)) == ["ann@example.com"]


def test_rename_keeps_sftp_v3_rules(server: SftpSandbox, sftp: paramiko.SFTPClient) -> None:
    sftp.putfo(io.BytesIO(b"Email\nann@example.com\n"), "/profiles/.one")
    sftp.putfo(io.BytesIO(b"Email\nbob@example.com\n"), "/profiles/.two")
    sftp.rename("/profiles/.one", "/profiles/x.csv")
    with pytest.raises(OSError, match="Failure"):  # plain rename never replaces
        sftp.rename("/profiles/.two", "/profiles/x.csv")
    sftp.posix_rename("/profiles/.two", "/profiles/x.csv")  # posix-rename does
    assert len(server.wait()) == 2


def test_a_file_left_open_by_a_dropped_session_is_not_imported(
    server: SftpSandbox, client_key: paramiko.PKey
) -> None:
    client = connect(server, client_key)
    handle = client.open_sftp().open("/profiles/cut.csv", "w")
    handle.write(b"Email\nann@example.com\nbob@exa")
    handle.flush()
    client.get_transport().close()  # type: ignore[union-attr]
    deadline = time.monotonic() + 10
    while any(t.is_active() for t in server._transports) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # the subsystem thread closes the file after the transport ends
    assert server.wait() == []
    assert (server.root / "profiles" / "cut.csv").exists()


# --- the file system stays inside its root ----------------------------------------------------


def test_no_path_escapes_the_root(
    tmp_path: Path, server: SftpSandbox, sftp: paramiko.SFTPClient
) -> None:
    (tmp_path / "secret.txt").write_text("not for clients")
    outside = tmp_path / "outside"
    outside.mkdir()
    with pytest.raises(FileNotFoundError):  # ".." stops at the root, as in a chroot
        sftp.stat("/../../secret.txt")
    with pytest.raises(FileNotFoundError):
        sftp.open("profiles/../../../secret.txt")
    assert sftp.normalize("/profiles/../../..") == "/"
    with pytest.raises(PermissionError):  # the root is read-only
        sftp.putfo(io.BytesIO(b"x"), "/../escape.csv")
    # Symbolic links planted in the folder lead nowhere outside it.
    os.symlink(outside, server.root / "profiles" / "out")
    os.symlink(tmp_path / "secret.txt", server.root / "profiles" / "secret.csv")
    with pytest.raises(PermissionError):
        sftp.putfo(io.BytesIO(b"x"), "/profiles/out/x.csv")
    with pytest.raises(PermissionError):
        sftp.open("/profiles/secret.csv").read()
    with pytest.raises(PermissionError):
        sftp.listdir("/profiles/out")
    with pytest.raises(PermissionError):
        sftp.symlink("/etc/passwd", "/profiles/passwd")
    with pytest.raises(PermissionError):
        sftp.mkdir("/profiles/sub")
    sftp.putfo(io.BytesIO(b"x"), "/profiles/.p")
    with pytest.raises(PermissionError):
        sftp.rename("/profiles/.p", "/../../moved.csv")
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys", "outside", "secret.txt", "sftp"]


# --- authentication and the host key ----------------------------------------------------------


def test_a_wrong_key_or_user_is_refused(
    tmp_path: Path, server: SftpSandbox, client_key: paramiko.PKey
) -> None:
    stranger = ensure_key(tmp_path / "keys" / "stranger")
    with pytest.raises(paramiko.AuthenticationException):
        connect(server, stranger)
    with pytest.raises(paramiko.AuthenticationException):
        connect(server, client_key, username="root")
    with pytest.raises(paramiko.SSHException, match="is not SHA256:wrong"):
        connect(server, client_key, fingerprint="SHA256:wrong")
    connect(server, client_key).close()  # the right key, user and host key still get in


def test_the_host_key_is_kept_and_printed_as_openssh_does(
    tmp_path: Path, server: SftpSandbox, client_key: paramiko.PKey
) -> None:
    again = SftpSandbox(tmp_path / "sftp", authorized_keys=[client_key])
    assert again.fingerprint == server.fingerprint
    listed = subprocess.run(
        ["ssh-keygen", "-lf", str(tmp_path / "sftp" / "host_key.pub")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert listed.stdout.split()[1] == server.fingerprint
    other = SftpSandbox(tmp_path / "other", authorized_keys=[client_key])
    assert other.fingerprint != server.fingerprint


def test_authorized_keys_come_from_a_file(tmp_path: Path, client_key: paramiko.PKey) -> None:
    public = (tmp_path / "keys" / "client.pub").read_text()
    keys = tmp_path / "authorized_keys"
    keys.write_text(f'# team keys\n\nfrom="127.0.0.1" {public}')
    with SftpSandbox(tmp_path / "s", authorized_keys=keys) as server:
        connect(server, client_key).close()


# --- real clients -------------------------------------------------------------------------------


def _openssh_sftp() -> str:
    found = shutil.which("sftp")
    if found is None and os.environ.get("CI") != "true":
        pytest.skip("OpenSSH's sftp client is not installed")
    assert found is not None, "OpenSSH's sftp client is missing (scripts/system-packages.sh)"
    return found


def _openssh_options(tmp_path: Path, server: SftpSandbox, known: Path) -> list[str]:
    """The test's client key, the known_hosts file given, nothing else (no agent, no prompt)."""
    return [
        *("-P", str(server.port), "-i", str(tmp_path / "keys" / "client")),
        *("-o", "IdentitiesOnly=yes", "-o", f"UserKnownHostsFile={known}"),
        *("-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", f"herald@{server.host}"),
    ]


def test_openssh_sftp_uploads_and_the_rows_are_imported(
    tmp_path: Path, server: SftpSandbox, klaviyo: SandboxServer
) -> None:
    local = tmp_path / "up.csv"
    local.write_text("PhoneNumber,ExternalID\n+12065550100,x1\n+12065550101,x2\n")
    known = tmp_path / "known_hosts"
    known.write_text(server.known_hosts_line() + "\n")
    batch = tmp_path / "batch"
    batch.write_text(
        f"put {local} /profiles/.up.csv.part\nrename /profiles/.up.csv.part /profiles/up.csv\n"
        "ls /profiles\n"
    )
    done = subprocess.run(
        [_openssh_sftp(), "-b", str(batch), *_openssh_options(tmp_path, server, known)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [result] = server.wait()
    assert (result.status, result.imported) == ("imported", 2)
    assert {p.external_id for p in klaviyo.state.profiles()} == {"x1", "x2"}
    assert (server.root / "profiles" / "up.csv").read_bytes() == local.read_bytes()


def test_openssh_refuses_a_changed_host_key(tmp_path: Path, server: SftpSandbox) -> None:
    other = SftpSandbox(tmp_path / "other", authorized_keys=[ensure_key(tmp_path / "k")])
    known = tmp_path / "known_hosts"
    known.write_text(f"[{server.host}]:{server.port} {other.known_hosts_line().split(' ', 1)[1]}\n")
    done = subprocess.run(
        [_openssh_sftp(), "-b", "-", *_openssh_options(tmp_path, server, known)],
        input="ls\n",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0
    assert "HOST IDENTIFICATION HAS CHANGED" in done.stderr


def test_an_unreachable_klaviyo_fails_the_file(tmp_path: Path, client_key: paramiko.PKey) -> None:
    with SandboxServer() as gone:
        url = gone.url  # a port nobody listens on once it stops
    target = KlaviyoTarget(url, attempts=1)
    with (
        SftpSandbox(tmp_path / "s", authorized_keys=[client_key], klaviyo=target) as server,
        connect(server, client_key) as client,
        client.open_sftp() as sftp,
    ):
        upload(sftp, b"Email\nann@example.com\n", "a.csv")
        [result] = server.wait()
    assert result.status == "failed"
    assert result.error == f"no answer from {url} (ConnectError)"


# --- the command --------------------------------------------------------------------------------


def test_the_command_prints_how_to_use_it_and_stops_on_sigterm(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "herald", "sandbox", "sftp", "--port", "0"]
    command += ["--folder", str(tmp_path / "sftp"), "--check-only"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline()]
        while lines[-1] and not lines[-1].startswith("host_key_fingerprint"):
            lines.append(process.stdout.readline())
        banner = "".join(lines)
        port = int(banner.split("127.0.0.1:", 1)[1].split()[0])
        fingerprint = banner.split("host key ", 1)[1].split()[0]
        for expected in (
            'type = "klaviyo_sftp"',
            f"port = {port}",
            'username = "herald"',
            f'private_key_file = "{tmp_path / "sftp" / "client_key"}"',
            f'host_key_fingerprint = "{fingerprint}"',
        ):
            assert expected in banner
        # the lines printed are a destination herald.toml takes as they are
        table = tomllib.loads(banner[banner.index("[destinations.") :])["destinations"]
        settings = parse_destination("klaviyo_sftp", table["klaviyo_sftp"])
        assert settings.type == "klaviyo_sftp"
        key = paramiko.PKey.from_path(tmp_path / "sftp" / "client_key")
        transport = paramiko.Transport(("127.0.0.1", port))
        transport.connect(username="herald", pkey=key)
        assert transport.get_remote_server_key().fingerprint == fingerprint
        with paramiko.SFTPClient.from_transport(transport) as sftp:  # type: ignore[union-attr]
            upload(sftp, b"Name\nAnn\n", "checked.csv")
        transport.close()
        result = tmp_path / "sftp" / "root" / "profiles" / "checked.csv.result.json"
        deadline = time.monotonic() + 10
        while not result.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert json.loads(result.read_text())["status"] == "rejected"
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=20)
    assert process.returncode == 0, errors
    assert "profiles/checked.csv: rejected: no Email, PhoneNumber or ExternalID header" in errors
