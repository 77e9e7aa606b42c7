"""The run pipeline of DESIGN §1.4: build → snapshot → prepare → deliver → log.

A run pins the campaign's version and its segments' active versions, builds the audience in
the engine, writes the recipients snapshot (Parquet), prepares each group's records per
destination, delivers what this version can deliver (file destinations), and writes the
recipients log. The campaign's status follows: running, then delivered or error.

A run asked to stop (`herald runs cancel`) stops each delivery at its next batch boundary and
ends ``cancelled`` (its campaign ``error``: its lists hold part of the new audience, each
consistent with its ledger, until the next run).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from herald.atomic import atomic_path
from herald.campaigns import Build
from herald.core.campaigns.model import Campaign
from herald.core.campaigns.validate import Resolved, Warning_
from herald.crash import crash_point
from herald.destinations.base import Delivered, DeliveryTarget, Destination, Progress, Stop
from herald.exceptions import ConfigError, StateError
from herald.redact import redact
from herald.runs.claims import EmailClaims, claim_emails
from herald.runs.prepared import PreparedGroup, prepare_group
from herald.runs.resume import interrupted_runs, is_alive, run_lock
from herald.runs.snapshots import GroupCount, LogEntry, Snapshot, write_recipients_log
from herald.runs.stop import CancelCheck

if TYPE_CHECKING:
    from herald.state import Run, StateStore
    from herald.state.models import RunStatus
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
    """Carry an interrupted run to its end (see :func:`resume_run`).

    The audience is built again, when its snapshot was not written, from the run's own
    pinned segment versions and as-of time: never from what is active today.
    """
    build = ws.campaigns.build(
        run.campaign, which=run.campaign_version, pins=run.pins, as_of=run.as_of
    )
    return _execute(ws, build, run, reconcile=reconcile, progress=progress)


def resume_run(
    ws: Workspace, run_id: str, *, reconcile: bool = False, progress: Progress | None = None
) -> RunResult:
    """Finish an interrupted run: reuse its snapshot and delivery inputs, continue every
    delivery from its checkpoints, write its recipients log and finish it.

    Confirmed batches are never sent again; sent ones are polled by job id; planned ones
    are sent (harmless if they went out before: bulk import is an upsert).

    Raises:
        NotFoundError: no such run.
        StateError: the run is not running, or a live process is working on it.
    """
    run = ws.store.get_run(run_id)
    if run.status != "running":
        msg = f"run {run_id} is {run.status}, not running: there is nothing to resume"
        raise StateError(msg)
    return continue_run(ws, run, reconcile=reconcile, progress=progress)


def deliver_only(
    ws: Workspace,
    build: Build,
    run: Run,
    only: Collection[tuple[str, str]],
    *,
    reconcile: bool = False,
    progress: Progress | None = None,
) -> RunResult:
    """Carry a new run to its end delivering only some of its groups (a retry).

    Like a run's own execution (snapshot unless its folder has one, deliver, log, finish),
    but only the groups in ``only`` are staged and delivered; the claims on shared emails
    are still those of the whole campaign. The subset is kept in the run's folder, so a
    resume of this run delivers the same.

    Args:
        ws: the workspace.
        build: the run's build (its pinned versions and as-of).
        run: the new run, running.
        only: (destination, output name) of the groups to deliver.
        reconcile: read every Klaviyo list back and repair drift.
        progress: called with each Klaviyo list sync event.
    """
    return _execute(ws, build, run, reconcile=reconcile, progress=progress, only=only)


def _execute(
    ws: Workspace,
    build: Build,
    run: Run,
    *,
    reconcile: bool,
    progress: Progress | None,
    only: Collection[tuple[str, str]] | None = None,
) -> RunResult:
    """Snapshot (unless a resumed run has one), deliver, log, and finish the run; the run
    ends ``error`` (never left ``running``) on any failure, and the campaign with it."""
    store = ws.store
    folder = ws.runs_dir / run.id
    try:
        with run_lock(ws, run.id):
            chosen = _only(folder, only)
            snapshot = folder / "recipients.parquet"
            if not snapshot.exists():
                ws.campaigns.write_snapshot(build, snapshot)
            crash_point("snapshot_written")
            with Snapshot(snapshot) as snap:
                deliveries = _deliver_all(
                    ws, build, snap, run.id, reconcile=reconcile, progress=progress, only=chosen
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


_ONLY_FILE = "only.json"
"""In a run's folder: the groups a run delivers when it delivers only some (a retry)."""


