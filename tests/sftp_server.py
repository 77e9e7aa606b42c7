"""A real OpenSSH server for the SFTP tests and the benchmark: Debian's ``openssh-server``
(``scripts/system-packages.sh``), started as a foreground child on a free loopback port with its
own temporary configuration, host keys and authorized keys.

The account is SFTP-only and chrooted, as a hosted import server's is: ``Match User`` with
``ChrootDirectory`` and ``ForceCommand internal-sftp``. It is the system's ``nobody`` user,
so that nothing is added to /etc: no ``useradd`` (a user made for the tests would outlive
them in /etc/passwd, and a ``useradd`` user's locked password makes sshd refuse it when
``UsePAM no``), and not ``root`` (root writes everywhere, so "permission denied" could not be
shown). sshd wants the chroot and every folder above it owned by root and writable by no one
else, which rules out /tmp (mode 1777): the server's folder is made under /run instead, and
removed when the server stops. Inside the chroot, ``/`` is root's (not writable: the
permission test writes there) and ``profiles/`` and ``events/`` belong to the account.

Starting sshd, and making the chroot, need root; this file says why it cannot start a server
(:func:`unavailable`) and the fixtures skip with that reason, except in CI (``CI=true``),
where it is a failure so that a missing server cannot hide.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from ports import free_port

SSHD = Path("/usr/sbin/sshd")
ACCOUNT = "nobody"
PASSPHRASE = "correct horse battery staple"
CLIENT_KEYS = ("ed25519", "ecdsa", "rsa")
"""The client key types the server accepts, as Klaviyo's (AWS Transfer Family) does."""
_RUN = Path("/run")


def unavailable() -> str | None:
    """Why no OpenSSH server can be started here, or None when one can."""
    if not SSHD.exists():
        return f"{SSHD} not found: apt-get install openssh-server (scripts/system-packages.sh)"
    if shutil.which("ssh-keygen") is None:
        return "ssh-keygen not found: apt-get install openssh-client"
    if os.geteuid() != 0:
        return "the SFTP tests start sshd with a chrooted account, which needs root"
    try:
        pwd.getpwnam(ACCOUNT)
    except KeyError:
        return f"there is no {ACCOUNT!r} user for the chrooted SFTP account"
    return None


def require_sshd() -> None:
    """Skip the calling test without an OpenSSH server to start, except in CI
    (``CI=true``): a failure there, so that a missing server cannot hide."""
    import pytest

    reason = unavailable()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI needs the OpenSSH server tests: {reason}", pytrace=False)
    pytest.skip(reason)


def sshd_version() -> tuple[int, int]:
    """The installed sshd's version, such as (9, 2)."""
    done = subprocess.run([str(SSHD), "-V"], capture_output=True, text=True, check=False)
    found = re.search(r"OpenSSH_(\d+)\.(\d+)", done.stderr + done.stdout)
    return (int(found[1]), int(found[2])) if found else (0, 0)


def keygen(path: Path, kind: str, passphrase: str = "") -> Path:
    """Make an OpenSSH key pair ``path`` and ``path.pub`` of type ``kind``; ``path``."""
    bits = {"rsa": ["-b", "3072"], "ecdsa": ["-b", "256"]}.get(kind, [])
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, *bits, "-N", passphrase, "-C", f"herald-test-{kind}",
         "-f", str(path)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return path


def fingerprint(public_key: Path) -> str:
    """The key's SHA256 fingerprint as ``ssh-keygen -l`` prints it (``SHA256:…``)."""
    done = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(public_key)],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    return done.stdout.split()[1]


@dataclass(frozen=True)
class KeyRing:
    """Key pairs made once per test session: the clients' and the servers'.

    Attributes:
        folder: where the files are.
        clients: the authorized client keys by type (``ed25519``, ``ecdsa``, ``rsa``).
        encrypted: an authorized ed25519 key encrypted with :data:`PASSPHRASE`.
        stranger: a client key no server authorizes.
        hosts: host keys by type, for the servers.
        other_host: one more ed25519 host key, no server's: "the key changed".
    """

    folder: Path
    clients: dict[str, Path]
    encrypted: Path
    stranger: Path
    hosts: dict[str, Path]
    other_host: Path

    @classmethod
    def make(cls, folder: Path) -> KeyRing:
        folder.mkdir(parents=True, exist_ok=True)
        return cls(
            folder=folder,
            clients={k: keygen(folder / f"id_{k}", k) for k in CLIENT_KEYS},
            encrypted=keygen(folder / "id_encrypted", "ed25519", PASSPHRASE),
            stranger=keygen(folder / "id_stranger", "ed25519"),
            hosts={k: keygen(folder / f"host_{k}", k) for k in CLIENT_KEYS},
            other_host=keygen(folder / "host_other", "ed25519"),
        )

    def authorized(self) -> str:
        """The authorized_keys text: every client key but the stranger's."""
        keys = [*self.clients.values(), self.encrypted]
        return "".join(Path(f"{k}.pub").read_text(encoding="utf-8") for k in keys)


