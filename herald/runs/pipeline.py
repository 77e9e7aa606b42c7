"""The run pipeline of DESIGN §1.4: build → snapshot → prepare → deliver → log.

A run pins the campaign's version and its segments' active versions, builds the audience in
the engine, writes the recipients snapshot (Parquet), prepares each group's records per
destination, delivers what this version can deliver (file destinations), and writes the
recipients log. The campaign's status follows: running, then delivered or error.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from herald.campaigns import Build
from herald.core.campaigns.model import Campaign
from herald.core.campaigns.validate import Resolved, Warning_
from herald.core.prepare import prepare_records
from herald.destinations.files import write_csv, write_klaviyo_jsonl
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
    status: str  # "written", "sample", "not sent"
    path: Path | None = None
    message: str | None = None


@dataclass(frozen=True)
class RunResult:
    run: Run | None
    counts: list[GroupCount]
    deliveries: list[Delivery]
    warnings: list[Warning_] = field(default_factory=list)
    snapshot: Path | None = None


def runs_dir(ws: Workspace) -> Path:
    return ws.state_dir / "runs"


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
    day = build.as_of.astimezone(ZoneInfo(build.campaign.delivery.timezone)).date()
    return f"{name}_{day.isoformat()}"


def run_campaign(ws: Workspace, name: str, *, today: dt.date | None = None) -> RunResult:
    """Run a campaign once: build, snapshot, deliver to file destinations, log recipients."""
    build = ws.campaigns.build(name, today=today)
    store = ws.store
    # The status check comes first: a campaign that cannot run leaves no run behind.
    store.set_campaign_status(name, "running", expected=("draft", "scheduled", "delivered", "error"))
    try:
        run = store.create_run(name, build.version, as_of=build.as_of, pins=build.pins)
    except BaseException:
        store.set_campaign_status(name, "error")
        raise
    folder = runs_dir(ws) / run.id
    try:
        snapshot = folder / "recipients.parquet"
        ws.campaigns.write_snapshot(build, snapshot)
        with Snapshot(snapshot) as snap:
            deliveries = [_deliver(ws, build, snap, item) for item in build.resolved]
            counts = ordered_counts(build.campaign, snap.counts())
        _log(ws, build, run.id, snapshot, folder / "recipients_log.parquet")
    except BaseException as error:
        store.finish_run(run.id, "error", error=str(error) or type(error).__name__)
        store.set_campaign_status(name, "error")
        raise
    stats = {"recipients": sum(c.recipients for c in counts), "deliveries": len(deliveries)}
    run = store.finish_run(run.id, "delivered", stats=stats, snapshot=str(snapshot))
    store.set_campaign_status(name, "delivered")
    return RunResult(run, counts, deliveries, build.warnings, snapshot)


def _deliver(ws: Workspace, build: Build, snap: Snapshot, item: Resolved) -> Delivery:
    rows = snap.group_rows(item.sub_audience, item.group)
    prepared = prepare_records(rows, item.attributes, key=ws.settings.database.customer_key, kind=item.kind)
    fields = [a.field for a in item.attributes]
    base = Delivery(item.sub_audience, item.group, item.destination, item.kind.type, item.output_name,
                    prepared.records.num_rows, dict(prepared.drops), "not sent")
    if item.kind.type == "csv_file":
        path = _file_folder(ws, item.destination) / f"{dated_name(build, item.output_name)}.csv"
        write_csv(prepared.records, path, fields)
        return _replace(base, status="written", path=path)
    message = "not sent: this version of Herald delivers to file destinations only; `herald campaign test` writes what it would receive"
    return _replace(base, message=message)


def _replace(delivery: Delivery, **changes: object) -> Delivery:
    from dataclasses import replace

    return replace(delivery, **changes)  # type: ignore[arg-type]


def _file_folder(ws: Workspace, destination: str) -> Path:
    settings = ws.settings.destinations[destination]
    folder = (settings.model_extra or {}).get("folder", "exports")
    return ws.resolve(str(folder))


def _log(ws: Workspace, build: Build, run_id: str, snapshot: Path, target: Path) -> None:
    entries = [LogEntry(r.sub_audience, r.group, r.destination) for r in build.resolved]
    write_recipients_log(
        snapshot,
        target,
        key=ws.settings.database.customer_key,
        campaign=build.campaign.name,
        run_id=run_id,
        delivered_at=build.as_of,
        launch_date=build.campaign.launch_date,
        entries=entries,
    )


def preview_campaign(ws: Workspace, name: str, *, today: dt.date | None = None, which: str = "active") -> RunResult:
    """Counts per sub-audience, group and destination and drops by reason; nothing is sent or stored."""
    build = ws.campaigns.build(name, today=today, which=which)
    folder = runs_dir(ws) / "_preview"
    snapshot = folder / f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}.parquet"
    try:
        ws.campaigns.write_snapshot(build, snapshot)
        with Snapshot(snapshot) as snap:
            deliveries = []
            for item in build.resolved:
                rows = snap.group_rows(item.sub_audience, item.group)
                prepared = prepare_records(rows, item.attributes, key=ws.settings.database.customer_key, kind=item.kind)
                deliveries.append(Delivery(item.sub_audience, item.group, item.destination, item.kind.type,
                                           item.output_name, prepared.records.num_rows, dict(prepared.drops), "preview"))
            counts = ordered_counts(build.campaign, snap.counts())
    finally:
        snapshot.unlink(missing_ok=True)
    return RunResult(None, counts, deliveries, build.warnings)


def sample_campaign(ws: Workspace, name: str, records: int, out: Path, *, today: dt.date | None = None) -> RunResult:
    """Write the sample file each destination would receive for ``records`` rows per group;
    sends nothing."""
    build = ws.campaigns.build(name, today=today)
    out.mkdir(parents=True, exist_ok=True)
    snapshot = out / ".snapshot.parquet"
    try:
        ws.campaigns.write_snapshot(build, snapshot)
        with Snapshot(snapshot) as snap:
            deliveries = [_sample(ws, build, snap, item, records, out) for item in build.resolved]
            counts = ordered_counts(build.campaign, snap.counts())
    finally:
        snapshot.unlink(missing_ok=True)
    return RunResult(None, counts, deliveries, build.warnings)


def _sample(ws: Workspace, build: Build, snap: Snapshot, item: Resolved, records: int, out: Path) -> Delivery:
    rows = snap.group_rows(item.sub_audience, item.group, limit=records)
    prepared = prepare_records(rows, item.attributes, key=ws.settings.database.customer_key, kind=item.kind)
    fields = [a.field for a in item.attributes]
    stem = f"{item.destination}__{item.output_name}"
    if item.kind.type == "klaviyo_api":
        path = out / f"{stem}.jsonl"
        write_klaviyo_jsonl(prepared.records, path, fields)
    else:
        path = out / f"{stem}.csv"
        write_csv(prepared.records, path, fields)
    return Delivery(item.sub_audience, item.group, item.destination, item.kind.type, item.output_name,
                    prepared.records.num_rows, dict(prepared.drops), "sample", path)


def remove_run_files(ws: Workspace, run_id: str) -> None:
    shutil.rmtree(runs_dir(ws) / run_id, ignore_errors=True)
