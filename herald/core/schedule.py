"""When a campaign runs: the slots of its delivery, as pure arithmetic (DESIGN §1.3).

A schedule is a set of local wall-clock times in the delivery's time zone; a slot is the UTC
instant one of them runs at. Daylight saving follows cronie: a wall time that does not exist
(spring forward) runs at the first valid minute after the gap, and several wall times in one
gap give one slot; a wall time that occurs twice (fall back) runs once, at its first
occurrence. Slots are whole minutes. Nothing here reads the clock: the caller passes ``now``.

The slots are generated in order from a lower bound, one candidate wall time per step (one per
day, per chosen weekday, per month, or per cron match), so finding the next slot costs the same
whether the last one was a minute or a year ago.
"""

from __future__ import annotations

import calendar
import copy
import datetime as dt
import functools
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter

from herald.core.campaigns.model import Campaign, Delivery

UTC = dt.UTC
MINUTE = dt.timedelta(minutes=1)
_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Due:
    """The slot a scheduler should act on now.

    Attributes:
        slot: the slot to run (or to record as missed), in UTC.
        missed: it is more than the grace late: record it as missed, do not run it.
        skipped: older slots collapsed into this one (not run, not recorded).
    """

    slot: dt.datetime
    missed: bool
    skipped: int


def slots_after(
    delivery: Delivery,
    *,
    scheduled_at: dt.datetime,
    after: dt.datetime | None,
    sends: int = 0,
    count: int = 1,
) -> list[dt.datetime]:
    """The next ``count`` slots strictly after ``after``, in UTC.

    Fewer than ``count`` (possibly none) when the schedule ends.

    Args:
        delivery: the campaign's delivery settings.
        scheduled_at: when the campaign was scheduled: the slot of a one-time "as soon as
            possible" delivery, and the start of a recurring one that has no ``start``.
        after: the last slot already handled; None: from the start, its first slot included.
        sends: the sends already made, for ``end: {after: N}``.
        count: how many slots at most.

    >>> daily = Delivery("recurring", cadence="daily", timezone="America/New_York",
    ...                  start=dt.datetime(2027, 3, 13, 2, 30))
    >>> [s.isoformat() for s in slots_after(daily, scheduled_at=dt.datetime(2027, 1, 1,
    ...     tzinfo=UTC), after=None, count=3)]  # 14 March: 02:30 does not exist, 03:00 EDT
    ['2027-03-13T07:30:00+00:00', '2027-03-14T07:00:00+00:00', '2027-03-15T06:30:00+00:00']
    """
    found = _slots(delivery, _aware(scheduled_at), None if after is None else _aware(after))
    limit = _remaining(delivery, sends)
    return list(itertools.islice(found, max(0, count if limit is None else min(count, limit))))


def due_slot(
    delivery: Delivery,
    *,
    scheduled_at: dt.datetime,
    last_slot: dt.datetime | None,
    now: dt.datetime,
    sends: int,
    grace: dt.timedelta,
) -> Due | None:
    """The latest slot in ``(last_slot, now]``, if any.

    Slots missed while no scheduler ran collapse into that one (DESIGN §1.3): it runs once,
    or is recorded as missed when it is more than ``grace`` late. The cost grows with the
    slots collapsed (one step each, never one per minute).

    Args:
        delivery: the campaign's delivery settings.
        scheduled_at: when the campaign was scheduled (see :func:`slots_after`).
        last_slot: the latest slot already run or recorded; None: none yet.
        now: the scheduler's time.
        sends: the sends already made, for ``end: {after: N}``.
        grace: how late a slot may still run.

    Returns:
        The slot to act on, or None when no slot is due.

    >>> daily = Delivery("recurring", cadence="daily", start=dt.datetime(2027, 1, 1, 9))
    >>> due_slot(daily, scheduled_at=dt.datetime(2027, 1, 1, tzinfo=UTC),
    ...          last_slot=dt.datetime(2027, 1, 1, 9, tzinfo=UTC),
    ...          now=dt.datetime(2027, 1, 4, 9, 5, tzinfo=UTC), sends=1,
    ...          grace=dt.timedelta(hours=1))  # doctest: +NORMALIZE_WHITESPACE
    Due(slot=datetime.datetime(2027, 1, 4, 9, 0, tzinfo=datetime.timezone.utc), missed=False,
        skipped=2)
    """
    now = _aware(now)
    found = _slots(delivery, _aware(scheduled_at), None if last_slot is None else _aware(last_slot))
    limit = _remaining(delivery, sends)
    slot, skipped = None, -1
    for candidate in itertools.islice(found, None if limit is None else max(0, limit)):
        if candidate > now:
            break
        slot, skipped = candidate, skipped + 1
    if slot is None:
        return None
    return Due(slot, missed=now - slot > grace, skipped=skipped)


def launch_date(campaign: Campaign, delivered: dt.datetime) -> dt.date:
    """The launch date of a run delivered at ``delivered``.

    ``launch_date`` when set; else ``launch_after_days`` days after the delivery date, or the
    delivery date itself; dates in the delivery's time zone.

    >>> launch_date(Campaign("C", ("S",), launch_after_days=3),
    ...             dt.datetime(2026, 12, 31, 23, 30, tzinfo=UTC))
    datetime.date(2027, 1, 3)
    """
    if campaign.launch_date is not None:
        return campaign.launch_date
    day = _aware(delivered).astimezone(ZoneInfo(campaign.delivery.timezone)).date()
    return day + dt.timedelta(days=campaign.launch_after_days or 0)