def _only(
    folder: Path, only: Collection[tuple[str, str]] | None
) -> frozenset[tuple[str, str]] | None:
    """The groups a run delivers (None: all): ``only`` for a new run, kept in its folder so
    that a resume of it delivers the same."""
    path = folder / _ONLY_FILE
    if only is not None:
        with atomic_path(path) as partial:
            partial.write_text(json.dumps(sorted(only)), encoding="utf-8")
        return frozenset(only)
    if not path.exists():
        return None
    return frozenset((d, o) for d, o in json.loads(path.read_text(encoding="utf-8")))


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
    """Record a run's figures and end it, with its campaign: ``cancelled`` when a delivery
    was stopped by a cancel, ``error`` (with the reasons) when any failed or could not be
    sent, else ``delivered``; the campaign ``error`` unless delivered."""
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
    status: RunStatus = "cancelled" if any(d.status == "cancelled" for d in unsent) else "error"
    return store.finish_run(
        run.id, status, stats=stats, error=why, snapshot=str(snapshot), campaign_status="error"
    )


_UNSENT = ("failed", "not sent", "cancelled")
"""Delivery statuses that make a run end in error (cancelled, when one was stopped)."""


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
    only: frozenset[tuple[str, str]] | None = None,
) -> list[Delivery]:
    """Stage every group at its destination (in the campaign's order), then deliver them:
    each destination over one connection, the destinations at once; each stops at its next
    batch boundary once the run is asked to. ``only``: deliver just these groups."""
    destinations = {name: ws.destination(name) for name in _used(build)}
    staged: list[tuple[Delivery, DeliveryTarget]] = []
    with claims_for(ws, build, snap) as claims:
        for number, item in enumerate(build.resolved, 1):
            if only is not None and (item.destination, item.output_name) not in only:
                continue
            target = target_for(ws, build, item, run_id, number)
            with prepared_group(ws, snap, item, claims) as prepared:
                destinations[item.destination].stage(target, prepared)
                staged.append((_delivery(item, prepared, "not sent"), target))
    stop = CancelCheck(ws.store, run_id)
    return asyncio.run(_deliver_staged(destinations, staged, reconcile, progress, stop))


def _used(build: Build) -> list[str]:
    return list(dict.fromkeys(item.destination for item in build.resolved))


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
    )


async def _deliver_staged(
    destinations: dict[str, Destination],
    staged: list[tuple[Delivery, DeliveryTarget]],
    reconcile: bool,
    progress: Progress | None,
    stop: Stop,
) -> list[Delivery]:
    """Deliver the staged groups, every destination at once; in the campaign's order."""
    by_destination: dict[str, list[tuple[Delivery, DeliveryTarget]]] = {}
    for base, target in staged:
        by_destination.setdefault(base.destination, []).append((base, target))
    delivered = await asyncio.gather(
        *(
            _deliver_to(destinations[name], items, reconcile, progress, stop)
            for name, items in by_destination.items()
        )
    )
    found = {target.number: delivery for done in delivered for delivery, target in done}
    return [found[target.number] for _, target in staged]


async def _deliver_to(
    destination: Destination,
    items: list[tuple[Delivery, DeliveryTarget]],
    reconcile: bool,
    progress: Progress | None,
    stop: Stop,
) -> list[tuple[Delivery, DeliveryTarget]]:
    """One destination's groups over one connection (its pacing shared), a few at once; all
    ``not sent`` when it cannot be reached as configured."""
    try:
        async with destination.open() as session:
            slots = asyncio.Semaphore(destination.capabilities.deliveries_at_once)

            async def one(base: Delivery, target: DeliveryTarget) -> Delivery:
                async with slots:
                    crash_point(f"delivery_started:{target.number}")
                    done = await session.deliver(
                        target, reconcile=reconcile, progress=progress, stop=stop
                    )
                    crash_point(f"delivery_finished:{target.number}")
                return _delivered(base, done)

            results = await asyncio.gather(*(one(base, target) for base, target in items))
    except ConfigError as error:
        results = [_replace(base, message=f"not sent: {error}") for base, _ in items]
    return [(result, target) for result, (_, target) in zip(results, items, strict=True)]


def _delivered(base: Delivery, done: Delivered) -> Delivery:
    return _replace(
        base, status=done.status, message=done.message, path=done.path, counts=done.counts
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


def _replace(delivery: Delivery, **changes: Any) -> Delivery:
    if isinstance(changes.get("message"), str):
        # Messages are shown and stored; many quote an error from a destination.
        changes["message"] = redact(str(changes["message"]))
    return replace(delivery, **changes)


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
    folder = ws.runs_dir / "_preview"
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
    destination = ws.destination(item.destination)
    path = out / f"{item.destination}__{item.output_name}{destination.capabilities.sample_suffix}"
    with prepared_group(ws, snap, item, claims, limit=records) as prepared:
        delivery = _delivery(item, prepared, "sample")
        destination.sample(prepared, path)
    return _replace(delivery, path=path)
