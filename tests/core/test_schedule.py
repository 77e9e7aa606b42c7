"""The next-run computation (herald.core.schedule) against the minute-stepping oracle, across
daylight-saving changes, month ends and leap days, with every start and end; then the famous
cases one by one."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracles import schedule as oracle

from herald.core.campaigns.model import Campaign, Delivery
from herald.core.schedule import Due, due_slot, launch_date, resolve, slots_after

UTC = dt.UTC
NY = "America/New_York"
ZONES = [NY, "Europe/London", "Australia/Sydney", "Asia/Kolkata", "UTC"]
CHANGES = {
    NY: ["2026-03-08", "2026-11-01", "2027-03-14", "2027-11-07", "2028-03-12", "2028-11-05"],
    "Europe/London": [
        "2026-03-29",
        "2026-10-25",
        "2027-03-28",
        "2027-10-31",
        "2028-03-26",
        "2028-10-29",
    ],
    "Australia/Sydney": [
        "2026-04-05",
        "2026-10-04",
        "2027-04-04",
        "2027-10-03",
        "2028-04-02",
        "2028-10-01",
    ],
    "Asia/Kolkata": [],
    "UTC": [],
}
"""The days the clocks change, 2026-2028: where the examples are drawn around."""
MONTH_ENDS = ["2027-02-28", "2028-02-28", "2028-02-29", "2027-04-30", "2027-12-31", "2028-01-31"]
WINDOW = dt.timedelta(days=2)
EXAMPLES = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CADENCES = pytest.mark.parametrize("cadence", ["once", "daily", "weekly", "monthly", "cron"])

CRON_MINUTES = ["0", "30", "0,30", "*/20", "15-45/15", "59"]
CRON_HOURS = ["*", "0", "1", "2", "3", "1-3", "*/6", "9", "2,14"]
CRON_DAYS = ["*", "*", "*", "*", "1", "15", "28-31", "31", "*/2", "29"]
CRON_MONTHS = ["*", "*", "*", "*", "*", "2", "*/3", "3,4,10,11", "1-6"]
CRON_WEEKDAYS = ["*", "*", "*", "*", "0", "1-5", "sun,sat", "7", "MON"]


def test_the_change_days_are_change_days() -> None:
    """Guards the strategies: each listed day has two offsets, and others in 2027 do not."""
    for name, days in CHANGES.items():
        zone = ZoneInfo(name)
        changed = [
            day.isoformat()
            for day in (dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in range(3 * 366))
            if day.year < 2029
            and dt.datetime.combine(day, dt.time(0), zone).utcoffset()
            != dt.datetime.combine(day, dt.time(23, 59), zone).utcoffset()
        ]
        assert changed == days, name


@st.composite
def focus(draw: st.DrawFn, zone: str) -> dt.date:
    """A local day worth looking at: a clock change, a month end, a leap day, or any day."""
    days = [*CHANGES[zone], *MONTH_ENDS]
    picked = draw(st.sampled_from(days) | st.just(None))
    if picked is None:
        return draw(st.dates(dt.date(2026, 1, 1), dt.date(2030, 12, 31)))
    return dt.date.fromisoformat(picked)


def times() -> st.SearchStrategy[dt.time]:
    hours = st.sampled_from([0, 1, 2, 3]) | st.integers(0, 23)
    mins = st.sampled_from([0, 30, 59]) | st.integers(0, 59)
    return st.builds(dt.time, hours, mins)


@st.composite
def deliveries(draw: st.DrawFn, cadence: str | None = None) -> tuple[Delivery, dt.date]:
    zone = draw(st.sampled_from(ZONES))
    day = draw(focus(zone))
    cadence = cadence or draw(st.sampled_from(["once", "daily", "weekly", "monthly", "cron"]))
    if cadence == "once":
        at = draw(st.none() | st.builds(dt.datetime.combine, st.just(day), times()))
        return Delivery("once", at=at, timezone=zone), day
    start = draw(
        st.none()
        | st.builds(
            dt.datetime.combine,
            st.sampled_from([day - dt.timedelta(days=1)] * 2 + [day, day + dt.timedelta(days=1)]),
            times(),
        )
    )
    end_on, end_after = draw(
        st.sampled_from([(None, None)])
        | st.tuples(
            st.sampled_from([day - dt.timedelta(days=1), day, day + dt.timedelta(1)]), st.none()
        )
        | st.tuples(st.none(), st.integers(1, 4))
    )
    more = draw(rules(cadence, day))
    delivery = Delivery(
        "recurring",
        timezone=zone,
        cadence=cadence,  # type: ignore[arg-type]
        start=start,
        end_on=end_on,
        end_after=end_after,
        **more,
    )
    return delivery, day


@st.composite
def rules(draw: st.DrawFn, cadence: str, day: dt.date) -> dict[str, object]:
    """time, weekdays, day or cron: often the focus day's own, sometimes left to default."""
    if cadence == "cron":
        fields = [CRON_MINUTES, CRON_HOURS, CRON_DAYS, CRON_MONTHS, CRON_WEEKDAYS]
        return {"cron": " ".join(draw(st.sampled_from(f)) for f in fields)}
    out: dict[str, object] = {"time": draw(st.none() | times())}
    if cadence == "weekly":
        own = (day.weekday(),)
        many = st.sets(st.integers(0, 6), min_size=1).map(lambda s: tuple(sorted(s)))
        out["weekdays"] = draw(st.sampled_from([(), own, own, draw(many)]))
    if cadence == "monthly":
        near = [day.day, day.day, day.day, (day + dt.timedelta(days=1)).day, 29, 30, 31, None]
        out["day"] = draw(st.sampled_from([*near, draw(st.integers(1, 31))]))
    return out


