"""The schedule's test oracle (DESIGN §1.3): slots found by stepping minute by minute.

Production (:mod:`herald.core.schedule`) walks the schedule's wall times and maps each to an
instant. This oracle goes the other way, independently of it: it steps over UTC minutes, looks
at each minute's local wall time, and asks whether a slot runs then. A minute is a slot when
its wall time matches the cadence and is not the second occurrence of a repeated time (fall
back), or when it is the first minute after a gap (spring forward) and a matching wall time
fell into that gap. A wall time given as a start or a one-time moment runs at the first minute
whose wall time is at or after it. Cron expressions are matched with ``cronsim``, not croniter.
Keep it that way: an oracle that shares code with production cannot catch its bugs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

from herald.core.campaigns.model import Delivery

UTC = dt.UTC
MINUTE = dt.timedelta(minutes=1)
Match = Callable[[dt.datetime], bool]


def minutes(lo: dt.datetime, hi: dt.datetime) -> list[dt.datetime]:
    """Every whole UTC minute in ``[lo, hi]``."""
    first = lo.astimezone(UTC).replace(second=0, microsecond=0)
    if first < lo:
        first += MINUTE
    count = int((hi - first) / MINUTE) + 1
    return [first + MINUTE * i for i in range(max(0, count))]


def wall(instant: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The local wall time of an instant, as a naive datetime."""
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def first_at_or_after(target: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The first UTC minute whose wall time is at or after ``target`` (a naive wall time)."""
    guess = target.replace(tzinfo=UTC)
    for minute in minutes(guess - dt.timedelta(hours=15), guess + dt.timedelta(hours=15)):
        if wall(minute, zone) >= target:
            return minute
    raise AssertionError(f"no minute at or after {target} near it")


def base_wall(delivery: Delivery, scheduled_at: dt.datetime) -> dt.datetime:
    """The start as a wall time, whole minutes: what time, weekdays and day default to."""
    if delivery.start is not None:
        return delivery.start.replace(second=0, microsecond=0)
    return wall(scheduled_at, ZoneInfo(delivery.timezone)).replace(second=0, microsecond=0)


def is_last_day(day: dt.datetime) -> bool:
    return (day + dt.timedelta(days=1)).month != day.month


def matcher(
    delivery: Delivery, scheduled_at: dt.datetime, lo: dt.datetime, hi: dt.datetime
) -> Match:
    """Whether a wall time belongs to the schedule (recurring deliveries)."""
    base = base_wall(delivery, scheduled_at)
    if delivery.cadence == "cron":
        assert delivery.cron is not None
        return cron_matcher(delivery.cron, lo, hi, ZoneInfo(delivery.timezone))
    hour, minute = (delivery.time or base.time()).hour, (delivery.time or base.time()).minute
    weekdays = delivery.weekdays or (base.weekday(),)
    day = delivery.day or base.day

    def at_time(w: dt.datetime) -> bool:
        return w.hour == hour and w.minute == minute

    if delivery.cadence == "weekly":
        return lambda w: at_time(w) and w.weekday() in weekdays
    if delivery.cadence == "monthly":
        return lambda w: at_time(w) and (w.day == day or (is_last_day(w) and day > w.day))
    return at_time


def cron_matcher(cron: str, lo: dt.datetime, hi: dt.datetime, zone: ZoneInfo) -> Match:
    """cronsim's wall times around ``[lo, hi]``, as a set to look wall times up in."""
    start = wall(lo, zone) - dt.timedelta(days=1)
    end = wall(hi, zone) + dt.timedelta(days=1)
    found: set[dt.datetime] = set()
    try:
        walls = CronSim(cron.lower(), start)
    except CronSimError:  # a day no month has, such as 31 February: the schedule never runs
        return found.__contains__
    for moment in walls:
        if moment > end:
            break
        found.add(moment)
    return found.__contains__


def all_slots(
    delivery: Delivery, *, scheduled_at: dt.datetime, lo: dt.datetime, hi: dt.datetime
) -> list[dt.datetime]:
    """Every slot in ``[lo, hi]`` from the start on, by the end date (not the count)."""
    zone = ZoneInfo(delivery.timezone)
    if delivery.mode == "once":
        if delivery.at is None:
            slot = scheduled_at.astimezone(UTC).replace(second=0, microsecond=0)
        else:
            slot = first_at_or_after(delivery.at.replace(second=0, microsecond=0), zone)
        return [slot] if lo <= slot <= hi else []
    if delivery.start is not None:
        start = first_at_or_after(base_wall(delivery, scheduled_at), zone)
    else:
        start = scheduled_at.astimezone(UTC).replace(second=0, microsecond=0)
    match = matcher(delivery, scheduled_at, lo, hi)
    found = []
    previous = wall(lo - MINUTE, zone)
    for minute in minutes(lo, hi):
        local = minute.astimezone(zone)
        now = local.replace(tzinfo=None, fold=0)
        candidates = [] if local.fold == 1 else [now]  # fold 1: a repeated time, again
        gap = previous + MINUTE
        while gap < now and now - previous > MINUTE:  # a jump forward: the gap's wall times
            candidates.append(gap)
            gap += MINUTE
        previous = now
        ended = delivery.end_on is not None and local.date() > delivery.end_on
        if minute >= start and not ended and any(match(c) for c in candidates):
            found.append(minute)
    return found


def slots_after(
    delivery: Delivery,
    *,
    scheduled_at: dt.datetime,
    after: dt.datetime | None,
    sends: int,
    lo: dt.datetime,
    hi: dt.datetime,
) -> list[dt.datetime]:
    """The slots in ``(after, hi]`` (``[lo, hi]`` when ``after`` is None), ``end_after``
    counted from ``sends``: what production's ``slots_after`` gives up to ``hi``."""
    found = [
        s
        for s in all_slots(delivery, scheduled_at=scheduled_at, lo=lo, hi=hi)
        if after is None or s > after
    ]
    if delivery.mode == "recurring" and delivery.end_after is not None:
        found = found[: max(0, delivery.end_after - sends)]
    return found
