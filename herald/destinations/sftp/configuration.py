"""Settings of a ``type = "sftp"`` destination, read from ``[destinations.NAME]``; the
``klaviyo_sftp`` type takes the same keys with Klaviyo's defaults.

Example ``herald.toml``::

    [destinations.partner]
    type = "sftp"
    host = "sftp.example.com"
    port = 22
    username = "herald"
    private_key_file = "~/.ssh/herald_ed25519"   # or private_key_env = "SFTP_KEY"
    # passphrase_env = "SFTP_KEY_PASSPHRASE"
    host_key_fingerprint = "SHA256:…"             # or known_hosts = "~/.ssh/known_hosts"
    folder = "/incoming"
    file_name = "{campaign}_{group}"              # _{date} is added for one-time campaigns
    # protect_formulas = true, split_rows, split_bytes, gzip: as for csv_file
    # throughput = 5                              # MB/s, for estimates until an upload measures it
"""

from __future__ import annotations

import string

from pydantic import Field, field_validator

from herald.destinations.csv_writer import CsvOptions
from herald.destinations.settings import DestinationSettings
from herald.destinations.sftp.endpoint import SftpEndpoint

DESTINATION_TYPE = "sftp"
FILE_NAME_FIELDS = ("campaign", "group", "sub_audience", "date", "run")
"""What a ``file_name`` template may hold, each in braces."""


class SftpSettings(DestinationSettings, SftpEndpoint, CsvOptions):
    """A ``[destinations.NAME]`` table of ``type = "sftp"``: the server and account
    (:class:`SftpEndpoint`' keys), the folder and file names, and how the files are written
    (:class:`CsvOptions`' keys)."""

    folder: str = "/"
    """The folder on the server the files go to, from the account's root: ``/incoming``."""
    file_name: str = "{campaign}_{group}"
    """The files' name without suffix; ``_{date}`` is added for one-time campaigns unless
    the template holds ``{date}``. Fields: campaign, group, sub_audience, date, run."""
    throughput: float = Field(5.0, gt=0)
    """MB per second an upload is expected to reach, for estimates, until a delivery here
    has measured it."""
    connect_seconds: float = Field(2.0, ge=0)
    """Seconds to connect and log in, for estimates."""

    @field_validator("folder")
    @classmethod
    def _folder(cls, value: str) -> str:
        if not value.startswith("/") or "\x00" in value:
            msg = f"folder must be a path on the server starting with /, such as /incoming, not {value!r}"
            raise ValueError(msg)
        return value.rstrip("/") or "/"

    @field_validator("file_name")
    @classmethod
    def _file_name(cls, value: str) -> str:
        try:
            fields = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
        except ValueError:
            fields = ["?"]
        unknown = [name for name in fields if name not in FILE_NAME_FIELDS]
        if unknown or "/" in value or not value.strip():
            msg = (
                f"file_name {value!r} must be a plain name whose fields are among "
                f"{', '.join('{' + f + '}' for f in FILE_NAME_FIELDS)}"
            )
            raise ValueError(msg)
        return value
