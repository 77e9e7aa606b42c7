"""Names that would escape the export folder or hide the remainder are refused (pure)."""

from __future__ import annotations

import pytest
from kinds import KINDS

from herald.core.campaigns.parse import parse_campaign
from herald.core.campaigns.validate import validate_campaign
from herald.core.catalog import Catalog
from herald.exceptions import CampaignError

CATALOG = Catalog.from_columns(
    [("Merged_Customers", "amperity_id", "string", ""), ("Merged_Customers", "email", "string", "")]
)
DESTINATIONS = {"files": KINDS["csv_file"]}


def campaign(name: str = "Spring", group: str = "Offer", sub: str = "Subs") -> dict:
    return {
        "name": name,
        "include": ["VIPs"],
        "sub_audiences": [
            {
                "name": sub,
                "segment": "VIPs",
                "groups": [{"name": group, "percent": 100, "destinations": ["files"]}],
            }
        ],
    }


def check(doc: dict) -> None:
    validate_campaign(parse_campaign(doc), CATALOG, DESTINATIONS, lambda _: "active")


@pytest.mark.parametrize("group", ["A/../../x", "a\\b", "..hidden", "x..y"])
def test_group_names_cannot_leave_the_folder(group: str) -> None:
    with pytest.raises(CampaignError, match="cannot be part of a file name") as info:
        check(campaign(group=group))
    assert info.value.location == "sub_audiences[0].groups[0].name"


def test_campaign_name_cannot_leave_the_folder() -> None:
    with pytest.raises(CampaignError, match="cannot be part of a file name"):
        check(campaign(name="../Spring"))


def test_the_remainder_name_is_reserved() -> None:
    with pytest.raises(CampaignError, match="reserved") as info:
        check(campaign(sub="All Remaining Recipients"))
    assert info.value.location == "sub_audiences[0].name"


def test_plain_names_pass() -> None:
    check(campaign(name="Spring Sale 2026", group="Offer A (20% off)"))


def test_a_campaign_built_in_python_round_trips() -> None:
    from herald.core.campaigns.serialize import campaign_to_doc

    doc = {
        "name": "Python Built",
        "include": ["VIPs"],
        "exclude": ["Staff"],
        "first_match_only": False,
        "sub_audiences": [
            {
                "name": "West",
                "where": {
                    "attribute": "Customer_360.state",
                    "op": "in list",
                    "values": ["CA", "WA"],
                },
                "groups": [
                    {
                        "name": "Offer",
                        "percent": 87.5,
                        "destinations": [
                            {
                                "destination": "files",
                                "attributes": ["email", {"given_name": "first_name"}],
                            }
                        ],
                    },
                    {"name": "Holdout", "percent": 12.5, "control": True},
                ],
            }
        ],
        "delivery": {
            "schedule": "recurring",
            "cadence": "weekly",
            "start": "2026-12-01 09:00",
            "end": {"after": 4},
            "timezone": "Europe/Paris",
        },
        "launch_date": "2026-12-02",
    }
    campaign = parse_campaign(doc)
    assert parse_campaign(campaign_to_doc(campaign)) == campaign
