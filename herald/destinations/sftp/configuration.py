"""Settings of a ``type = "sftp"`` destination, read from ``[destinations.NAME]``.

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

from herald.destinations.ssh.settings import RemoteFilesSettings

DESTINATION_TYPE = "sftp"


class SftpSettings(RemoteFilesSettings):
    """A ``[destinations.NAME]`` table of ``type = "sftp"`` (every key of
    :class:`RemoteFilesSettings`)."""