def resolve(wall: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The UTC instant a local wall time runs at, by the cronie rule.

    >>> ny = ZoneInfo("America/New_York")
    >>> resolve(dt.datetime(2027, 3, 14, 2, 30), ny).isoformat()  # does not exist: 03:00 EDT
    '2027-03-14T07:00:00+00:00'
    >>> resolve(dt.datetime(2026, 11, 1, 1, 30), ny).isoformat()  # twice: the first, EDT
    '2026-11-01T05:30:00+00:00'
    """
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant
    return _gap_end(wall, zone)


def _gap_end(wall: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The first minute after the gap that ``wall`` falls in (its clock change)."""
    # fold=1 reads the wall time with the offset after the change, fold=0 with the one
    # before: for a time in a gap, the first is an instant before the change, the second after.
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    before = low.astimezone(zone).utcoffset()
    while high - low > MINUTE:
        middle = low + MINUTE * ((high - low) // MINUTE // 2)
        if middle.astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return high


def _slots(
    delivery: Delivery, scheduled_at: dt.datetime, after: dt.datetime | None
) -> Iterator[dt.datetime]:
    """Every slot after ``after`` (or from the start), in order; endless unless it ends."""
    zone = ZoneInfo(delivery.timezone)
    if delivery.mode == "once":
        slot = _once(delivery, scheduled_at, zone)
        if after is None or slot > after:
            yield slot
        return
    base = _base_wall(delivery, scheduled_at, zone)
    start = resolve(base, zone) if delivery.start else _minute(scheduled_at)
    bound = start if after is None else max(start, _minute(after) + MINUTE)
    previous = None
    # No wall time at or before the one of the minute before `bound` runs at `bound` or later.
    for wall in _walls(delivery, base, _naive(bound - MINUTE, zone)):
        slot = resolve(wall, zone)
        if slot < bound or slot == previous:
            continue
        if delivery.end_on is not None and slot.astimezone(zone).date() > delivery.end_on:
            return
        previous = slot
        yield slot


def _once(delivery: Delivery, scheduled_at: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    if delivery.at is None:
        return _minute(scheduled_at)
    return resolve(delivery.at.replace(second=0, microsecond=0), zone)


def _base_wall(delivery: Delivery, scheduled_at: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The start as a wall time: what ``time``, ``weekdays`` and ``day`` default to."""
    if delivery.start is not None:
        return delivery.start.replace(second=0, microsecond=0, fold=0)
    return _naive(_minute(scheduled_at), zone)


def _walls(delivery: Delivery, base: dt.datetime, lower: dt.datetime) -> Iterator[dt.datetime]:
    """The schedule's wall times strictly after ``lower``, in order."""
    if delivery.cadence == "cron":
        return _cron_walls(delivery.cron or "", lower)
    at = (delivery.time or base.time()).replace(second=0, microsecond=0)
    if delivery.cadence == "monthly":
        return _monthly(delivery.day or base.day, at, lower)
    if delivery.cadence != "weekly":
        return _daily(at, lower, None)
    weekdays = delivery.weekdays or (base.weekday(),)
    if not set(weekdays) <= set(range(7)):
        # A Delivery built in Python skips the parser's check; a day no week has never comes.
        msg = f"weekdays must be 0 (Monday) to 6 (Sunday), got {weekdays}"
        raise ValueError(msg)
    return _daily(at, lower, weekdays)


def _daily(
    at: dt.time, lower: dt.datetime, weekdays: tuple[int, ...] | None
) -> Iterator[dt.datetime]:
    day = lower.date()
    while True:
        if weekdays is None or day.weekday() in weekdays:
            wall = dt.datetime.combine(day, at)
            if wall > lower:
                yield wall
        day += _DAY


def _monthly(day: int, at: dt.time, lower: dt.datetime) -> Iterator[dt.datetime]:
    year, month = lower.year, lower.month
    while True:
        last = calendar.monthrange(year, month)[1]
        wall = dt.datetime.combine(dt.date(year, month, min(day, last)), at)
        if wall > lower:
            yield wall
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _cron_walls(cron: str, lower: dt.datetime) -> Iterator[dt.datetime]:
    # Naive datetimes: croniter steps wall times without any time zone; resolve() applies
    # the DST rule.
    wall: dt.datetime | None = lower
    while (wall := _next_cron_wall(cron, wall)) is not None:
        yield wall


@functools.lru_cache(maxsize=16_384)
def _next_cron_wall(cron: str, after: dt.datetime) -> dt.datetime | None:
    """The cron's first wall time after ``after``; None when none comes within 50 years.

    Cached: a scheduler asks for the slot after the same last slot on every tick, and one
    croniter step costs some 40 µs (parsing the expression, some 250 µs, is cached too).
    """
    walls = copy.copy(_parsed_cron(cron))
    try:
        found: dt.datetime = walls.get_next(dt.datetime, start_time=after)
    except CroniterBadDateError:  # as for 30 February
        return None
    return found


@functools.lru_cache(maxsize=1024)
def _parsed_cron(cron: str) -> croniter:
    # implement_cron_bug: a day or weekday field starting with * does not widen the other
    # (cronie's rule), so "0 9 */2 * 1" is odd days that are Mondays.
    return croniter(
        cron,
        dt.datetime(2000, 1, 1),
        ret_type=dt.datetime,
        implement_cron_bug=True,
        max_years_between_matches=50,
    )


def _remaining(delivery: Delivery, sends: int) -> int | None:
    """How many more slots ``end: {after: N}`` allows; None: no such end."""
    if delivery.mode == "recurring" and delivery.end_after is not None:
        return delivery.end_after - sends
    return None


def _minute(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def _naive(moment: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    return moment.astimezone(zone).replace(tzinfo=None, fold=0)


def _aware(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        msg = f"schedule times must be timezone-aware, got {moment.isoformat()}"
        raise ValueError(msg)
    return moment
