"""The delivery grammar: each written form reads as the model it means, old forms read as they
did, and what a campaign is stored as reads back unchanged."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.core.campaigns.model import Delivery
from herald.core.campaigns.parse import parse_campaign
from herald.core.campaigns.serialize import campaign_to_doc
from herald.core.schedule import slots_after

GROUPS = {"groups": [{"name": "All", "percent": 100, "destinations": ["files"]}]}


def read(text: str) -> Any:
    doc = {"name": "C", "include": ["S"], "remaining": GROUPS, **yaml.safe_load(text)}
    return parse_campaign(doc)


FORMS = [
    ("delivery: {schedule: once}", Delivery()),
    (
        "delivery: {schedule: once, at: '2026-12-24 18:00', timezone: Europe/London}",
        Delivery("once", at=dt.datetime(2026, 12, 24, 18), timezone="Europe/London"),
    ),
    (
        "delivery: {schedule: recurring, cadence: daily, time: '09:00'}",
        Delivery("recurring", cadence="daily", time=dt.time(9)),
    ),
    (
        "delivery: {schedule: recurring, cadence: weekly, weekdays: [mon, WED], time: '17:30'}",
        Delivery("recurring", cadence="weekly", weekdays=(0, 2), time=dt.time(17, 30)),
    ),
    (
        "delivery: {schedule: recurring, cadence: weekly, weekdays: sun}",
        Delivery("recurring", cadence="weekly", weekdays=(6,)),
    ),
    (
        "delivery: {schedule: recurring, cadence: monthly, day: 31, time: '08:00'}",
        Delivery("recurring", cadence="monthly", day=31, time=dt.time(8)),
    ),
    (
        "delivery: {schedule: recurring, cadence: cron, cron: '0 9 * * 1-5'}",
        Delivery("recurring", cadence="cron", cron="0 9 * * 1-5"),
    ),
    (
        # stored before weekdays existed: weekly on the start's weekday at its time
        "delivery: {schedule: recurring, cadence: weekly, start: '2026-12-01 09:00', "
        "end: {after: 10}}",
        Delivery("recurring", cadence="weekly", start=dt.datetime(2026, 12, 1, 9), end_after=10),
    ),
    (
        "delivery: {schedule: recurring, cadence: daily, start: 2026-12-01, end: 2027-01-31}",
        Delivery(
            "recurring",
            cadence="daily",
            start=dt.datetime(2026, 12, 1),
            end_on=dt.date(2027, 1, 31),
        ),
    ),
    (
        "delivery: {schedule: recurring, cadence: daily, timezone: America/New_York, "
        "start: 2026-12-01 14:00:00+00:00}",
        Delivery(
            "recurring",
            cadence="daily",
            timezone="America/New_York",
            start=dt.datetime(2026, 12, 1, 9),
        ),
    ),
]


@pytest.mark.parametrize(("text", "delivery"), FORMS, ids=[str(i) for i in range(len(FORMS))])
def test_each_form_reads_as_its_model_and_back(text: str, delivery: Delivery) -> None:
    campaign = read(text)

    assert campaign.delivery == delivery
    assert parse_campaign(campaign_to_doc(campaign)) == campaign


def test_launch_date_is_a_date_or_days_after_delivery() -> None:
    fixed = read("launch_date: 2026-12-10")
    after = read("launch_date: {after_days: 3}")

    assert (fixed.launch_date, fixed.launch_after_days) == (dt.date(2026, 12, 10), None)
    assert (after.launch_date, after.launch_after_days) == (None, 3)
    assert parse_campaign(campaign_to_doc(after)) == after
    assert campaign_to_doc(after)["launch_date"] == {"after_days": 3}


def deliveries() -> st.SearchStrategy[Delivery]:
    minutes = st.builds(dt.time, st.integers(0, 23), st.integers(0, 59))
    starts = st.none() | st.datetimes(dt.datetime(2026, 1, 1), dt.datetime(2030, 1, 1)).map(
        lambda d: d.replace(second=0, microsecond=0)
    )
    ends = (
        st.sampled_from([(None, None)])
        | st.tuples(st.dates(dt.date(2026, 1, 1)), st.none())
        | st.tuples(st.none(), st.integers(1, 99))
    )
    zones = st.sampled_from(["UTC", "America/New_York", "Australia/Sydney", "Asia/Kolkata"])

    def recurring(cadence: str, start: Any, end: Any, zone: str, **more: Any) -> Delivery:
        return Delivery(
            "recurring",
            timezone=zone,
            cadence=cadence,  # type: ignore[arg-type]
            start=start,
            end_on=end[0],
            end_after=end[1],
            **more,
        )

    common = {"start": starts, "end": ends, "zone": zones}
    weekdays = st.sets(st.integers(0, 6), min_size=1).map(lambda s: tuple(sorted(s)))
    return st.one_of(
        st.builds(Delivery, st.just("once"), st.none() | starts, zones),
        st.builds(recurring, st.just("daily"), time=st.none() | minutes, **common),
        st.builds(
            recurring,
            st.just("weekly"),
            time=st.none() | minutes,
            weekdays=st.just(()) | weekdays,
            **common,
        ),
        st.builds(
            recurring,
            st.just("monthly"),
            time=st.none() | minutes,
            day=st.none() | st.integers(1, 31),
            **common,
        ),
        st.builds(recurring, st.just("cron"), cron=st.just("*/5 1-3 1,15 * mon-fri"), **common),
    )


@settings(max_examples=200, deadline=None)
@given(delivery=deliveries(), after_days=st.none() | st.integers(0, 30))
def test_what_a_campaign_is_stored_as_reads_back_unchanged(
    delivery: Delivery, after_days: int | None
) -> None:
    campaign = read("{}")
    campaign = type(campaign)(
        **{**campaign.__dict__, "delivery": delivery, "launch_after_days": after_days}
    )

    assert parse_campaign(yaml.safe_load(yaml.safe_dump(campaign_to_doc(campaign)))) == campaign


README = Path(__file__).resolve().parents[2] / "README.md"


def readme_delivery_examples() -> list[str]:
    section = README.read_text(encoding="utf-8").split("### Campaigns", 1)[1].split("\n### ")[0]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)
    lines = [
        line
        for block in blocks[1:]
        for line in block.splitlines()
        if line.startswith("delivery: {")
    ]
    return [*lines, blocks[-1]]


def test_the_readme_delivery_examples_read_and_run() -> None:
    examples = readme_delivery_examples()
    assert len(examples) == 7

    for text in examples:
        campaign = read(text)
        slots = slots_after(
            campaign.delivery, scheduled_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC), after=None
        )
        assert len(slots) == 1, text
    assert read(examples[-1]).delivery.end_after is None
    tuesday = slots_after(
        read(examples[-1]).delivery,
        scheduled_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        after=None,
        count=2,
    )
    assert [s.isoformat() for s in tuesday] == [
        "2026-12-01T14:00:00+00:00",
        "2026-12-08T14:00:00+00:00",
    ]
