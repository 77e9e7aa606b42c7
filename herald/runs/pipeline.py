"""The run pipeline of DESIGN §1.4: build → snapshot → prepare → deliver → log.

A run pins the campaign's version and its segments' active versions, builds the audience in
the engine, writes the recipients snapshot (Parquet), prepares each group's records per
destination, delivers what this version can deliver (file destinations), and writes the
recipients log. The campaign's status follows: running, then delivered or error.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from herald.campaigns import Build
from herald.core.campaigns.model import Campaign
from herald.core.campaigns.validate import Resolved, Warning_
from herald.destinations.files import write_csv, write_klaviyo_jsonl
from herald.destinations.klaviyo_api.sync import (
    ListDelivery,
    SyncOptions,
    prepare_delivery,
    sync_list,
)
from herald.exceptions import ConfigError, StateError
from herald.redact import error_line, redact
from herald.runs.claims import EmailClaims, claim_emails
from herald.runs.prepared import PreparedGroup, prepare_group
from herald.runs.resume import interrupted_runs, is_alive, run_lock
from herald.runs.snapshots import GroupCount, LogEntry, Snapshot, write_recipients_log

if TYPE_CHECKING:
    from herald.destinations.klaviyo_api.api import KlaviyoApi
    from herald.destinations.klaviyo_api.sync import Progress
    from herald.state import Run, StateStore
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
    status: str  # "written", "synced", "failed", "sample", "not sent"
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


_LISTS_AT_ONCE = 4
"""Lists of one destination synced at once (the client's limiter paces their calls)."""


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


def run_campaign(
    ws: Workspace,
    name: str,
    *,
    today: dt.date | None = None,
    reconcile: bool = False,
    progress: Progress | None = None,
) -> RunResult:
    """Run a campaign once: build, snapshot, deliver (files, Klaviyo lists), log recipients.

    A run of the same campaign that was interrupted (``running`` with no live process) is
    resumed first, so that its lists are finished before they are diffed again.

    A delivery that failed, or that could not be sent (a destination Herald cannot deliver
    to yet, a Klaviyo key that is not set), does not raise: the other deliveries go on, and
    the run ends ``error`` with the reasons in ``result.run.error``. Check
    ``result.run.status``; ``herald campaign run`` exits 1 for such a run.

    Args:
        ws: the workspace.
        name: the campaign.
        today: the date relative dates resolve against (default: today, UTC).
        reconcile: read every Klaviyo list back and repair drift.
        progress: called with each Klaviyo list sync event (``SyncEvent``).

    Raises:
        HeraldError: the run could not start, or stopped before its deliveries ended (the
            run, if one was recorded, then ends ``error`` too).
    """
    for stale in interrupted_runs(ws, name):
        continue_run(ws, stale, reconcile=reconcile, progress=progress)
    build = ws.campaigns.build(name, today=today)
    # The status check comes first: a campaign that cannot run leaves no run behind. The
    # status and the run are written together, so no crash leaves one without the other.
    run = ws.store.start_run(
        name,
        build.version,
        as_of=build.as_of,
        pins=build.pins,
        expected=("draft", "scheduled", "delivered", "error"),
    )
    crash_point("run_created")
    return _execute(ws, build, run, reconcile=reconcile, progress=progress)


def continue_run(
    ws: Workspace, run: Run, *, reconcile: bool = False, progress: Progress | None = None
) -> RunResult:
    """Carry an interrupted run to its end (see ``herald.runs.resume.resume_run``).

    The audience is built again, when its snapshot was not written, from the run's own
    pinned segment versions and as-of time: never from what is active today.
    """
    build = ws.campaigns.build(
        run.campaign, which=run.campaign_version, pins=run.pins, as_of=run.as_of
    )
    return _execute(ws, build, run, reconcile=reconcile, progress=progress)


CRASH_ENV = "HERALD_CRASH_AT"
"""Test hook: the name of a point of a run (see `crash_point`) at which the process kills
itself with SIGKILL, so tests can prove that a crash there leaves nothing stuck."""


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL if ``HERALD_CRASH_AT`` names this point (a test hook).

    Points: ``run_created`` (with the campaign's status), ``snapshot_written``,
    ``delivery_started:<n>`` and ``delivery_finished:<n>`` (n counts the run's deliveries
    from 1, in the campaign's order), ``run_finished`` (with the campaign's status).
    """
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _execute(
    ws: Workspace, build: Build, run: Run, *, reconcile: bool, progress: Progress | None
) -> RunResult:
    """Snapshot (unless a resumed run has one), deliver, log, and finish the run; the run
    ends ``error`` (never left ``running``) on any failure, and the campaign with it."""
    store = ws.store
    folder = runs_dir(ws) / run.id
    try:
        with run_lock(ws, run.id):
            snapshot = folder / "recipients.parquet"
            if not snapshot.exists():
                ws.campaigns.write_snapshot(build, snapshot)
            crash_point("snapshot_written")
            with Snapshot(snapshot) as snap:
                deliveries = _deliver_all(
                    ws, build, snap, run.id, reconcile=reconcile, progress=progress
                )
                counts = ordered_counts(build.campaign, snap.counts())
            log_recipients(ws, build, run.id, snapshot, folder / "recipients_log.parquet")
            finished = _finish(store, run, counts, deliveries, snapshot)
    except BaseException as error:
        if not is_alive(ws, run.id):  # else another live process works on it: not ours to end
            _fail(store, run, error)
        raise
    crash_point("run_finished")
    return RunResult(finished, counts, deliveries, build.warnings, snapshot)


def _fail(store: StateStore, run: Run, error: BaseException) -> None:
    """End a run that stopped in error, with its campaign, in one transaction."""
    with contextlib.suppress(StateError):  # already finished: report the original error
        store.finish_run(
            run.id, "error", error=str(error) or type(error).__name__, campaign_status="error"
        )


def _finish(
    store: StateStore,
    run: Run,
    counts: list[GroupCount],
    deliveries: list[Delivery],
    snapshot: Path,
) -> Run:
    """Record a run's figures and end it, with its campaign: ``error`` (with the reasons)
    when any delivery failed or could not be sent, else ``delivered``."""
    stats: dict[str, Any] = {
        "recipients": sum(c.recipients for c in counts),
        "deliveries": len(deliveries),
    }
    lists = {
        f"{d.destination}:{d.output_name}": d.counts for d in deliveries if d.counts is not None
    }
    if lists:
        stats["lists"] = lists
    unsent = [d for d in deliveries if d.status in _UNSENT]
    if not unsent:
        return store.finish_run(
            run.id,
            "delivered",
            stats=stats,
            snapshot=str(snapshot),
            campaign_status="delivered",
        )
    why = "; ".join(f"{d.destination} '{d.output_name}': {_reason(d)}" for d in unsent)
    return store.finish_run(
        run.id, "error", stats=stats, error=why, snapshot=str(snapshot), campaign_status="error"
    )


_UNSENT = ("failed", "not sent")
"""Delivery statuses that make a run end in error."""


def _reason(delivery: Delivery) -> str:
    message = delivery.message or delivery.status
    return message if delivery.status == "failed" else message.removeprefix("not sent: ")


def _deliver_all(
    ws: Workspace,
    build: Build,
    snap: Snapshot,
    run_id: str,
    *,
    reconcile: bool,
    progress: Progress | None,
) -> list[Delivery]:
    """Deliver every group: files now, Klaviyo lists together (one client per destination)."""
    deliveries: list[Delivery] = []
    lists: dict[int, tuple[Delivery, ListDelivery]] = {}
    with claims_for(ws, build, snap) as claims:
        for item in build.resolved:
            if item.kind.type == "klaviyo_api":
                base, spec = _klaviyo_input(ws, snap, item, run_id, claims)
                lists[len(deliveries)] = (base, spec)
                deliveries.append(base)
            else:
                crash_point(f"delivery_started:{len(deliveries) + 1}")
                deliveries.append(_deliver(ws, build, snap, item, claims))
                crash_point(f"delivery_finished:{len(deliveries)}")
    if lists:
        synced = asyncio.run(
            _sync_lists(
                ws, list(lists.values()), list(lists), reconcile=reconcile, progress=progress
            )
        )
        for index, delivery in zip(lists, synced, strict=True):
            deliveries[index] = delivery
    return deliveries


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


def _delivery(item: Resolved, prepared: PreparedGroup, status: str) -> Delivery:
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


def _klaviyo_input(
    ws: Workspace, snap: Snapshot, item: Resolved, run_id: str, claims: EmailClaims
) -> tuple[Delivery, ListDelivery]:
    def folder_in(run: str) -> Path:
        return runs_dir(ws) / run / "deliveries" / _safe(f"{item.destination}__{item.output_name}")

    folder = folder_in(run_id)
    with prepared_group(ws, snap, item, claims) as prepared:
        base = _delivery(item, prepared, "not sent")
        # In key order: the diff then writes its files without sorting profiles.
        records = prepared.batches(order="key")
        prepare_delivery(records, prepared.fields, prepared.key, prepared.dropped, folder)
    spec = ListDelivery(
        run_id,
        item.destination,
        item.sub_audience,
        item.group,
        item.output_name,
        folder,
        ws.state_dir,
        earlier_folder=folder_in,  # to settle the jobs an earlier failed run left sent
    )
    return base, spec


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


async def _sync_lists(
    ws: Workspace,
    items: list[tuple[Delivery, ListDelivery]],
    positions: list[int],
    *,
    reconcile: bool,
    progress: Progress | None,
) -> list[Delivery]:
    """Sync the lists of every Klaviyo destination, each destination with its own client;
    ``positions`` are the lists' places among the run's deliveries."""
    by_destination: dict[str, list[int]] = {}
    for index, (base, _) in enumerate(items):
        by_destination.setdefault(base.destination, []).append(index)
    results: list[Delivery] = [base for base, _ in items]
    number = {i: n + 1 for i, n in enumerate(positions)}  # for crash points

    async def destination(name: str, indexes: list[int]) -> None:
        from herald.destinations.klaviyo_api import KlaviyoClient, KlaviyoSettings

        try:
            settings = KlaviyoSettings.from_destination(name, ws.settings.destinations[name])
        except ConfigError as error:
            for i in indexes:
                results[i] = _replace(items[i][0], message=f"not sent: {error}")
            return
        options = SyncOptions(poll_interval=settings.poll_interval)
        async with KlaviyoClient(settings) as client:
            # Lists of one destination share the client (and its limiter); a few at a time.
            slots = asyncio.Semaphore(_LISTS_AT_ONCE)

            async def one(i: int) -> None:
                base, spec = items[i]
                async with slots:
                    crash_point(f"delivery_started:{number[i]}")
                    results[i] = await _sync_one(
                        client,
                        ws,
                        replace(spec, options=options),
                        base,
                        reconcile=reconcile,
                        progress=progress,
                    )
                    crash_point(f"delivery_finished:{number[i]}")

            await asyncio.gather(*(one(i) for i in indexes))

    await asyncio.gather(*(destination(n, ix) for n, ix in by_destination.items()))
    return results


async def _sync_one(
    client: KlaviyoApi,
    ws: Workspace,
    spec: ListDelivery,
    base: Delivery,
    *,
    reconcile: bool,
    progress: Progress | None,
) -> Delivery:
    try:
        result = await sync_list(client, ws.store, spec, progress=progress, reconcile=reconcile)
    except Exception as error:  # a failed delivery never stops the others (DESIGN §1.4)
        return _replace(base, status="failed", message=error_line(error))
    if result.status != "done":
        return _replace(base, status="failed", message=result.error, counts=result.counts)
    counts = result.counts
    message = (
        f"list synced: +{counts.get('adds', 0):,} ~{counts.get('updates', 0):,} "
        f"-{counts.get('removes', 0) + counts.get('settled', 0):,}, "
        f"{counts.get('rejected', 0):,} rejected"
    )
    return _replace(base, status="synced", message=message, counts=counts, path=result.outcomes)


def _deliver(
    ws: Workspace, build: Build, snap: Snapshot, item: Resolved, claims: EmailClaims
) -> Delivery:
    with prepared_group(ws, snap, item, claims) as prepared:
        base = _delivery(item, prepared, "not sent")
        if item.kind.type == "csv_file":
            fields = [a.field for a in item.attributes]
            name = f"{dated_name(build, item.output_name)}.csv"
            path = _file_folder(ws, item.destination) / name
            write_csv(prepared.batches(), path, fields)
            return _replace(base, status="written", path=path)
    message = (
        f"not sent: Herald cannot deliver to {item.kind.type} destinations yet; "
        "`herald campaign test` writes what it would receive"
    )
    return _replace(base, message=message)


def _replace(delivery: Delivery, **changes: object) -> Delivery:
    if isinstance(changes.get("message"), str):
        # Messages are shown and stored; many quote an error from a destination.
        changes["message"] = redact(str(changes["message"]))
    return replace(delivery, **changes)  # type: ignore[arg-type]


def _file_folder(ws: Workspace, destination: str) -> Path:
    settings = ws.settings.destinations[destination]
    folder = getattr(settings, "folder", "exports")
    return ws.resolve(str(folder))


def log_recipients(ws: Workspace, build: Build, run_id: str, snapshot: Path, target: Path) -> None:
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


def preview_campaign(
    ws: Workspace, name: str, *, today: dt.date | None = None, which: str = "active"
) -> RunResult:
    """Counts per sub-audience, group and destination and drops by reason;
    nothing is sent or stored."""
    build = ws.campaigns.build(name, today=today, which=which)
    folder = runs_dir(ws) / "_preview"
    snapshot = folder / f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}.parquet"
    try:
        ws.campaigns.write_snapshot(build, snapshot)
        with Snapshot(snapshot) as snap, claims_for(ws, build, snap) as claims:
            deliveries = []
            for item in build.resolved:
                with prepared_group(ws, snap, item, claims) as prepared:
                    deliveries.append(_delivery(item, prepared, "preview"))
            counts = ordered_counts(build.campaign, snap.counts())
    finally:
        snapshot.unlink(missing_ok=True)
    return RunResult(None, counts, deliveries, build.warnings)


def sample_campaign(
    ws: Workspace, name: str, records: int, out: Path, *, today: dt.date | None = None
) -> RunResult:
    """Write the sample file each destination would receive for ``records`` rows per group;
    sends nothing."""
    build = ws.campaigns.build(name, today=today)
    out.mkdir(parents=True, exist_ok=True)
    snapshot = out / ".snapshot.parquet"
    try:
        ws.campaigns.write_snapshot(build, snapshot)
        with Snapshot(snapshot) as snap, claims_for(ws, build, snap) as claims:
            deliveries = [_sample(ws, snap, item, records, out, claims) for item in build.resolved]
            counts = ordered_counts(build.campaign, snap.counts())
    finally:
        snapshot.unlink(missing_ok=True)
    return RunResult(None, counts, deliveries, build.warnings)


def _sample(
    ws: Workspace, snap: Snapshot, item: Resolved, records: int, out: Path, claims: EmailClaims
) -> Delivery:
    fields = [a.field for a in item.attributes]
    stem = f"{item.destination}__{item.output_name}"
    with prepared_group(ws, snap, item, claims, limit=records) as prepared:
        delivery = _delivery(item, prepared, "sample")
        if item.kind.type == "klaviyo_api":
            path = out / f"{stem}.jsonl"
            write_klaviyo_jsonl(prepared.batches(), path, fields)
        else:
            path = out / f"{stem}.csv"
            write_csv(prepared.batches(), path, fields)
    return _replace(delivery, path=path)
