"""Every campaign validation error (message and location asserted, nothing stored) and the
naming warnings of Amperity's guidance, through the service on a real workspace."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from herald.cli.main import main
from herald.exceptions import CampaignError
from herald.workspace import Workspace

Doc = dict[str, Any]


def base(name: str) -> Doc:
    """A valid campaign over the example segments."""
    return {
        "kind": "campaign",
        "name": name,
        "include": ["High Value", "Email Opted In"],
        "exclude": ["Do Not Contact"],
        "sub_audiences": [
            {
                "name": "Lapsed",
                "segment": "Lapsed VIPs",
                "groups": [
                    {"name": "Offer", "percent": 90, "destinations": ["files"]},
                    {"name": "Hold", "percent": 10, "control": True},
                ],
            },
            {
                "name": "West",
                "segment": "West Coast Loyalty",
                "groups": [
                    {"name": "Postcard", "percent": 100, "destinations": ["files"]},
                ],
            },
        ],
        "remaining": {"groups": [{"name": "Rest", "percent": 100, "destinations": ["files"]}]},
    }


def stored_names(ws: Workspace) -> set[str]:
    return {s.name for s in ws.store.list("campaign")}


def edit(change: Callable[[Doc], object]) -> Callable[[str], Doc]:
    def make(name: str) -> Doc:
        doc = base(name)
        change(doc)
        return doc

    return make


def lapsed(doc: Doc) -> list[Doc]:
    return doc["sub_audiences"][0]["groups"]


def set_groups(doc: Doc, *groups: Doc) -> None:
    doc["sub_audiences"][0]["groups"] = list(groups)


def offer(name: str = "Offer", percent: object = 90, **more: Any) -> Doc:
    return {"name": name, "percent": percent, "destinations": ["files"], **more}


HOLD = {"name": "Hold", "percent": 10, "control": True}


def recurring(cadence: str, **more: object) -> Doc:
    return {"schedule": "recurring", "cadence": cadence, "start": "2026-12-01 09:00", **more}


G0 = "sub_audiences[0].groups[0]"


def sixty_one(doc: Doc) -> None:
    doc["sub_audiences"] = [
        {
            "name": f"S{i}",
            "where": {"attribute": "Customer_360.state", "op": "is exactly", "value": "CA"},
            "groups": [{"name": f"G{i}", "percent": 100, "control": True}],
        }
        for i in range(61)
    ]


ERRORS = [
    (
        "percentages-total-90",
        edit(lambda d: lapsed(d)[0].update(percent=80)),
        "percentages of 'Lapsed' total 90 %, not 100 %",
        "sub_audiences[0].groups",
    ),
    (
        "percentages-total-99.99",
        edit(lambda d: set_groups(d, offer("A", 33.33), offer("B", 33.33), offer("C", "33.33"))),
        "percentages of 'Lapsed' total 99.99 %, not 100 %",
        "sub_audiences[0].groups",
    ),
    (
        "remainder-total-110",
        edit(lambda d: d["remaining"]["groups"].append(offer("More", 10))),
        "percentages of 'All Remaining Recipients' total 110 %, not 100 %",
        "remaining.groups",
    ),
    (
        "group-name-starts-with-underscore",
        edit(lambda d: lapsed(d)[0].update(name="_Offer")),
        "group name '_Offer' starts with '_'",
        f"{G0}.name",
    ),
    (
        "duplicate-sub-audience-names",
        edit(lambda d: d["sub_audiences"][1].update(name="Lapsed")),
        "two sub-audiences are named 'Lapsed'; names must be unique",
        "sub_audiences",
    ),
    (
        "duplicate-group-names",
        edit(lambda d: lapsed(d)[1].update(name="Offer")),
        "two group in 'Lapsed's are named 'Offer'",
        "sub_audiences[0].groups",
    ),
    (
        "space-and-underscore-same-file",
        edit(lambda d: set_groups(d, offer("Offer A", 50), offer("Offer_A", 50))),
        "groups 'Lapsed / Offer A' and 'Lapsed / Offer_A' both become 'C_Offer_A' in destination "
        "'files'; rename one",
        "sub_audiences[0].groups[1].name",
    ),
    (
        "same-group-name-in-two-sub-audiences",
        edit(lambda d: d["sub_audiences"][1]["groups"][0].update(name="Offer")),
        "groups 'Lapsed / Offer' and 'West / Offer' both become 'C_Offer' in destination 'files'",
        "sub_audiences[1].groups[0].name",
    ),
    (
        "remainder-group-same-file-as-a-sub-audience-group",
        edit(lambda d: d["remaining"]["groups"][0].update(name="Postcard")),
        "groups 'West / Postcard' and 'All Remaining Recipients / Postcard' both become "
        "'C_Postcard'",
        "remaining.groups[0].name",
    ),
    (
        "unknown-include-segment",
        edit(lambda d: d["include"].append("Hihg Value")),
        "unknown segment 'Hihg Value'",
        "include[2]",
    ),
    (
        "unknown-exclude-segment",
        edit(lambda d: d["exclude"].append("Nobody")),
        "unknown segment 'Nobody'",
        "exclude[1]",
    ),
    (
        "unknown-sub-audience-segment",
        edit(lambda d: d["sub_audiences"][1].update(segment="West Coast")),
        "unknown segment 'West Coast'",
        "sub_audiences[1].segment",
    ),
    (
        "draft-segment",
        edit(lambda d: d["include"].append("Draft Idea")),
        "segment 'Draft Idea' is a draft; activate it with `herald segment activate 'Draft Idea'`",
        "include[2]",
    ),
    (
        "61-sub-audiences",
        edit(sixty_one),
        "61 sub-audiences; a campaign has at most 60",
        "sub_audiences",
    ),
    (
        "attribute-column-missing",
        edit(
            lambda d: lapsed(d)[0].update(
                destinations=[{"destination": "files", "attributes": ["amperity_id", "emial"]}]
            )
        ),
        "attribute 'emial': table 'Merged_Customers' has no column 'emial'. Did you mean 'email'?",
        f"{G0}.destinations[0].attributes[1]",
    ),
    (
        "attribute-column-missing-in-named-table",
        edit(
            lambda d: lapsed(d)[0].update(
                destinations=[
                    {"destination": "files", "attributes": [{"Customer_360.loyalty_teir": "tier"}]}
                ]
            )
        ),
        "attribute 'Customer_360.loyalty_teir': table 'Customer_360' has no column "
        "'loyalty_teir'. Did you mean 'loyalty_tier'?",
        f"{G0}.destinations[0].attributes[0]",
    ),
    (
        "attribute-table-missing",
        edit(
            lambda d: lapsed(d)[0].update(
                destinations=[{"destination": "files", "attributes": ["Merged_Customer.email"]}]
            )
        ),
        "attribute 'Merged_Customer.email': unknown table 'Merged_Customer'. "
        "Did you mean 'Merged_Customers'?",
        f"{G0}.destinations[0].attributes[0]",
    ),
    (
        "klaviyo-without-email",
        edit(
            lambda d: lapsed(d)[0].update(
                destinations=[{"destination": "klaviyo", "attributes": ["given_name", "phone"]}]
            )
        ),
        "group 'Offer' sends to Klaviyo destination 'klaviyo' without an 'email' attribute",
        f"{G0}.destinations[0].attributes",
    ),
    (
        "klaviyo-sftp-without-an-identifier",
        edit(
            lambda d: lapsed(d)[0].update(
                destinations=[
                    {"destination": "sftp_import", "attributes": ["given_name", "surname"]}
                ]
            )
        ),
        "group 'Offer' sends to Klaviyo destination 'sftp_import' without any of the fields "
        "Email, PhoneNumber, ExternalID; map at least one, e.g. '{email: Email}'",
        f"{G0}.destinations[0].attributes",
    ),
    (
        "unknown-destination",
        edit(lambda d: lapsed(d)[0].update(destinations=["file"])),
        "unknown destination 'file'. Did you mean 'files'? "
        "Destinations in herald.toml: files, klaviyo, sftp_import",
        f"{G0}.destinations[0]",
    ),
    (
        "two-control-groups",
        edit(
            lambda d: set_groups(
                d, offer("Offer", 80), {**HOLD, "name": "Hold 1"}, {**HOLD, "name": "Hold 2"}
            )
        ),
        "'Lapsed' has 2 control groups; at most one is allowed",
        "sub_audiences[0].groups[2]",
    ),
    (
        "control-group-with-destinations",
        edit(lambda d: lapsed(d)[1].update(destinations=["files"])),
        "control group 'Hold' is never sent; remove its destinations",
        "sub_audiences[0].groups[1].destinations",
    ),
    (
        "group-without-destination",
        edit(lambda d: lapsed(d)[0].pop("destinations")),
        "group 'Offer' has no destination; add one, or mark it control: true",
        f"{G0}.destinations",
    ),
    (
        "recurring-without-cadence",
        edit(lambda d: d.update(delivery={"schedule": "recurring", "start": "2026-12-01 09:00"})),
        "recurring delivery needs cadence: daily, weekly, monthly or cron",
        "delivery.cadence",
    ),
    (
        "cron-with-four-fields",
        edit(
            lambda d: d.update(
                delivery={"schedule": "recurring", "cadence": "cron", "cron": "0 9 * *"}
            )
        ),
        "cron '0 9 * *' must have 5 fields: minute hour day month weekday",
        "delivery.cron",
    ),
    (
        "cron-cadence-without-cron",
        edit(lambda d: d.update(delivery={"schedule": "recurring", "cadence": "cron"})),
        "give 'cron' (5 fields) exactly when cadence is cron",
        "delivery.cron",
    ),
    (
        "cron-out-of-range",
        edit(
            lambda d: d.update(
                delivery={"schedule": "recurring", "cadence": "cron", "cron": "75 9 * * *"}
            )
        ),
        "cron '75 9 * * *': minute 75 is not between 0 and 59",
        "delivery.cron",
    ),
    (
        "cadence-on-a-one-time-delivery",
        edit(lambda d: d.update(delivery={"schedule": "once", "cadence": "daily"})),
        "'cadence' is for recurring delivery; this one is once",
        "delivery.cadence",
    ),
    (
        "unknown-time-zone",
        edit(lambda d: d.update(delivery={"schedule": "once", "timezone": "America/Los Angeles"})),
        "unknown time zone 'America/Los Angeles'. Did you mean 'America/Los_Angeles'?",
        "delivery.timezone",
    ),
    (
        "time-on-a-cron-delivery",
        edit(lambda d: d.update(delivery=recurring("cron", cron="0 9 * * *", time="10:00"))),
        "'time' is for daily, weekly or monthly delivery; this one is cron: "
        "put the time in the cron expression instead",
        "delivery.time",
    ),
    (
        "weekdays-on-a-daily-delivery",
        edit(lambda d: d.update(delivery=recurring("daily", weekdays=["mon"]))),
        "'weekdays' is for weekly delivery; this one is daily: use cadence: weekly, or remove it",
        "delivery.weekdays",
    ),
    (
        "day-on-a-weekly-delivery",
        edit(lambda d: d.update(delivery=recurring("weekly", day=15))),
        "'day' is for monthly delivery; this one is weekly: use cadence: monthly, or remove it",
        "delivery.day",
    ),
    (
        "time-on-a-one-time-delivery",
        edit(lambda d: d.update(delivery={"schedule": "once", "time": "09:00"})),
        "'time' is for recurring delivery; this one is once",
        "delivery.time",
    ),
    (
        "time-past-midnight",
        edit(lambda d: d.update(delivery=recurring("daily", time="24:00"))),
        "time must be \"HH:MM\" (24-hour, quoted), got '24:00'",
        "delivery.time",
    ),
    (
        "time-as-a-number",
        edit(lambda d: d.update(delivery=recurring("daily", time=570))),
        'time must be "HH:MM" (24-hour, quoted), got 570',
        "delivery.time",
    ),
    (
        "unknown-weekday-name",
        edit(lambda d: d.update(delivery=recurring("weekly", weekdays=["mon", "funday"]))),
        "weekday 'funday' is not a day; use mon, tue, wed, thu, fri, sat, sun "
        "or 0 (Monday) to 6 (Sunday)",
        "delivery.weekdays[1]",
    ),
    (
        "weekday-number-seven",
        edit(lambda d: d.update(delivery=recurring("weekly", weekdays=[7]))),
        "weekday 7 is not a day",
        "delivery.weekdays[0]",
    ),
    (
        "no-weekdays",
        edit(lambda d: d.update(delivery=recurring("weekly", weekdays=[]))),
        "'weekdays' needs at least one day, such as [mon, thu]",
        "delivery.weekdays",
    ),
    (
        "day-32",
        edit(lambda d: d.update(delivery=recurring("monthly", day=32))),
        "day must be a day of the month from 1 to 31 (29-31 mean the last day of shorter "
        "months), got 32",
        "delivery.day",
    ),
    (
        "day-as-text",
        edit(lambda d: d.update(delivery=recurring("monthly", day="last"))),
        "day must be a day of the month from 1 to 31",
        "delivery.day",
    ),
    (
        "launch-date-after-negative-days",
        edit(lambda d: d.update(launch_date={"after_days": -1})),
        "'launch_date: {after_days: N}' needs a whole number of days ≥ 0, got -1",
        "launch_date.after_days",
    ),
    (
        "launch-date-with-an-unknown-key",
        edit(lambda d: d.update(launch_date={"days": 3})),
        "launch_date takes a date YYYY-MM-DD or {after_days: N}",
        "launch_date",
    ),
    (
        "launch-date-not-a-date",
        edit(lambda d: d.update(launch_date="next week")),
        "expected a date YYYY-MM-DD, got 'next week'",
        "launch_date",
    ),
    (
        "percent-with-three-decimals",
        edit(lambda d: set_groups(d, offer("Offer", "89.995"), {**HOLD, "percent": "10.005"})),
        "percent 89.995 has more than two decimals",
        f"{G0}.percent",
    ),
    (
        "percent-above-100",
        edit(lambda d: set_groups(d, offer("Offer", 110), {**HOLD, "percent": -10})),
        "percent 110 is not between 0 and 100",
        f"{G0}.percent",
    ),
    (
        "percent-as-text",
        edit(lambda d: lapsed(d)[0].update(percent="ninety")),
        "percent must be a number, got 'ninety'",
        f"{G0}.percent",
    ),
    (
        "percent-as-boolean",
        edit(lambda d: lapsed(d)[0].update(percent=True)),
        "percent must be a number, got True",
        f"{G0}.percent",
    ),
    (
        "percent-missing",
        edit(lambda d: lapsed(d)[0].pop("percent")),
        "group 'Offer' needs a 'percent'",
        f"{G0}.percent",
    ),
]


@pytest.mark.parametrize(
    ("make", "message", "location"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS]
)
def test_each_error_names_the_problem_and_its_place_and_stores_nothing(
    shared_ws: Workspace, make: Callable[[str], Doc], message: str, location: str
) -> None:
    doc = make("C")
    before = stored_names(shared_ws)

    with pytest.raises(CampaignError) as caught:
        shared_ws.campaigns.apply(doc, source="c.yaml")

    assert message in caught.value.message
    assert caught.value.location == location
    assert str(caught.value) == f"c.yaml: at {location}: {caught.value.message}"
    assert stored_names(shared_ws) == before


def test_the_base_campaign_is_valid(shared_ws: Workspace) -> None:
    """The documents above differ from a valid campaign by one change each."""
    warnings = shared_ws.campaigns.validate(shared_ws.campaigns.parse(base("Valid Base")))
    assert warnings == []


@pytest.mark.parametrize(
    "change",
    [
        lambda d: None,
        lambda d: d.update(
            sub_audiences=[
                {
                    "name": f"S{i}",
                    "where": {"attribute": "Customer_360.state", "op": "is exactly", "value": "CA"},
                    "groups": [{"name": f"G{i}", "percent": 100, "control": True}],
                }
                for i in range(60)
            ]
        ),
        lambda d: d["sub_audiences"][1]["groups"][0].update(name="Offer", destinations=["klaviyo"]),
        lambda d: set_groups(
            d, offer("Offer", "33.33"), offer("Offer B", 33.33), {**HOLD, "percent": "33.34"}
        ),
        lambda d: set_groups(d, offer("Offer", 0), {**HOLD, "percent": 100}),
        lambda d: d.update(
            delivery={
                "schedule": "recurring",
                "cadence": "cron",
                "cron": "*/15 9-17 1,15 * MON-FRI",
                "timezone": "Europe/Paris",
                "end": {"after": 3},
            }
        ),
        lambda d: d.update(delivery=recurring("weekly", weekdays=["Mon", "wednesday", 4])),
        lambda d: d.update(delivery=recurring("monthly", day=31, time="23:30")),
        lambda d: d.update(delivery=recurring("daily", time="7:05", end="2027-06-30")),
        lambda d: d.update(launch_date={"after_days": 3}),
    ],
    ids=[
        "base",
        "exactly-60-sub-audiences",
        "same-group-name-to-different-destinations",
        "percent-as-text-and-two-decimals",
        "a-zero-percent-group",
        "cron-with-ranges-steps-and-names",
        "weekly-on-named-and-numbered-days",
        "monthly-on-the-31st",
        "daily-at-a-time-until-a-date",
        "launch-date-days-after-delivery",
    ],
)
def test_valid_variants_are_stored(
    shared_ws: Workspace, change: Callable[[Doc], object], request: pytest.FixtureRequest
) -> None:
    name = f"Valid {request.node.callspec.id}"
    doc = base(name)
    change(doc)

    result, _warnings = shared_ws.campaigns.apply(doc)

    assert result.action == "created"
    assert name in stored_names(shared_ws)


def test_a_bad_campaign_in_a_folder_stores_nothing_at_all(
    shared_ws: Workspace, tmp_path: Path
) -> None:
    """``herald apply -f DIR`` checks everything first: a new segment beside a bad campaign
    is not written either."""
    (tmp_path / "a-segment.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "Brand New",
                "status": "active",
                "where": {"attribute": "Customer_360.state", "op": "is exactly", "value": "WA"},
            }
        )
    )
    bad = base("Folder Campaign")
    bad["include"] = ["Brand New", "Hihg Value"]
    (tmp_path / "b-campaign.yaml").write_text(yaml.safe_dump(bad))
    segments_before = {s.name for s in shared_ws.store.list("segment")}

    result = CliRunner().invoke(
        main, ["apply", "-f", str(tmp_path), "--workspace", str(shared_ws.root)]
    )

    assert result.exit_code == 1, result.output
    assert "b-campaign.yaml: at include[1]: unknown segment 'Hihg Value'" in result.output
    assert {s.name for s in shared_ws.store.list("segment")} == segments_before
    assert "Folder Campaign" not in stored_names(shared_ws)


# --- warnings ----------------------------------------------------------------------------------


def warnings_of(ws: Workspace, doc: Doc) -> list[tuple[str | None, str]]:
    return [(w.location, w.message) for w in ws.campaigns.validate(ws.campaigns.parse(doc))]


def simple(name: str, groups: list[Doc]) -> Doc:
    return {"name": name, "include": ["High Value"], "remaining": {"groups": groups}}


def test_words_of_the_campaign_name_repeated_in_a_group_name_warn(shared_ws: Workspace) -> None:
    doc = simple("Spring Sale", [offer("Spring Offer", 50), offer("SALE-2", 50)])

    assert warnings_of(shared_ws, doc) == [
        (
            "remaining.groups[0].name",
            "group 'Spring Offer' repeats 'Spring' from the campaign name; "
            "list names already start with it",
        ),
        (
            "remaining.groups[1].name",
            "group 'SALE-2' repeats 'SALE' from the campaign name; "
            "list names already start with it",
        ),
    ]


def test_klaviyo_in_a_campaign_name_not_sent_only_to_klaviyo_warns(shared_ws: Workspace) -> None:
    doc = simple("Klaviyo Welcome", [offer("Offer", 100)])

    assert warnings_of(shared_ws, doc) == [
        ("name", "campaign name 'Klaviyo Welcome' says Klaviyo but it is not sent only to Klaviyo"),
    ]


@pytest.mark.parametrize(
    ("destinations", "warned"),
    [(["files"], True), (["klaviyo", "files"], True), (["klaviyo"], False)],
    ids=["files-only", "klaviyo-and-files", "klaviyo-only"],
)
def test_klaviyo_in_a_group_name_warns_unless_sent_only_to_klaviyo(
    shared_ws: Workspace, destinations: list[str], warned: bool
) -> None:
    doc = simple(
        "Welcome", [{"name": "Klaviyo List", "percent": 100, "destinations": destinations}]
    )

    expected = [
        (
            "remaining.groups[0].name",
            "group 'Klaviyo List' says Klaviyo but is not sent only to Klaviyo",
        )
    ]
    assert warnings_of(shared_ws, doc) == (expected if warned else [])


def test_no_klaviyo_warning_when_everything_goes_only_to_klaviyo(shared_ws: Workspace) -> None:
    doc = simple(
        "Klaviyo Welcome",
        [
            {"name": "Offer A", "percent": 90, "destinations": ["klaviyo"]},
            {"name": "Hold", "percent": 10, "control": True},
        ],
    )

    assert warnings_of(shared_ws, doc) == []


def test_warnings_do_not_stop_apply_and_the_cli_prints_them(
    shared_ws: Workspace, tmp_path: Path
) -> None:
    file = tmp_path / "spring.yaml"
    file.write_text(
        yaml.safe_dump(
            {**simple("Spring Klaviyo Push", [offer("Spring Offer", 100)]), "kind": "campaign"}
        )
    )
    runner = CliRunner()

    checked = runner.invoke(
        main, ["campaign", "validate", "-f", str(file), "--workspace", str(shared_ws.root)]
    )
    applied = runner.invoke(
        main, ["campaign", "apply", "-f", str(file), "--workspace", str(shared_ws.root)]
    )

    assert checked.exit_code == 0, checked.output
    assert "Warning: at name: campaign name 'Spring Klaviyo Push' says Klaviyo" in checked.stderr
    assert (
        "Warning: at remaining.groups[0].name: group 'Spring Offer' repeats 'Spring'"
        in checked.stderr
    )
    assert "Campaign 'Spring Klaviyo Push' is valid (2 warning(s))." in checked.stdout
    assert applied.exit_code == 0, applied.output
    assert "version 1 (created)" in applied.stdout
    assert "Spring Klaviyo Push" in stored_names(shared_ws)


def test_cli_validate_reports_an_error_with_file_and_location(
    shared_ws: Workspace, tmp_path: Path
) -> None:
    doc = base("Broken")
    lapsed(doc)[0]["percent"] = 85
    file = tmp_path / "broken.yaml"
    file.write_text(yaml.safe_dump(doc))

    result = CliRunner().invoke(
        main, ["campaign", "apply", "-f", str(file), "--workspace", str(shared_ws.root)]
    )

    assert result.exit_code == 1
    assert (
        f"{file}: at sub_audiences[0].groups: percentages of 'Lapsed' total 95 %, not 100 %"
        in " ".join(result.output.split())
    )
    assert "Broken" not in stored_names(shared_ws)


def test_stored_definition_is_what_was_written(shared_ws: Workspace) -> None:
    doc = base("Round Trip")
    shared_ws.campaigns.apply(copy.deepcopy(doc))

    campaign, version = shared_ws.campaigns.load("Round Trip")

    assert version == 1
    assert campaign == shared_ws.campaigns.parse(doc)
