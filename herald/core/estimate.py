"""How long a Klaviyo delivery takes under Klaviyo's rate limits, before anything is sent.

Limits are per account and per endpoint: a burst window (1 s) and a steady window (60 s).
The calls a delivery needs are planned per list (find or create the list, bulk imports for
adds, job polls, profile-id look-ups and relationship deletes for removes); the time is the
time the limits allow for each phase's calls, over every list (the limits are shared by the
whole account), with imports running beside removes (:func:`seconds_for`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

#: Seconds before new import jobs are first polled, and between polling rounds while jobs keep
#: finishing: two listing calls a second stay under that endpoint's steady limit (150/min).
FIRST_POLL = 0.5
#: Seconds from sending a job to the first poll when no other job is waiting.
QUICK_POLL = 0.1
#: Seconds between polling rounds once every job is sent: only the last jobs are left.
LAST_POLL = 0.2


class Limit(Protocol):
    """A rate limit: ``burst`` calls per second, ``steady`` per minute, optional ``daily``.

    The Klaviyo client's table (``destinations/klaviyo_api/limits.py``) is the source; core
    only needs the numbers.
    """

    @property
    def burst(self) -> int: ...

    @property
    def steady(self) -> int: ...

    @property
    def daily(self) -> int | None: ...


@dataclass(frozen=True)
class Rate:
    """A plain :class:`Limit`, for examples and tests."""

    burst: int
    steady: int
    daily: int | None = None


@dataclass(frozen=True)
class Caps:
    """What one call carries at most.

    Klaviyo's are ``CAPS`` in ``destinations/klaviyo_api/limits.py``, where they are defined
    once; like the rate limits, they are passed in, since core imports no destination.

    Attributes:
        import_profiles: profiles per bulk import job.
        import_bytes: bytes per bulk import request body.
        remove_ids: profile ids per relationship delete.
        filter_values: values per ``any()`` profile filter.
        page_size: members per page of a list.
    """

    import_profiles: int
    import_bytes: int
    remove_ids: int
    filter_values: int
    page_size: int


PHASES = (
    ("lists", ("get_lists", "create_list")),
    (
        "adds",
        (
            "bulk_import_profiles",
            "get_bulk_import_profiles_job",
            "get_errors_for_bulk_import_profiles_job",
        ),
    ),
    ("id look-ups", ("get_profiles", "get_profiles_for_list")),
    ("removes", ("remove_profiles_from_list",)),
)


@dataclass(frozen=True)
class ListPlan:
    """What one list needs: how many profiles to add and remove, and what is known already."""

    name: str
    adds: int
    removes: int
    list_id_known: bool = False
    list_exists: bool = False
    list_size: int = 0
    add_bytes: int = 0


def time_for(calls: int, limit: Limit) -> float:
    """Seconds the limits need to allow ``calls`` calls (the first goes at 0).

    >>> time_for(1, Rate(10, 150)), time_for(10, Rate(10, 150)), time_for(151, Rate(10, 150))
    (0.0, 0.9, 60.0)
    """
    if calls <= 1:
        return 0.0
    full_minutes, rest = divmod(calls - 1, limit.steady)
    return full_minutes * 60.0 + rest / limit.burst


def calls_for(plan: ListPlan, caps: Caps) -> Counter[str]:
    """The calls one list needs, per operation, under ``caps``.

    >>> caps = Caps(10_000, 5_000_000, remove_ids=1_000, filter_values=100, page_size=100)
    >>> plan = ListPlan("L", adds=25_000, removes=250, list_exists=True, list_size=1_000_000)
    >>> for operation, calls in calls_for(plan, caps).items():
    ...     print(operation, calls)
    get_lists 1
    bulk_import_profiles 3
    get_bulk_import_profiles_job 3
    get_profiles 3
    remove_profiles_from_list 1
    """
    calls: Counter[str] = Counter()
    if not plan.list_id_known:
        calls["get_lists"] += 1
        if not plan.list_exists:
            calls["create_list"] += 1
    jobs = max(
        math.ceil(plan.adds / caps.import_profiles), math.ceil(plan.add_bytes / caps.import_bytes)
    )
    if jobs:
        calls["bulk_import_profiles"] += jobs
        calls["get_bulk_import_profiles_job"] += jobs  # one confirming poll each, at least
    if plan.removes:
        by_filter = math.ceil(plan.removes / caps.filter_values)
        by_members = math.ceil(plan.list_size / caps.page_size)
        lookup = "get_profiles" if by_filter <= by_members else "get_profiles_for_list"
        calls[lookup] += min(by_filter, by_members)
        calls["remove_profiles_from_list"] += math.ceil(plan.removes / caps.remove_ids)
    return calls


@dataclass(frozen=True)
class Estimate:
    """Calls per operation and the seconds each phase needs, for a set of lists."""

    calls: Mapping[str, int]
    phase_seconds: Mapping[str, float]
    lists_to_create: int
    warnings: tuple[str, ...] = field(default=())

    @property
    def seconds(self) -> float:
        return seconds_for(self.phase_seconds)


def seconds_for(phases: Mapping[str, float]) -> float:
    """The time of a delivery from the time of its phases.

    The list comes first, then the profile-id look-ups, which are part of the plan (a remove
    batch is planned with its ids); then imports and removes go together, each endpoint under
    its own limit.

    >>> seconds_for({"lists": 0.5, "adds": 10.0, "id look-ups": 1.5, "removes": 1.0})
    12.0
    >>> seconds_for({"lists": 0.0, "adds": 0.5, "id look-ups": 1.5, "removes": 1.0})
    2.5
    """
    get = phases.get
    first = get("lists", 0.0) + get("id look-ups", 0.0)
    return first + max(get("adds", 0.0), get("removes", 0.0))


def estimate(
    plans: Iterable[ListPlan],
    limits: Mapping[str, Limit],
    caps: Caps,
    *,
    poll_interval: float = 5.0,
) -> Estimate:
    """The calls and time a delivery needs under ``limits`` and ``caps``.

    Each job is confirmed by one fetch once a listing of unfinished jobs no longer shows it;
    fetches have their own limit, so they overlap the imports. Rounds come every
    ``FIRST_POLL`` seconds while jobs finish, and every ``LAST_POLL`` seconds once all are
    sent (at most every ``poll_interval``), so the last job adds the shorter of the two.

    >>> m, big = Rate(10, 150, 150), Rate(75, 750)
    >>> table = {"get_lists": big, "create_list": m, "bulk_import_profiles": m,
    ...          "get_bulk_import_profiles_job": m,
    ...          "get_errors_for_bulk_import_profiles_job": m, "get_profiles": big,
    ...          "get_profiles_for_list": big, "remove_profiles_from_list": m}
    >>> caps = Caps(10_000, 5_000_000, remove_ids=1_000, filter_values=100, page_size=100)
    >>> e = estimate([ListPlan("A", adds=1_000_000, removes=0)], table, caps)
    >>> e.calls["bulk_import_profiles"], round(e.seconds, 1)
    (100, 10.1)
    """
    total: Counter[str] = Counter()
    for plan in plans:
        total.update(calls_for(plan, caps))
    phases = {}
    for phase, operations in PHASES:
        # Operations of one phase run concurrently, each under its own limit.
        phases[phase] = max(
            (time_for(total[op], limits[op]) for op in operations if total[op]), default=0.0
        )
    if total["bulk_import_profiles"]:
        phases["adds"] += min(poll_interval, LAST_POLL)
    warnings = []
    create = limits["create_list"]
    if create.daily is not None and total["create_list"] > create.daily:
        warnings.append(
            f"{total['create_list']} lists to create, but Klaviyo allows {create.daily} a day: "
            "the rest wait for the next day"
        )
    return Estimate(dict(total), phases, total["create_list"], tuple(warnings))


CSV_BYTES_PER_PROFILE = 60
"""A typical row of Klaviyo's SFTP CSV (Email, PhoneNumber, ExternalID), in bytes."""


def sftp_seconds(
    total_bytes: int, *, bandwidth: float = 5_000_000, overhead: float = 30.0
) -> float:
    """Upload time of the same profiles as one CSV over SFTP (Klaviyo imports it afterwards).

    >>> sftp_seconds(50_000_000)
    40.0
    """
    return overhead + total_bytes / bandwidth
