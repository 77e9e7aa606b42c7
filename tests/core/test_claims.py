"""Which groups contend for an address at each destination (pure)."""

from __future__ import annotations

from kinds import KINDS

from herald.core.campaigns.model import AttributeMapping, Campaign
from herald.core.campaigns.parse import parse_campaign
from herald.core.campaigns.validate import Resolved
from herald.core.claims import Contender, email_contests, group_ranks

API, SFTP, CSV = KINDS["klaviyo_api"], KINDS["klaviyo_sftp"], KINDS["csv_file"]
EMAIL = (AttributeMapping("email", "email"),)


def campaign() -> Campaign:
    return parse_campaign(
        {
            "name": "C",
            "include": "V",
            "sub_audiences": [
                {
                    "name": "First",
                    "segment": "S",
                    "groups": [
                        {"name": "A", "percent": 90, "destinations": ["files", "klaviyo"]},
                        {"name": "Hold", "percent": 10, "control": True},
                    ],
                }
            ],
            "remaining": {
                "groups": [
                    {"name": "B", "percent": 50, "destinations": ["klaviyo"]},
                    {"name": "C", "percent": 25, "destinations": ["sftp"]},
                    {"name": "Rest Hold", "percent": 25, "control": True},
                ]
            },
        }
    )


def item(sub: str, group: str, destination: str, kind: object, attributes: tuple) -> Resolved:
    return Resolved(sub, group, destination, kind, attributes, f"C_{group}")  # type: ignore[arg-type]


REST = "All Remaining Recipients"


def test_campaign_order_counts_control_groups() -> None:
    assert list(group_ranks(campaign()).values()) == [0, 1, 2, 3, 4]
    assert group_ranks(campaign())[(REST, "B")] == 2


def test_each_destination_has_its_senders_and_every_control_group() -> None:
    resolved = [
        item("First", "A", "files", CSV, (AttributeMapping("amperity_id", "amperity_id"), *EMAIL)),
        item("First", "A", "klaviyo", API, (AttributeMapping("alt", "email"),)),
        item(REST, "B", "klaviyo", API, EMAIL),
        item(REST, "C", "sftp", SFTP, (AttributeMapping("email", "Email"),)),
    ]

    contests = email_contests(campaign(), resolved)

    # files: A alone sends there, but the controls keep their customers' addresses from it.
    assert contests["files"].contenders == (
        Contender(0, "email", sends=True),
        Contender(1, "email", sends=False),
        Contender(4, "email", sends=False),
    )
    # klaviyo: two sources; a control's customer claims the address under either.
    assert contests["klaviyo"].contenders == (
        Contender(0, "alt", sends=True),
        Contender(1, "alt", sends=False),
        Contender(1, "email", sends=False),
        Contender(2, "email", sends=True),
        Contender(4, "alt", sends=False),
        Contender(4, "email", sends=False),
    )
    assert contests["klaviyo"].senders == (0, 2)
    assert contests["klaviyo"].sources == ("alt", "email")
    assert contests["sftp"].senders == (3,)  # SFTP's email field is "Email"


def test_nothing_to_contend_for() -> None:
    single = parse_campaign(
        {"name": "S", "include": "V", "remaining": {"groups": [
            {"name": "Only", "percent": 100, "destinations": ["files"]}]}}
    )  # fmt: skip
    only = item(REST, "Only", "files", CSV, EMAIL)
    assert email_contests(single, [only]) == {}
    # A destination without an email field: its groups contend for nothing.
    no_email = item("First", "A", "files", CSV, (AttributeMapping("amperity_id", "amperity_id"),))
    assert email_contests(campaign(), [no_email]) == {}