@st.composite
def moments(draw: st.DrawFn, day: dt.date) -> dt.datetime:
    """An instant within a day of the focus day, sometimes with seconds."""
    base = dt.datetime.combine(day, dt.time(), UTC)
    offset = draw(st.integers(-24 * 60, 24 * 60))
    seconds = draw(st.sampled_from([0, 0, 0, 30]))
    return base + dt.timedelta(minutes=offset, seconds=seconds)


def window(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    middle = dt.datetime.combine(day, dt.time(12), UTC)
    return middle - WINDOW, middle + WINDOW


def upto(slots: list[dt.datetime], hi: dt.datetime) -> list[dt.datetime]:
    return [s for s in slots if s <= hi]


@CADENCES
@EXAMPLES
@given(data=st.data())
def test_slots_from_the_start_are_the_oracles(data: st.DataObject, cadence: str) -> None:
    delivery, day = data.draw(deliveries(cadence))
    scheduled_at = data.draw(moments(day))
    lo, hi = window(day)

    expected = oracle.slots_after(
        delivery, scheduled_at=scheduled_at, after=None, sends=0, lo=lo, hi=hi
    )
    got = slots_after(delivery, scheduled_at=scheduled_at, after=None, count=len(expected) + 1)

    assert upto(got, hi) == expected
    assert all(s.tzinfo is UTC and s.second == 0 and s.microsecond == 0 for s in got)


@CADENCES
@EXAMPLES
@given(data=st.data())
def test_slots_after_a_moment_are_the_oracles(data: st.DataObject, cadence: str) -> None:
    delivery, day = data.draw(deliveries(cadence))
    lo, hi = window(day)
    scheduled_at = data.draw(st.sampled_from([lo, *([data.draw(moments(day))])]))
    after = data.draw(moments(day))
    sends = data.draw(st.integers(0, 2))

    expected = oracle.slots_after(
        delivery, scheduled_at=scheduled_at, after=after, sends=sends, lo=lo, hi=hi
    )
    got = slots_after(
        delivery, scheduled_at=scheduled_at, after=after, sends=sends, count=len(expected) + 1
    )

    assert upto(got, hi) == expected
    if delivery.end_after is not None and len(expected) == delivery.end_after - sends:
        assert got == expected  # the schedule ends there


@CADENCES
@EXAMPLES
@given(data=st.data())
def test_due_slot_is_the_latest_slot_and_collapses_the_rest(
    data: st.DataObject, cadence: str
) -> None:
    delivery, day = data.draw(deliveries(cadence))
    lo, hi = window(day)
    scheduled_at = data.draw(st.sampled_from([lo, data.draw(moments(day))]))
    last = data.draw(st.none() | moments(day))
    now = data.draw(moments(day))
    sends = data.draw(st.integers(0, 2))
    grace = data.draw(
        st.sampled_from([dt.timedelta(0), dt.timedelta(minutes=30), dt.timedelta(hours=6)])
    )

    slots = [
        s
        for s in oracle.slots_after(
            delivery, scheduled_at=scheduled_at, after=last, sends=sends, lo=lo, hi=hi
        )
        if s <= now
    ]
    expected = Due(slots[-1], now - slots[-1] > grace, len(slots) - 1) if slots else None

    got = due_slot(
        delivery, scheduled_at=scheduled_at, last_slot=last, now=now, sends=sends, grace=grace
    )

    assert got == expected


@settings(max_examples=40, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    wall=st.datetimes(dt.datetime(2026, 1, 1), dt.datetime(2029, 1, 1)).map(
        lambda w: w.replace(second=0, microsecond=0)
    ),
)
def test_a_wall_time_runs_at_the_first_minute_at_or_after_it(zone: str, wall: dt.datetime) -> None:
    assert resolve(wall, ZoneInfo(zone)) == oracle.first_at_or_after(wall, ZoneInfo(zone))


# --- the famous cases -------------------------------------------------------------------------

SCHEDULED = dt.datetime(2026, 1, 1, tzinfo=UTC)


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


def daily(zone: str, start: dt.datetime, **more: object) -> Delivery:
    return Delivery("recurring", cadence="daily", timezone=zone, start=start, **more)  # type: ignore[arg-type]


def first(
    delivery: Delivery, count: int = 3, after: dt.datetime | None = None
) -> list[dt.datetime]:
    return slots_after(delivery, scheduled_at=SCHEDULED, after=after, count=count)


def test_0230_new_york_on_the_spring_day_runs_at_0300_edt() -> None:
    delivery = daily(NY, dt.datetime(2027, 3, 13, 2, 30))

    assert first(delivery) == [
        utc(2027, 3, 13, 7, 30),
        utc(2027, 3, 14, 7),
        utc(2027, 3, 15, 6, 30),
    ]
    assert utc(2027, 3, 14, 7).astimezone(ZoneInfo(NY)).strftime("%H:%M %Z") == "03:00 EDT"


def test_0130_new_york_on_the_fall_day_runs_once_at_0530_utc() -> None:
    delivery = daily(NY, dt.datetime(2026, 10, 31, 1, 30))

    assert first(delivery) == [
        utc(2026, 10, 31, 5, 30),
        utc(2026, 11, 1, 5, 30),
        utc(2026, 11, 2, 6, 30),
    ]


def test_every_wall_time_in_one_gap_gives_one_slot() -> None:
    cron = Delivery(
        "recurring",
        cadence="cron",
        cron="*/20 2 * * *",
        timezone=NY,
        start=dt.datetime(2027, 3, 14),
    )

    assert first(cron) == [utc(2027, 3, 14, 7), utc(2027, 3, 15, 6), utc(2027, 3, 15, 6, 20)]


def test_a_repeated_hour_runs_each_wall_time_once() -> None:
    cron = Delivery(
        "recurring",
        cadence="cron",
        cron="0,30 1 * * *",
        timezone=NY,
        start=dt.datetime(2026, 11, 1),
    )

    assert first(cron) == [utc(2026, 11, 1, 5), utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6)]


