"""Klaviyo's SFTP import: a group's profiles as a CSV file uploaded to the ``profiles`` folder
of Klaviyo's SFTP server, for audiences too large to wait for the rate-limited API (DESIGN
§1.5; FACTS.md §5).

``factory.py`` is the destination (:class:`KlaviyoSftpDestination`, the ``sftp`` type with
Klaviyo's defaults) and ``configuration.py`` its settings.
"""

from __future__ import annotations

from herald.destinations.klaviyo_sftp.configuration import KlaviyoSftpSettings
from herald.destinations.klaviyo_sftp.factory import KlaviyoSftpDestination

__all__ = ["KlaviyoSftpDestination", "KlaviyoSftpSettings"]
