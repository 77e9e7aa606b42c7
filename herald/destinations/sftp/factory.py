"""The ``sftp`` destination: a group's CSV files uploaded to a folder of any SFTP server (see
:mod:`herald.destinations.ssh.files`)."""

from __future__ import annotations

from typing import ClassVar

from herald.core.campaigns.model import AttributeMapping
from herald.core.destinations import DestinationKind
from herald.destinations.sftp.configuration import DESTINATION_TYPE, SftpSettings
from herald.destinations.ssh.files import RemoteFilesDestination


class SftpDestination(RemoteFilesDestination):
    """CSV files with exactly the group's fields as headers, on an SFTP server."""

    type: ClassVar[str] = DESTINATION_TYPE
    kind: ClassVar[DestinationKind] = DestinationKind(
        DESTINATION_TYPE,
        "SFTP",
        (AttributeMapping("amperity_id", "amperity_id"), AttributeMapping("email", "email")),
    )
    settings_model = SftpSettings