def test_sydney_april_repeats_0230_and_october_skips_it() -> None:
    sydney = "Australia/Sydney"
    april = Delivery(
        "recurring",
        cadence="weekly",
        timezone=sydney,
        weekdays=(6,),
        time=dt.time(2, 30),
        start=dt.datetime(2027, 4, 1),
    )
    october = daily(sydney, dt.datetime(2027, 10, 2, 2, 30))

    assert first(april, 2) == [utc(2027, 4, 3, 15, 30), utc(2027, 4, 10, 16, 30)]  # AEDT, AEST
    assert first(october) == [
        utc(2027, 10, 1, 16, 30),
        utc(2027, 10, 2, 16),
        utc(2027, 10, 3, 15, 30),
    ]


def test_monthly_on_the_31st_runs_on_the_last_day_of_shorter_months() -> None:
    monthly = Delivery(
        "recurring", cadence="monthly", day=31, time=dt.time(9), start=dt.datetime(2028, 1, 1)
    )

    assert first(monthly, 4) == [
        utc(2028, 1, 31, 9),
        utc(2028, 2, 29, 9),
        utc(2028, 3, 31, 9),
        utc(2028, 4, 30, 9),
    ]


def test_weekly_with_only_a_start_runs_on_its_weekday_at_its_time() -> None:
    weekly = Delivery(
        "recurring",
        cadence="weekly",
        timezone="Asia/Kolkata",
        start=dt.datetime(2026, 12, 2, 9, 15),
    )  # a Wednesday

    assert first(weekly, 2) == [utc(2026, 12, 2, 3, 45), utc(2026, 12, 9, 3, 45)]


