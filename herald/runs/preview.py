"""Look before sending: a campaign's preview (counts, drops) and its test run (sample files).

Neither sends nor stores anything.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from herald.core.campaigns.validate import Resolved, Warning_
from herald.core.destinations import is_klaviyo
from herald.core.estimate import CSV_BYTES_PER_PROFILE, sftp_seconds
from herald.core.results.preflight import (
    SNAPSHOT_TABLE,
    GroupPower,
    baseline_query,
    group_power,
)
from herald.core.results.query import DEFAULT_WINDOW_DAYS
from herald.exceptions import ConfigError
from herald.runs.claims import EmailClaims
from herald.runs.groups import (
    Delivery,
    RunResult,
    claims_for,
    delivery_of,
    ordered_counts,
    prepared_group,
    with_changes,
)
from herald.runs.snapshots import GroupCount, Snapshot, write_snapshot

if TYPE_CHECKING:
    from herald.workspace import Workspace


def preview_campaign(
    ws: Workspace,
    name: str,
    *,
    today: dt.date | None = None,
    which: str = "active",
    window_days: int = DEFAULT_WINDOW_DAYS,
) -> RunResult:
    """Counts per sub-audience, group and destination and drops by reason, and each group's
    minimum detectable effect on conversion (``RunResult.power``); nothing is sent or stored.

    Args:
        ws: the workspace.
        name: the campaign.
        today: the date relative dates resolve against (default today, UTC).
        which: the campaign's version: ``active`` or ``latest``.
        window_days: the baseline conversion rate counts orders in these days before today.
    """
    build = ws.campaigns.build(name, today=today, which=which)
    folder = ws.runs_dir / "_preview"
    snapshot = folder / f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}.parquet"
    try:
        write_snapshot(ws, build, snapshot)
        with Snapshot(snapshot) as snap, claims_for(ws, build, snap) as claims:
            deliveries = []
            for item in build.resolved:
                with prepared_group(ws, snap, item, claims) as prepared:
                    deliveries.append(delivery_of(item, prepared, "preview"))
            counts = ordered_counts(build.campaign, snap.counts())
        power, warnings = _power(ws, snapshot, counts, today or build.as_of.date(), window_days)
    finally:
        snapshot.unlink(missing_ok=True)
    return RunResult(None, counts, deliveries, [*build.warnings, *warnings], power=power)


def _power(
    ws: Workspace, snapshot: Path, counts: list[GroupCount], today: dt.date, window_days: int
) -> tuple[list[GroupPower], list[Warning_]]:
    """Each group's MDE from its sub-audience's conversion rate in the window before today
    (one engine query over the snapshot), and a warning per control too small."""
    try:
        query = baseline_query(ws.catalog, window_days=window_days, today=today)
    except ConfigError as error:  # no transactions table: a preview all the same
        return [], [Warning_(f"no minimum detectable effect: {error}")]
    rows = ws.engine.query_files(query, {SNAPSHOT_TABLE: [snapshot]}).to_pylist()
    baselines = {
        r["sub_audience"]: r["purchasers"] / r["recipients"] if r["recipients"] else None
        for r in rows
    }
    power = group_power(counts, baselines)
    warnings = [Warning_(line) for p in power if (line := p.warning())]
    return power, warnings


@dataclass(frozen=True)
class FirstLoad:
    """How long sending one destination's groups would take if every record were new.

    Attributes:
        destination: the destination's name.
        records: the records its groups would receive.
        seconds: the time at its limits (None when it is not estimated: a local file).
        sftp_seconds: for a Klaviyo list, the same records as one CSV over SFTP.
    """

    destination: str
    records: int
    seconds: float | None
    sftp_seconds: float | None


def first_load(ws: Workspace, result: RunResult) -> list[FirstLoad]:
    """A preview's time per destination as a first load (every record an add), with the
    SFTP road beside the API's for Klaviyo lists; cheap: no list is read."""
    records: dict[str, int] = {}
    for delivery in result.deliveries:
        records[delivery.destination] = records.get(delivery.destination, 0) + delivery.records
    found = []
    for name, count in records.items():
        destination = ws.destination(name)
        seconds = destination.planned_seconds({"adds": count})
        beside = None
        if destination.kind.is_list and is_klaviyo(destination.kind):
            beside = sftp_seconds(count * CSV_BYTES_PER_PROFILE) if count else 0.0
        found.append(FirstLoad(name, count, seconds, beside))
    return found


def sample_campaign(
    ws: Workspace, name: str, records: int, out: Path, *, today: dt.date | None = None
) -> RunResult:
    """Write the sample file each destination would receive for ``records`` rows per group;
    sends nothing."""
    build = ws.campaigns.build(name, today=today)
    out.mkdir(parents=True, exist_ok=True)
    snapshot = out / ".snapshot.parquet"
    try:
        write_snapshot(ws, build, snapshot)
        with Snapshot(snapshot) as snap, claims_for(ws, build, snap) as claims:
            deliveries = [_sample(ws, snap, item, records, out, claims) for item in build.resolved]
            counts = ordered_counts(build.campaign, snap.counts())
    finally:
        snapshot.unlink(missing_ok=True)
    return RunResult(None, counts, deliveries, build.warnings)


def _sample(
    ws: Workspace, snap: Snapshot, item: Resolved, records: int, out: Path, claims: EmailClaims
) -> Delivery:
    destination = ws.destination(item.destination)
    path = out / f"{item.destination}__{item.output_name}{destination.capabilities.sample_suffix}"
    with prepared_group(ws, snap, item, claims, limit=records) as prepared:
        delivery = delivery_of(item, prepared, "sample")
        destination.sample(prepared, path)
    return with_changes(delivery, path=path)