class OpenSshServer:
    """A running sshd with one chrooted SFTP-only account, for a ``with`` block.

    Args:
        keys: the session's key ring.
        host_keys: the host key types the server offers (its ``HostKey`` lines, in order).
        sftp_flags: options of its ``internal-sftp``, such as ``-P posix-rename`` (a server
            that refuses that request).

    Attributes:
        port: the loopback port it listens on.
        base: its folder under /run: ``etc/`` (configuration, keys, log) and ``chroot/``.
        chroot: the account's ``/``.
    """

    host = "127.0.0.1"
    username = ACCOUNT

    def __init__(
        self, keys: KeyRing, host_keys: tuple[str, ...] = ("ed25519",), sftp_flags: str = ""
    ) -> None:
        self.keys = keys
        self.host_keys = host_keys
        self.sftp_flags = sftp_flags
        self.port = free_port()
        self.base = Path(tempfile.mkdtemp(prefix="herald-sftp-", dir=_RUN))
        self.etc = self.base / "etc"
        self.chroot = self.base / "chroot"
        self.log = self.etc / "sshd.log"
        self.process: subprocess.Popen[bytes] | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> OpenSshServer:
        try:
            self._lay_out()
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _lay_out(self) -> None:
        account = pwd.getpwnam(ACCOUNT)
        self.base.chmod(0o755)  # the account reads authorized_keys below it
        self.etc.mkdir(mode=0o755)
        self.chroot.mkdir(mode=0o755)
        for name in ("profiles", "events"):
            (self.chroot / name).mkdir(mode=0o755)
            os.chown(self.chroot / name, account.pw_uid, account.pw_gid)
        for kind in self.host_keys:
            shutil.copy(self.keys.hosts[kind], self.etc / f"host_{kind}")
            (self.etc / f"host_{kind}").chmod(0o600)
        authorized = self.etc / "authorized_keys"
        authorized.write_text(self.keys.authorized(), encoding="utf-8")
        authorized.chmod(0o644)
        (self.etc / "sshd_config").write_text(self._config(), encoding="utf-8")

    def _config(self) -> str:
        lines = [
            f"Port {self.port}",
            f"ListenAddress {self.host}",
            *(f"HostKey {self.etc / f'host_{kind}'}" for kind in self.host_keys),
            f"PidFile {self.etc / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.etc / 'authorized_keys'}",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "StrictModes no",
            "UsePAM no",
            "LogLevel VERBOSE",
            "MaxStartups 100",
            f"AllowUsers {ACCOUNT}",
            "Subsystem sftp internal-sftp",
        ]
        if sshd_version() >= (9, 8):
            # Killed sessions and refused keys must not get loopback penalised.
            lines.append("PerSourcePenalties no")
        lines += [
            f"Match User {ACCOUNT}",
            f"  ChrootDirectory {self.chroot}",
            f"  ForceCommand internal-sftp {self.sftp_flags}".rstrip(),
            "  AllowTcpForwarding no",
            "  X11Forwarding no",
            "  PermitTTY no",
        ]
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        """Start sshd in the foreground (``-D``), logging to ``etc/sshd.log``, and wait until
        it answers with its banner."""
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
        command = [str(SSHD), "-D", "-E", str(self.log), "-f", str(self.etc / "sshd_config")]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                msg = f"sshd exited with {self.process.returncode}: {self.log_text()[-2000:]}"
                raise RuntimeError(msg)
            if self._answers():
                return
            time.sleep(0.02)
        msg = f"sshd did not answer on port {self.port} in 30 s: {self.log_text()[-2000:]}"
        raise RuntimeError(msg)

    def _answers(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=2) as sock:
                return sock.recv(64).startswith(b"SSH-2.0-")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop sshd and every session it started."""
        if self.process is None:
            return
        self.kill_sessions()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def close(self) -> None:
        """Stop sshd and remove its folder."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    # --- what the tests use ---------------------------------------------------------------

    def session_pids(self) -> list[int]:
        """The sshd processes serving connections: the listener's descendants."""
        if self.process is None:
            return []
        try:
            return [p.pid for p in psutil.Process(self.process.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def kill_sessions(self) -> int:
        """Kill (SIGKILL) every session's sshd processes (the per-connection monitor, the
        account's process and its SFTP session), so each connection drops as it would if the
        server crashed or the network were cut; the listener goes on accepting. Returns how
        many processes were killed."""
        killed = 0
        for pid in self.session_pids():
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        return killed

    def wait_for_sessions_gone(self, seconds: float = 10.0) -> None:
        """Wait until no session process is left (killed ones are reaped by the listener)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not any(_status(p) not in (None, psutil.STATUS_ZOMBIE) for p in self.session_pids()):
                return
            time.sleep(0.01)

    def path(self, remote: str) -> Path:
        """Where the remote path ``remote`` (as the account sees it) is on this machine."""
        return self.chroot / remote.lstrip("/")

    def clear(self) -> None:
        """Empty ``profiles/`` and ``events/``, and remove anything else in the chroot."""
        for entry in self.chroot.iterdir():
            if entry.name in ("profiles", "events"):
                for inner in entry.iterdir():
                    _remove(inner)
            else:
                _remove(entry)

    def host_fingerprint(self, kind: str | None = None) -> str:
        """The SHA256 fingerprint of the host key of type ``kind`` (the first by default)."""
        return fingerprint(Path(f"{self.keys.hosts[kind or self.host_keys[0]]}.pub"))

    def known_hosts_line(self, public_key: Path | None = None) -> str:
        """A known_hosts line for this server's first host key (or ``public_key``)."""
        pub = public_key or Path(f"{self.keys.hosts[self.host_keys[0]]}.pub")
        kind, blob = pub.read_text(encoding="utf-8").split()[:2]
        return f"[{self.host}]:{self.port} {kind} {blob}\n"

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """Endpoint settings for this server: its account, the ed25519 client key and the
        pinned host key fingerprint, then ``overrides``."""
        values: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "private_key_file": str(self.keys.clients["ed25519"]),
            "host_key_fingerprint": self.host_fingerprint(),
        }
        values.update(overrides)
        return values

    def log_text(self) -> str:
        """sshd's log so far."""
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""


def _status(pid: int) -> str | None:
    try:
        return str(psutil.Process(pid).status())
    except psutil.NoSuchProcess:
        return None


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


class KillAfter:
    """A progress callback that kills the server's sessions once ``after`` bytes were sent,
    ``times`` times at most (each time after ``after`` more bytes): a connection dropped
    mid-upload.

    An upload pipelines its writes, so the server may hold none of the bytes sent yet: with
    ``settle``, the partial file on the server, the kill waits until that file has stopped
    growing (the server wrote what it had been sent), so that there is something to resume.

    Attributes:
        kills: how many times it killed.
    """

    def __init__(
        self, server: OpenSshServer, after: int, times: int = 1, settle: Path | None = None
    ) -> None:
        self.server = server
        self.after = after
        self.times = times
        self.settle = settle
        self.kills = 0
        self._next = after
        self._last = 0

    def __call__(self, sent: int) -> None:
        if sent < self._last:  # the upload started again (or resumed) lower down
            self._next = min(self._next, sent + self.after)
        self._last = sent
        if self.kills >= self.times or sent < self._next:
            return
        if not self.server.session_pids():
            return  # the connection is down already; the upload has yet to notice
        if self.settle is not None:
            _wait_until_still(self.settle)
        assert self.server.kill_sessions() > 0, "no sshd session to kill"
        self.kills += 1
        self._next = sent + self.after
        self.server.wait_for_sessions_gone()


def _wait_until_still(path: Path, seconds: float = 10.0) -> None:
    """Wait until ``path`` exists and its size has not changed for 0.1 s."""
    last, since, deadline = -1, time.monotonic(), time.monotonic() + seconds
    while time.monotonic() < deadline:
        size = path.stat().st_size if path.exists() else -1
        if size != last:
            last, since = size, time.monotonic()
        elif size > 0 and time.monotonic() - since >= 0.1:
            return
        time.sleep(0.01)