def test_without_a_start_the_schedule_starts_when_it_was_scheduled() -> None:
    weekly = Delivery("recurring", cadence="weekly", timezone="Europe/London")
    scheduled = utc(2026, 12, 3, 10, 20, 30)  # a Thursday, 10:20 GMT

    got = slots_after(weekly, scheduled_at=scheduled, after=None, count=2)

    assert got == [utc(2026, 12, 3, 10, 20), utc(2026, 12, 10, 10, 20)]


def test_end_on_a_date_keeps_that_dates_slots_and_end_after_counts_sends() -> None:
    ends = daily("UTC", dt.datetime(2027, 1, 1, 23, 59), end_on=dt.date(2027, 1, 3))
    three = daily("UTC", dt.datetime(2027, 1, 1, 9), end_after=3)

    assert first(ends, 10) == [
        utc(2027, 1, 1, 23, 59),
        utc(2027, 1, 2, 23, 59),
        utc(2027, 1, 3, 23, 59),
    ]
    assert len(first(three, 10)) == 3
    assert slots_after(
        three, scheduled_at=SCHEDULED, after=utc(2027, 1, 1, 9), sends=1, count=10
    ) == [
        utc(2027, 1, 2, 9),
        utc(2027, 1, 3, 9),
    ]
    assert slots_after(three, scheduled_at=SCHEDULED, after=None, sends=3) == []


def test_once_runs_asap_or_at_its_wall_time() -> None:
    asap = Delivery("once")
    at = Delivery("once", at=dt.datetime(2027, 3, 14, 2, 30), timezone=NY)
    scheduled = utc(2027, 1, 5, 8, 0, 42)

    assert slots_after(asap, scheduled_at=scheduled, after=None, count=5) == [utc(2027, 1, 5, 8)]
    assert slots_after(asap, scheduled_at=scheduled, after=utc(2027, 1, 5, 8)) == []
    assert slots_after(at, scheduled_at=scheduled, after=None) == [utc(2027, 3, 14, 7)]


def test_a_cron_that_never_matches_has_no_slots() -> None:
    never = Delivery("recurring", cadence="cron", cron="0 9 30 2 *")

    assert first(never) == []


