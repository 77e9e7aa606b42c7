"""Settings of the destinations that upload files over SFTP (the ``sftp`` and
``klaviyo_sftp`` types): the server and account (:class:`SftpEndpoint`), the folder and the
files' names, how the files are written (:class:`CsvOptions`), and the figures an estimate
starts from. Each type's configuration extends :class:`RemoteFilesSettings` with its defaults."""

from __future__ import annotations

import string

from pydantic import Field, field_validator

from herald.destinations.csv_writer import CsvOptions
from herald.destinations.settings import DestinationSettings
from herald.destinations.ssh.endpoint import SftpEndpoint

FILE_NAME_FIELDS = ("campaign", "group", "sub_audience", "date", "run")
"""What a ``file_name`` template may hold, each in braces."""


class RemoteFilesSettings(DestinationSettings, SftpEndpoint, CsvOptions):
    """A ``[destinations.NAME]`` table of a type that uploads files over SFTP: the server and
    account (:class:`SftpEndpoint`' keys), the folder and file names, and how the files are
    written (:class:`CsvOptions`' keys)."""

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
            msg = (
                "folder must be a path on the server starting with /, such as /incoming, "
                f"not {value!r}"
            )
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
