"""Campaign definitions as frozen data (DESIGN §1.3).

A campaign takes the union of its include segments minus its exclude segments, assigns the
audience to ordered sub-audiences (first match only by default) and the rest to "All Remaining
Recipients", and splits each of those into recipient groups (at most one control group) whose
percentages total 100. Each non-control group is sent to its destinations with the attributes
chosen for that destination.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from herald.core.segments.model import Group

REMAINDER = "All Remaining Recipients"
MAX_SUB_AUDIENCES = 60
CampaignStatus = Literal["draft", "scheduled", "running", "delivered", "error", "archived"]
CAMPAIGN_STATUSES: tuple[CampaignStatus, ...] = (
    "draft",
    "scheduled",
    "running",
    "delivered",
    "error",
    "archived",
)


@dataclass(frozen=True)
class AttributeMapping:
    """One attribute sent to a destination: ``source`` column → destination ``field``.

    ``source`` is ``Table.column``, or a bare column of the campaign's attributes table
    (``Merged_Customers`` by default).
    """

    source: str
    field: str
    # dataclasses.field: the bare name would be the ``field`` attribute above for type checkers
    location: str = dataclasses.field(default="", compare=False)


@dataclass(frozen=True)
class GroupDestination:
    """A destination of a group; ``attributes`` None means the destination's defaults."""

    destination: str
    attributes: tuple[AttributeMapping, ...] | None = None
    location: str = field(default="", compare=False)


@dataclass(frozen=True)
class RecipientGroup:
    """A share of a sub-audience; ``basis_points`` is the percent × 100 (exact)."""

    name: str
    basis_points: int
    control: bool = False
    destinations: tuple[GroupDestination, ...] = ()
    location: str = field(default="", compare=False)

    @property
    def percent(self) -> float:
        return self.basis_points / 100


@dataclass(frozen=True)
class SubAudience:
    """An ordered slice of the audience: by criteria (``where``) or by a segment."""

    name: str
    groups: tuple[RecipientGroup, ...]
    segment: str | None = None
    where: Group | None = None
    location: str = field(default="", compare=False)


@dataclass(frozen=True)
class Delivery:
    """When the audience is sent.

    ``once``: as soon as possible (``at`` None) or at ``at`` in ``timezone``.
    ``recurring``: every ``cadence`` (daily, weekly, monthly) or by ``cron``, from ``start``,
    ending never, on ``end_on`` (inclusive), or after ``end_after`` sends.

    Naive datetimes (``at``, ``start``) are wall times in ``timezone``. ``time`` (daily, weekly,
    monthly), ``weekdays`` (weekly; 0 = Monday … 6 = Sunday) and ``day`` (monthly, 1..31; 29-31
    mean the last day of shorter months) default to those of ``start``, or of the moment the
    campaign is scheduled when it has no start (:mod:`herald.core.schedule`).
    """

    mode: Literal["once", "recurring"] = "once"
    at: dt.datetime | None = None
    timezone: str = "UTC"
    cadence: Literal["daily", "weekly", "monthly", "cron"] | None = None
    cron: str | None = None
    start: dt.datetime | None = None
    end_on: dt.date | None = None
    end_after: int | None = None
    time: dt.time | None = None
    weekdays: tuple[int, ...] = ()
    day: int | None = None


@dataclass(frozen=True)
class Campaign:
    """A named campaign; the name appears in every list and file name it sends.

    The launch date of a run is ``launch_date``, or ``launch_after_days`` days after the day
    it was delivered (in the delivery's time zone), or that day when neither is set.
    """

    name: str
    include: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    sub_audiences: tuple[SubAudience, ...] = ()
    remaining: tuple[RecipientGroup, ...] = ()
    first_match_only: bool = True
    delivery: Delivery = Delivery()
    launch_date: dt.date | None = None
    launch_after_days: int | None = None
    attributes_table: str | None = None
    description: str | None = None

    def all_sub_audiences(self) -> tuple[SubAudience, ...]:
        """The sub-audiences in order, then All Remaining Recipients when it has groups."""
        if not self.remaining:
            return self.sub_audiences
        return (*self.sub_audiences, SubAudience(REMAINDER, self.remaining, location="remaining"))


def output_name(campaign: str, group: str) -> str:
    """The list or file name of a group: ``{campaign}_{group}`` with spaces as ``_``.

    >>> output_name("Spring Sale", "Offer A")
    'Spring_Sale_Offer_A'
    """
    return "_".join(f"{campaign}_{group}".split())
