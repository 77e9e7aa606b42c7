"""Any SFTP server: a group's CSV files uploaded to a folder, each run (the machinery is
:mod:`herald.destinations.ssh`, shared with ``klaviyo_sftp``).

``factory.py`` is the destination (:class:`SftpDestination`) and ``configuration.py`` its
settings.
"""

from __future__ import annotations

from herald.destinations.sftp.configuration import SftpSettings
from herald.destinations.sftp.factory import SftpDestination

__all__ = ["SftpDestination", "SftpSettings"]
