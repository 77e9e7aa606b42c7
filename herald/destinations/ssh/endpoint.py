"""Where an SFTP destination uploads: the server, the account, its key and the server's host
key, as settings.

Secrets never live in herald.toml: the private key is a file (``private_key_file``) or the
text of an environment variable (``private_key_env``), and its passphrase comes only from an
environment variable (``passphrase_env``). The server's host key must be known in advance,
from a known_hosts file or a pinned SHA256 fingerprint: an unknown or changed key is refused,
never trusted on first use.

Example ``herald.toml`` keys::

    host = "sftp.example.com"
    port = 22
    username = "acme"
    private_key_file = "~/.ssh/herald_ed25519"      # or private_key_env = "SFTP_KEY"
    passphrase_env = "SFTP_KEY_PASSPHRASE"          # when the key is encrypted
    host_key_fingerprint = "SHA256:Fx0…"            # or known_hosts = "~/.ssh/known_hosts"
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path
from typing import Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from herald.destinations.settings import check_env_name

__all__ = ["SftpEndpoint", "normalise_fingerprint"]

_FINGERPRINT = re.compile(r"SHA256:([A-Za-z0-9+/]{43})=?")
_HOST_KEY_NEEDED = (
    'needs the server\'s host key: known_hosts = "PATH" or host_key_fingerprint = "SHA256:…" '
    "(ssh-keyscan -p PORT HOST | ssh-keygen -lf - prints it)"
)


class SftpEndpoint(BaseModel):
    """An SFTP server, the account Herald logs in with, and how the server is recognised.

    A destination's settings extend it (``class S(DestinationSettings, SftpEndpoint)``); the
    keys are those of its ``[destinations.NAME]`` table.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    """The server's host name or IP address."""
    port: int = Field(22, ge=1, le=65535)
    """The server's SSH port."""
    username: str
    """The account's user name."""
    private_key_file: str | None = None
    """A private key file (OpenSSH or PEM; ed25519, ECDSA or RSA); ``~`` is expanded."""
    private_key_env: str | None = None
    """An environment variable holding the private key's text, instead of a file."""
    passphrase_env: str | None = None
    """An environment variable holding the private key's passphrase, when it has one."""
    known_hosts: str | None = None
    """An OpenSSH known_hosts file listing the server's host key (hashed names work too)."""
    host_key_fingerprint: str | None = None
    """The server's host key as ``ssh-keygen -l`` prints it: ``SHA256:`` and 43 characters."""
    connect_timeout: float = Field(15.0, gt=0)
    """Seconds to wait for the connection and for the SSH handshake."""
    timeout: float = Field(60.0, gt=0)
    """Seconds to wait for any answer of the server once connected."""
    retries: int = Field(5, ge=0, le=100)
    """How many times a dropped or failed connection is tried again during an upload."""
    retry_wait: float = Field(1.0, ge=0)
    """Seconds before the first retry; doubled each time, at most 60, with jitter."""

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        value = value.strip()
        if not value or any(c.isspace() for c in value):
            msg = "host must be a host name or IP address, such as sftp.example.com"
            raise ValueError(msg)
        if "://" in value or "@" in value:
            msg = (
                "host must be the bare host name, such as sftp.example.com: "
                "put the user in username and the port in port"
            )
            raise ValueError(msg)
        return value

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        if not value.strip() or any(c.isspace() for c in value):
            msg = "username must be the SFTP account's user name, without spaces"
            raise ValueError(msg)
        return value

    @field_validator("private_key_env", "passphrase_env")
    @classmethod
    def _env_name(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            field = str(info.field_name)
            check_env_name(value, field, "SFTP_KEY" if field == "private_key_env" else "SFTP_PASS")
        return value

    @field_validator("private_key_file")
    @classmethod
    def _key_file(cls, value: str | None) -> str | None:
        if value is not None and ("-----BEGIN" in value or "\n" in value):
            msg = (
                "private_key_file must name the file that holds the key; the value given "
                "looks like a key: put the key in that file, or its text in the variable "
                "named by private_key_env"
            )
            raise ValueError(msg)
        return value

    @field_validator("host_key_fingerprint")
    @classmethod
    def _fingerprint(cls, value: str | None) -> str | None:
        return None if value is None else normalise_fingerprint(value)

    @model_validator(mode="after")
    def _complete(self) -> SftpEndpoint:
        if self.private_key_file and self.private_key_env:
            msg = "give private_key_file or private_key_env, not both"
            raise ValueError(msg)
        if not (self.private_key_file or self.private_key_env):
            msg = 'needs a private key: private_key_file = "PATH" or private_key_env = "VARIABLE"'
            raise ValueError(msg)
        if self.known_hosts and self.host_key_fingerprint:
            msg = "give known_hosts or host_key_fingerprint, not both"
            raise ValueError(msg)
        if not (self.known_hosts or self.host_key_fingerprint):
            raise ValueError(_HOST_KEY_NEEDED)
        return self

    @property
    def address(self) -> str:
        """``host:port``, for messages (``user@host`` would read as an email address, and be
        redacted as one)."""
        return f"{self.host}:{self.port}"

    def resolved(self, folder: Path) -> Self:
        """This endpoint with relative file settings made absolute against ``folder`` (the
        workspace's), and ``~`` expanded."""
        changes = {
            name: str(folder / Path(value).expanduser())
            for name in ("private_key_file", "known_hosts")
            if (value := getattr(self, name))
        }
        return self.model_copy(update=changes)


def normalise_fingerprint(value: str) -> str:
    """``value`` as OpenSSH prints a SHA256 fingerprint: ``SHA256:`` and 43 base64
    characters, without the ``=`` padding.

    >>> normalise_fingerprint(" SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU= ")
    'SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU'

    Raises:
        ValueError: it is not one, such as an MD5 fingerprint (``aa:bb:…``).
    """
    found = _FINGERPRINT.fullmatch(value.strip())
    if found is None or not _decodes(found[1]):
        msg = (
            'host_key_fingerprint must be a SHA256 fingerprint such as "SHA256:47DEQpj8HBSa…", '
            "as ssh-keygen -lf KEY.pub prints it (MD5 fingerprints are not accepted)"
        )
        raise ValueError(msg)
    return f"SHA256:{found[1]}"


def _decodes(text: str) -> bool:
    try:
        return len(base64.b64decode(text + "=", validate=True)) == 32
    except binascii.Error:
        return False
