"""What Herald knows about each kind of destination, without talking to any of them.

A destination in ``herald.toml`` has a ``type``; the type decides the attributes pre-filled
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
    """

    type: str
    label: str
    default_attributes: tuple[AttributeMapping, ...]
    required_fields: tuple[str, ...] = ()
    is_list: bool = False


KINDS: dict[str, DestinationKind] = {
    kind.type: kind
    for kind in [
        DestinationKind(
            "klaviyo_api",
            "Klaviyo",
            (AttributeMapping("email", "email"),),
            required_fields=("email",),
            is_list=True,
        ),
        DestinationKind(
            "klaviyo_sftp",
            "Klaviyo",
            (AttributeMapping("email", "Email"),),
            required_fields=("Email",),
        ),
        DestinationKind(
            "csv_file",
            "CSV file",
            (AttributeMapping("amperity_id", "amperity_id"), AttributeMapping("email", "email")),
        ),
    ]
}


def is_klaviyo(kind: DestinationKind) -> bool:
    return kind.label == "Klaviyo"
