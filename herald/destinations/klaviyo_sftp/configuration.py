"""Settings of a ``type = "klaviyo_sftp"`` destination: the keys of every SFTP upload
(:class:`RemoteFilesSettings`) with Klaviyo's defaults.

Example ``herald.toml``::

    [destinations.klaviyo_sftp]
    type = "klaviyo_sftp"
    username = "abc123"                              # shown in Klaviyo: Import via SFTP
    private_key_file = "~/.ssh/klaviyo_ed25519"      # its public key added in Klaviyo
    host_key_fingerprint = "SHA256:…"                # or known_hosts = "~/.ssh/known_hosts"
    # host = "sftp.klaviyo.com", port = 22, folder = "/profiles"
    # file_name = "{campaign}_{group}"               # _{date} added for one-time campaigns

Klaviyo's side of the import is partly undocumented (FACTS.md §5): the host, folder and
file names are settings, with what is known as defaults.
"""

from __future__ import annotations

from herald.destinations.ssh.settings import RemoteFilesSettings

DESTINATION_TYPE = "klaviyo_sftp"
KLAVIYO_SFTP_HOST = "sftp.klaviyo.com"


class KlaviyoSftpSettings(RemoteFilesSettings):
    """A ``[destinations.NAME]`` table of ``type = "klaviyo_sftp"``."""

    host: str = KLAVIYO_SFTP_HOST
    """Klaviyo's SFTP import server (a sandbox's address for rehearsal)."""
    folder: str = "/profiles"
    """Klaviyo imports the profile CSVs placed in ``profiles``."""
