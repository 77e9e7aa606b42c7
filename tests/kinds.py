"""Destination kinds for tests: the registered ones, and an SFTP-like kind (CSV headers
``Email`` and ``PhoneNumber``) that the SFTP destination will declare, for pure logic tests."""

from __future__ import annotations

from herald.core.campaigns.model import AttributeMapping
from herald.core.destinations import DestinationKind
from herald.destinations.registry import kinds

KINDS: dict[str, DestinationKind] = {
    **kinds(),
    "klaviyo_sftp": DestinationKind(
        "klaviyo_sftp",
        "Klaviyo",
        (AttributeMapping("email", "Email"),),
        email_field="Email",
        phone_field="PhoneNumber",
        identifier_fields=("Email", "PhoneNumber", "ExternalID"),
    ),
}
