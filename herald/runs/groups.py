"""A run's groups: what each group of a run is, and what it is told, named and sent.

Shared by the run pipeline (`herald.runs.pipeline`), the estimate, previews and retries: the
result of a run, the claims on emails shared by groups, each group's prepared records, its
delivery target and dated name, and the recipients log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from herald.campaigns import Build
from herald.core.campaigns.model import Campaign
from herald.core.campaigns.validate import Resolved, Warning_
from herald.core.results.preflight import GroupPower
from herald.core.schedule import launch_date
from herald.destinations.base import DeliveryTarget
from herald.redact import redact
from herald.runs.claims import EmailClaims, claim_emails
from herald.runs.prepared import PreparedGroup, prepare_group
from herald.runs.snapshots import GroupCount, LogEntry, Snapshot, write_recipients_log

if TYPE_CHECKING:
    from herald.state import Run
    from herald.workspace import Workspace


@dataclass(frozen=True)
class Delivery:
    """What happened to one group at one destination."""

    sub_audience: str
    group: str
    destination: str
    type: str
    output_name: str
    records: int
    drops: dict[str, int]
    status: str  # "written", "synced", "failed", "cancelled", "sample", "not sent"
    path: Path | None = None
    message: str | None = None
    counts: dict[str, int] | None = None  # a Klaviyo list sync's figures


@dataclass(frozen=True)
class RunResult:
    run: Run | None
    counts: list[GroupCount]
    deliveries: list[Delivery]
    warnings: list[Warning_] = field(default_factory=list)
    snapshot: Path | None = None
    power: list[GroupPower] = field(default_factory=list)
    """A preview's minimum detectable effect per group (empty for a run)."""


def ordered_counts(campaign: Campaign, counts: list[GroupCount]) -> list[GroupCount]:
    """Counts in the campaign's order, with empty groups shown as 0."""
    found = {(c.sub_audience, c.group): c for c in counts}
    return [
        found.get((sub.name, g.name), GroupCount(sub.name, g.name, g.control, 0))
        for sub in campaign.all_sub_audiences()
        for g in sub.groups
    ]


def dated_name(build: Build, name: str) -> str:
    """One-time campaigns append the delivery date; recurring ones keep one name (DESIGN §1.4)."""
    if build.campaign.delivery.mode == "recurring":
        return name
    return f"{name}_{delivery_day(build)}"


def delivery_day(build: Build) -> str:
    """The run's date in the campaign's time zone, ISO."""
    return build.as_of.astimezone(ZoneInfo(build.campaign.delivery.timezone)).date().isoformat()


def target_for(
    ws: Workspace,
    build: Build,
    item: Resolved,
    run_id: str,
    number: int,
    *,
    runs: Path | None = None,
) -> DeliveryTarget:
    """What a destination is told of one group of a run (``runs``: the runs' folder,
    ``.herald/runs`` unless given)."""
    return DeliveryTarget(
        run_id,
        item.destination,
        item.sub_audience,
        item.group,
        item.output_name,
        dated_name(build, item.output_name),
        number,
        runs if runs is not None else ws.runs_dir,
        campaign=build.campaign.name,
        day=delivery_day(build),
        recurring=build.campaign.delivery.mode == "recurring",
    )


def claims_for(ws: Workspace, build: Build, snap: Snapshot) -> EmailClaims:
    """Who keeps each address shared by groups of the campaign (DESIGN §1.3), once per run."""
    key = ws.settings.database.customer_key
    return claim_emails(
        snap.path, build.campaign, build.resolved, key=key, spill_parent=ws.state_dir
    )


@contextmanager
def prepared_group(
    ws: Workspace,
    snap: Snapshot,
    item: Resolved,
    claims: EmailClaims | None = None,
    *,
    limit: int | None = None,
) -> Iterator[PreparedGroup]:
    """A group's records prepared for one destination, streamed from the snapshot, without
    the customers whose email an earlier group keeps (``claims``); their scratch file (in a
    folder under ``.herald``) is deleted on leaving."""
    rows = snap.group_batches(item.sub_audience, item.group, limit=limit)
    key = ws.settings.database.customer_key
    taken = claims.taken(item) if claims is not None else None
    with prepare_group(
        rows, item.attributes, key=key, kind=item.kind, spill_parent=ws.state_dir, taken=taken
    ) as prepared:
        yield prepared


class _Counted(Protocol):
    """What a delivery reports of a prepared group (here, or in Spark)."""

    @property
    def num_rows(self) -> int: ...

    @property
    def drops(self) -> dict[str, int]: ...


def delivery_of(item: Resolved, prepared: _Counted, status: str) -> Delivery:
    """The delivery that describes a group's prepared records."""
    return Delivery(
        item.sub_audience,
        item.group,
        item.destination,
        item.kind.type,
        item.output_name,
        prepared.num_rows,
        dict(prepared.drops),
        status,
    )


def with_changes(delivery: Delivery, **changes: Any) -> Delivery:
    if isinstance(changes.get("message"), str):
        # Messages are shown and stored; many quote an error from a destination.
        changes["message"] = redact(str(changes["message"]))
    return replace(delivery, **changes)


def log_recipients(
    ws: Workspace,
    build: Build,
    run_id: str,
    snapshot: Path,
    target: Path,
    *,
    launch: dt.date | None = None,
) -> None:
    """Write the run's recipients log, with its launch date (``launch``, else the campaign's
    for a delivery now): the start of results measurement."""
    entries = [LogEntry(r.sub_audience, r.group, r.destination) for r in build.resolved]
    write_recipients_log(
        snapshot,
        target,
        key=ws.settings.database.customer_key,
        campaign=build.campaign.name,
        run_id=run_id,
        delivered_at=build.as_of,
        launch_date=launch or launch_date(build.campaign, build.as_of),
        entries=entries,
    )
