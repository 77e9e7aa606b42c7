"""The ``klaviyo_sftp`` destination: CSV files uploaded over SFTP (:mod:`herald.destinations.
ssh.files`) with Klaviyo's headers and folder.

Klaviyo reads profiles from CSV files whose header names are exactly ``Email``,
``PhoneNumber`` and ``ExternalID`` (at least one of them); so a group must map one of them,
and a record with none of them filled is left out (``missing_identifier``).
"""

from __future__ import annotations

from typing import ClassVar

from herald.core.campaigns.model import AttributeMapping
from herald.core.destinations import DestinationKind
from herald.destinations.klaviyo_sftp.configuration import DESTINATION_TYPE, KlaviyoSftpSettings
from herald.destinations.ssh.files import RemoteFilesDestination

IDENTIFIERS = ("Email", "PhoneNumber", "ExternalID")


class KlaviyoSftpDestination(RemoteFilesDestination):
    """Profile CSVs uploaded to Klaviyo's SFTP import folder."""

    type: ClassVar[str] = DESTINATION_TYPE
    kind: ClassVar[DestinationKind] = DestinationKind(
        DESTINATION_TYPE,
        "Klaviyo",
        (
            AttributeMapping("email", "Email"),
            AttributeMapping("phone", "PhoneNumber"),
            AttributeMapping("amperity_id", "ExternalID"),
        ),
        email_field="Email",
        phone_field="PhoneNumber",
        identifier_fields=IDENTIFIERS,
    )
    settings_model = KlaviyoSftpSettings
