"""The account's private key, read from its file or environment variable, and the server's
host key, checked against a known_hosts file or a pinned fingerprint.

Neither the key's text nor its passphrase ever reaches a message: both are registered with
:func:`herald.redact.register_secret` as soon as they are read.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from herald.destinations.ssh.endpoint import SftpEndpoint
from herald.exceptions import ConfigError, FatalSftpError
from herald.redact import register_secret

__all__ = ["KnownHostKeys", "load_private_key", "sha256_fingerprint"]

#: Key type families a server may offer, in paramiko's order of preference.
KEY_FAMILIES: tuple[tuple[str, ...], ...] = (
    ("ssh-ed25519",),
    ("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"),
    ("rsa-sha2-512", "rsa-sha2-256"),
)
_OPENSSH = b"-----BEGIN OPENSSH PRIVATE KEY-----"


def sha256_fingerprint(key: paramiko.PKey) -> str:
    """The key's fingerprint as OpenSSH prints it: ``SHA256:`` and the unpadded base64 of the
    SHA-256 of the public key blob."""
    return str(key.fingerprint)


def family(key_name: str) -> tuple[str, ...]:
    """The host key algorithms that offer a key named ``key_name`` (``ssh-rsa`` keys are
    offered as ``rsa-sha2-512`` or ``rsa-sha2-256``)."""
    if key_name == "ssh-rsa":
        return KEY_FAMILIES[2]
    return next((f for f in KEY_FAMILIES if key_name in f), (key_name,))


# --- the private key --------------------------------------------------------------------------


def load_private_key(endpoint: SftpEndpoint) -> paramiko.PKey:
    """The account's private key: ed25519, ECDSA or RSA, in OpenSSH or PEM format.

    Raises:
        ConfigError: the file cannot be read, the variable is not set, the key is encrypted
            and no passphrase opens it, or it is not a key of a supported type; one line
            that names the setting, never the key.
    """
    where, data = _key_text(endpoint)
    passphrase = None
    if endpoint.passphrase_env:
        passphrase = os.environ.get(endpoint.passphrase_env) or None
        register_secret(passphrase)
        if passphrase is None:
            msg = f"the environment variable {endpoint.passphrase_env} (passphrase_env) is not set"
            raise ConfigError(msg)
    kind = _key_class(data, passphrase, where, endpoint.passphrase_env)
    try:
        return kind.from_private_key(io.StringIO(data.decode("utf-8")), password=passphrase)
    except (paramiko.SSHException, ValueError, UnicodeDecodeError):
        msg = f"{where} cannot be read as an OpenSSH or PEM private key: check that it is one"
        raise ConfigError(msg) from None


def _key_text(endpoint: SftpEndpoint) -> tuple[str, bytes]:
    """Where the key comes from (for messages) and its bytes."""
    if endpoint.private_key_env:
        name = endpoint.private_key_env
        text = os.environ.get(name, "").strip()
        register_secret(text)
        if not text:
            msg = f"the environment variable {name} (private_key_env) is not set"
            raise ConfigError(msg)
        if "\n" not in text and "\\n" in text:
            text = text.replace("\\n", "\n")  # a key pasted into CI secrets with \n escapes
        return f"the private key in the environment variable {name}", (text + "\n").encode()
    path = Path(str(endpoint.private_key_file)).expanduser()
    where = f"private_key_file '{endpoint.private_key_file}'"
    try:
        data = path.read_bytes()
    except OSError as error:
        msg = f"{where} cannot be read: {error.strerror}"
        raise ConfigError(msg) from None
    register_secret(data.decode("utf-8", errors="replace").strip())
    return where, data


def _key_class(
    data: bytes, passphrase: str | None, where: str, passphrase_env: str | None
) -> type[paramiko.PKey]:
    """The paramiko class for the key in ``data``, found by opening it with cryptography."""
    secret = passphrase.encode() if passphrase else None
    loaded: object
    try:
        if _OPENSSH in data:
            loaded = serialization.load_ssh_private_key(data, password=secret)
        else:
            loaded = serialization.load_pem_private_key(data, password=secret)
    except TypeError:
        msg = (
            f"{where} is encrypted: set passphrase_env to a variable holding its passphrase"
            if secret is None
            else f"{where} is not encrypted: remove passphrase_env"
        )
        raise ConfigError(msg) from None
    except ValueError:
        msg = (
            f"the passphrase in {passphrase_env} does not open {where}"
            if secret is not None
            else f"{where} is not a private key in OpenSSH or PEM format"
        )
        raise ConfigError(msg) from None
    except Exception:  # cryptography's UnsupportedAlgorithm and the like
        msg = f"{where} is a key of a type Herald does not use: use ed25519, ECDSA or RSA"
        raise ConfigError(msg) from None
    classes: tuple[tuple[type, type[paramiko.PKey]], ...] = (
        (ed25519.Ed25519PrivateKey, paramiko.Ed25519Key),
        (ec.EllipticCurvePrivateKey, paramiko.ECDSAKey),
        (rsa.RSAPrivateKey, paramiko.RSAKey),
    )
    for crypto, kind in classes:
        if isinstance(loaded, crypto):
            return kind
    msg = f"{where} is a key of a type Herald does not use: use ed25519, ECDSA or RSA"
    raise ConfigError(msg)


# --- the host key ---------------------------------------------------------------------------


@dataclass(frozen=True)
class KnownHostKeys:
    """The host keys an endpoint trusts for its server.

    Attributes:
        endpoint: the endpoint.
        keys: the server's keys listed in ``known_hosts`` (empty in fingerprint mode).
        revoked: the server's keys marked ``@revoked`` there: refused even when listed.
    """

    endpoint: SftpEndpoint
    keys: tuple[paramiko.PKey, ...]
    revoked: tuple[paramiko.PKey, ...] = ()

    @classmethod
    def of(cls, endpoint: SftpEndpoint) -> KnownHostKeys:
        """The keys ``endpoint`` trusts, read from its known_hosts file if it has one.

        Raises:
            ConfigError: the known_hosts file cannot be read.
        """
        if not endpoint.known_hosts:
            return cls(endpoint, ())
        path = Path(endpoint.known_hosts).expanduser()
        if not path.is_file():
            msg = f"known_hosts '{endpoint.known_hosts}' is not a file: check the path"
            raise ConfigError(msg)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            msg = f"known_hosts '{endpoint.known_hosts}' cannot be read: {error}"
            raise ConfigError(msg) from None
        listed, revoked = _parse_known_hosts(lines)
        return cls(endpoint, _keys_of(listed, endpoint), _keys_of(revoked, endpoint))

    def preferred_types(self) -> list[str] | None:
        """Host key algorithms to ask for first, so the server offers a key we know; None
        when any will do."""
        if not self.keys:
            return None
        return [name for key in self.keys for name in family(key.get_name())]

    def check(self, offered: paramiko.PKey) -> None:
        """Accept ``offered`` if the endpoint trusts it.

        Raises:
            FatalSftpError: ``host_key_unknown`` or ``host_key_changed``, showing the offered
                key's SHA256 fingerprint and how to trust it.
        """
        found = sha256_fingerprint(offered)
        pinned = self.endpoint.host_key_fingerprint
        if any(key == offered for key in self.revoked):
            text = (
                f"SFTP {self.endpoint.address}: the server's host key {offered.get_name()} "
                f"{found} is marked @revoked in known_hosts '{self.endpoint.known_hosts}'; refused"
            )
            raise FatalSftpError(text, reason="host_key_changed")
        if pinned == found or any(key == offered for key in self.keys):
            return
        if pinned or self.keys:
            raise FatalSftpError(self._changed(offered, found), reason="host_key_changed")
        raise FatalSftpError(self._unknown(offered, found), reason="host_key_unknown")

    def _unknown(self, offered: paramiko.PKey, found: str) -> str:
        line = f"{_host_name(self.endpoint)} {offered.get_name()} {offered.get_base64()}"
        return (
            f"SFTP {self.endpoint.address}: the server's host key {offered.get_name()} {found} "
            f"is not in known_hosts '{self.endpoint.known_hosts}'; refused. If it is the "
            f'server\'s key, trust it with host_key_fingerprint = "{found}" or add this line '
            f"to known_hosts: {line}"
        )

    def _changed(self, offered: paramiko.PKey, found: str) -> str:
        expected = self.endpoint.host_key_fingerprint or ", ".join(
            sha256_fingerprint(key) for key in self.keys
        )
        how = (
            f'set host_key_fingerprint = "{found}"'
            if self.endpoint.host_key_fingerprint
            else f"replace the server's line in known_hosts '{self.endpoint.known_hosts}'"
        )
        return (
            f"SFTP {self.endpoint.address}: the host key changed: the server offered "
            f"{offered.get_name()} {found}, expected {expected}; refused, as it may be an "
            f"attack. If the server's key was really replaced, {how}"
        )


def _parse_known_hosts(lines: list[str]) -> tuple[paramiko.HostKeys, paramiko.HostKeys]:
    """The keys a known_hosts file lists, and those it marks ``@revoked``."""
    listed, revoked = paramiko.HostKeys(), paramiko.HostKeys()
    for number, line in enumerate(lines, 1):
        marker, rest = "", line
        if line.lstrip().startswith("@"):
            marker, _, rest = line.strip().partition(" ")
        if marker not in ("", "@revoked"):
            continue  # @cert-authority: Herald does not use host certificates
        for name, key in _entries(rest, number):
            (revoked if marker else listed).add(name, key.get_name(), key)
    return listed, revoked


def _entries(line: str, number: int) -> list[tuple[str, paramiko.PKey]]:
    """The (host name or hash, key) pairs of a known_hosts line; none for a line that is not
    one or whose key type Herald does not use (ssh skips those lines too)."""
    try:
        entry = paramiko.hostkeys.HostKeyEntry.from_line(line, number)
    except (paramiko.hostkeys.InvalidHostKey, paramiko.SSHException, ValueError):
        return []
    if entry is None or entry.key is None:
        return []
    return [(name, entry.key) for name in entry.hostnames]


def _keys_of(hosts: paramiko.HostKeys, endpoint: SftpEndpoint) -> tuple[paramiko.PKey, ...]:
    entry = hosts.lookup(_host_name(endpoint))
    return tuple(entry.values()) if entry else ()


def _host_name(endpoint: SftpEndpoint) -> str:
    """The host's name in known_hosts: ``host``, or ``[host]:port`` off port 22."""
    return endpoint.host if endpoint.port == 22 else f"[{endpoint.host}]:{endpoint.port}"