def test_missed_slots_collapse_into_the_latest_and_grace_decides_if_it_runs() -> None:
    delivery = daily("UTC", dt.datetime(2026, 1, 1, 9))
    last = utc(2026, 1, 1, 9)
    now = utc(2027, 1, 1, 12)

    late = due_slot(
        delivery,
        scheduled_at=SCHEDULED,
        last_slot=last,
        now=now,
        sends=1,
        grace=dt.timedelta(hours=1),
    )
    kept = due_slot(
        delivery,
        scheduled_at=SCHEDULED,
        last_slot=last,
        now=now,
        sends=1,
        grace=dt.timedelta(hours=3),
    )
    nothing = due_slot(
        delivery,
        scheduled_at=SCHEDULED,
        last_slot=utc(2027, 1, 1, 9),
        now=now,
        sends=1,
        grace=dt.timedelta(hours=3),
    )

    assert late == Due(utc(2027, 1, 1, 9), missed=True, skipped=364)
    assert kept == Due(utc(2027, 1, 1, 9), missed=False, skipped=364)
    assert nothing is None


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        slots_after(Delivery(), scheduled_at=dt.datetime(2027, 1, 1), after=None)


def test_launch_date_is_set_or_days_after_the_local_delivery_date() -> None:
    delivered = utc(2027, 1, 1, 3)  # 31 December in New York
    ny = Delivery(timezone=NY)

    assert launch_date(Campaign("C", ("S",), delivery=ny), delivered) == dt.date(2026, 12, 31)
    assert launch_date(Campaign("C", ("S",), delivery=ny, launch_after_days=3), delivered) == (
        dt.date(2027, 1, 3)
    )
    fixed = Campaign("C", ("S",), delivery=ny, launch_date=dt.date(2027, 2, 1))
    assert launch_date(fixed, delivered) == dt.date(2027, 2, 1)


def test_a_day_field_starting_with_a_star_does_not_widen_the_weekdays() -> None:
    """cronie's rule: both day fields restricted → either matches, unless one starts with *."""
    odd_mondays = Delivery(
        "recurring", cadence="cron", cron="0 9 */2 * 1", start=dt.datetime(2027, 3, 1)
    )
    first_or_monday = Delivery(
        "recurring", cadence="cron", cron="0 9 1 * mon", start=dt.datetime(2027, 3, 1)
    )

    assert first(odd_mondays) == [utc(2027, 3, 1, 9), utc(2027, 3, 15, 9), utc(2027, 3, 29, 9)]
    assert first(first_or_monday, 4) == [
        utc(2027, 3, 1, 9),
        utc(2027, 3, 8, 9),
        utc(2027, 3, 15, 9),
        utc(2027, 3, 22, 9),
    ]


def test_a_weekday_no_week_has_is_refused_not_waited_for() -> None:
    weekly = Delivery("recurring", cadence="weekly", weekdays=(7,), start=dt.datetime(2027, 1, 1))

    with pytest.raises(ValueError, match="weekdays must be 0"):
        first(weekly)


def test_leap_days_come_when_they_exist() -> None:
    leap = Delivery("recurring", cadence="cron", cron="0 12 29 2 *", start=dt.datetime(2026, 1, 1))
    daily_over_it = daily("Asia/Kolkata", dt.datetime(2028, 2, 28, 5, 30))

    assert first(leap, 2) == [utc(2028, 2, 29, 12), utc(2032, 2, 29, 12)]
    assert first(daily_over_it) == [utc(2028, 2, 28), utc(2028, 2, 29), utc(2028, 3, 1)]


def test_london_0130_on_the_spring_day_runs_at_0200_bst() -> None:
    london = daily("Europe/London", dt.datetime(2027, 3, 27, 1, 30))

    assert first(london) == [utc(2027, 3, 27, 1, 30), utc(2027, 3, 28, 1), utc(2027, 3, 29, 0, 30)]
