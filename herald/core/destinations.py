"""What Herald knows about a kind of destination, without talking to any of them.

A destination in ``herald.toml`` has a ``type``; the type's :class:`DestinationKind` (declared
by the type itself, see ``herald.destinations.registry``) decides the attributes pre-filled
for a group (Amperity's "default attributes") and what a group must send.
"""

from __future__ import annotations

from dataclasses import dataclass

from herald.core.campaigns.model import AttributeMapping


@dataclass(frozen=True)
class DestinationKind:
    """A kind of destination.

    Args:
        type: the ``type`` in herald.toml.
        label: the name people know it by.
        default_attributes: pre-filled for each group sent there.
        required_fields: destination fields every group must send.
        is_list: a mirror (a list kept equal to the group) rather than a file sent whole.
        email_field: the destination field that holds the email (normalized as one).
        phone_field: the destination field that holds the phone number.
        identifier_fields: a group must send at least one of these fields, and a record
            with none of them filled is left out (``missing_identifier``): Klaviyo's SFTP
            import needs ``Email``, ``PhoneNumber`` or ``ExternalID`` in every row.
    """

    type: str
    label: str
    default_attributes: tuple[AttributeMapping, ...]
    required_fields: tuple[str, ...] = ()
    is_list: bool = False
    email_field: str = "email"
    phone_field: str = "phone_number"
    identifier_fields: tuple[str, ...] = ()


def is_klaviyo(kind: DestinationKind) -> bool:
    return kind.label == "Klaviyo"
