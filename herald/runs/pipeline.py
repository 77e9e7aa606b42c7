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
import functools
import json
import logging
import tempfile
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from herald.atomic import atomic_path
from herald.campaigns import Build
from herald.core.schedule import launch_date
from herald.crash import crash_point
from herald.destinations.base import Delivered, DeliveryTarget, Destination, Progress, Stop
from herald.exceptions import ConfigError, StateError
from herald.redact import error_line
from herald.runs.alerting import announce_finished
from herald.runs.events import RunRecorder
from herald.runs.groups import (
    Delivery,
    RunResult,
    claims_for,
    delivery_of,
    log_recipients,
    ordered_counts,
    prepared_group,
    target_for,
    with_changes,
)
from herald.runs.history import run_stats
from herald.runs.resume import interrupted_runs, is_alive, run_lock
from herald.runs.snapshots import GroupCount, Snapshot, write_snapshot
from herald.runs.stop import CancelCheck

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from herald.runs.spark_lists import SparkLists
    from herald.state import Run, StateStore
    from herald.state.models import RunStatus
    from herald.workspace import Workspace


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
    resumed first, so that its lists are finished before they are diffed again. The run
    writes its progress to the state store as it goes (``herald runs watch``).

    A delivery that failed, or that could not be sent (a destination Herald cannot deliver
    to yet, a Klaviyo key that is not set), does not raise: the other deliveries go on, and
    the run ends ``error`` with the reasons in ``result.run.error``. Check
    ``result.run.status``; ``herald campaign run`` exits 1 for such a run.

    It runs an event loop of its own: from a coroutine, await :func:`run_campaign_async`.

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
    _refuse_running_loop("run_campaign")
    return asyncio.run(
        run_campaign_async(ws, name, today=today, reconcile=reconcile, progress=progress)
    )


async def run_campaign_async(
    ws: Workspace,
    name: str,
    *,
    today: dt.date | None = None,
    reconcile: bool = False,
    progress: Progress | None = None,
) -> RunResult:
    """:func:`run_campaign` in the caller's event loop: the deliveries are awaited there, the
    blocking work (build, snapshot, prepare, log, the state store) runs in worker threads, so
    the loop stays free for the caller's other tasks. Same arguments, result and errors.
    """
    for stale in await asyncio.to_thread(interrupted_runs, ws, name):
        await continue_run_async(ws, stale, reconcile=reconcile, progress=progress)
    recorder = RunRecorder(ws.store, progress=progress)
    which, pins = await asyncio.to_thread(ws.campaigns.run_versions, name)  # a scheduled
    with recorder.phase("build"):  # campaign's pinned versions, else the active ones
        build = await asyncio.to_thread(
            functools.partial(ws.campaigns.build, name, today=today, which=which, pins=pins)
        )
    # The status check comes first: a campaign that cannot run leaves no run behind. The
    # status and the run are written together, so no crash leaves one without the other.
    run = await asyncio.to_thread(
        functools.partial(
            ws.store.start_run,
            name,
            build.version,
            as_of=build.as_of,
            pins=build.pins,
            expected=("draft", "scheduled", "delivered", "error"),
            launch_date=launch_date(build.campaign, build.as_of),
        )
    )
    crash_point("run_created")
    return await _execute(ws, build, run, reconcile=reconcile, recorder=recorder)


def continue_run(
    ws: Workspace, run: Run, *, reconcile: bool = False, progress: Progress | None = None
) -> RunResult:
    """Carry an interrupted run to its end (see :func:`resume_run`)."""
    _refuse_running_loop("continue_run")
    return asyncio.run(continue_run_async(ws, run, reconcile=reconcile, progress=progress))


async def continue_run_async(
    ws: Workspace, run: Run, *, reconcile: bool = False, progress: Progress | None = None
) -> RunResult:
    """:func:`continue_run` in the caller's event loop.

    The audience is built again, when its snapshot was not written, from the run's own
    pinned segment versions and as-of time: never from what is active today.
    """
    recorder = RunRecorder(ws.store, progress=progress)
    recorder.start(run.id)
    with recorder.phase("build"):
        build = await asyncio.to_thread(
            functools.partial(
                ws.campaigns.build,
                run.campaign,
                which=run.campaign_version,
                pins=run.pins,
                as_of=run.as_of,
            )
        )
    return await _execute(ws, build, run, reconcile=reconcile, recorder=recorder)


def resume_run(
    ws: Workspace, run_id: str, *, reconcile: bool = False, progress: Progress | None = None
) -> RunResult:
    """Finish an interrupted run: reuse its snapshot and delivery inputs, continue every
    delivery from its checkpoints, write its recipients log and finish it.

    Confirmed batches are never sent again; sent ones are polled by job id; planned ones
    are sent (harmless if they went out before: bulk import is an upsert). From a coroutine,
    await :func:`resume_run_async`.

    Raises:
        NotFoundError: no such run.
        StateError: the run is not running, or a live process is working on it.
    """
    _refuse_running_loop("resume_run")
    return asyncio.run(resume_run_async(ws, run_id, reconcile=reconcile, progress=progress))


async def resume_run_async(
    ws: Workspace, run_id: str, *, reconcile: bool = False, progress: Progress | None = None
) -> RunResult:
    """:func:`resume_run` in the caller's event loop (see :func:`run_campaign_async`)."""
    run = await asyncio.to_thread(ws.store.get_run, run_id)
    if run.status != "running":
        msg = f"run {run_id} is {run.status}, not running: there is nothing to resume"
        raise StateError(msg)
    return await continue_run_async(ws, run, reconcile=reconcile, progress=progress)


def _refuse_running_loop(name: str) -> None:
    """Say which coroutine to await instead of starting a second event loop in a thread
    that runs one (``asyncio.run`` would refuse less helpfully)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    msg = f"{name} cannot be called from a running event loop: await {name}_async instead"
    raise RuntimeError(msg)


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
    _refuse_running_loop("deliver_only")
    recorder = RunRecorder(ws.store, progress=progress)
    return asyncio.run(_execute(ws, build, run, reconcile=reconcile, recorder=recorder, only=only))


async def _execute(
    ws: Workspace,
    build: Build,
    run: Run,
    *,
    reconcile: bool,
    recorder: RunRecorder,
    only: Collection[tuple[str, str]] | None = None,
) -> RunResult:
    """Snapshot (unless a resumed run has one), deliver, log, and finish the run; the run
    ends ``error`` (never left ``running``) on any failure, and the campaign with it."""
    store = ws.store
    folder = ws.runs_dir / run.id
    recorder.start(run.id)
    try:
        with run_lock(ws, run.id):
            _check_running(store, run.id)
            chosen = _only(folder, only)
            snapshot = folder / "recipients.parquet"
            with recorder.phase("snapshot"):
                if not snapshot.exists():
                    await asyncio.to_thread(write_snapshot, ws, build, snapshot)
            crash_point("snapshot_written")
            with recorder.phase("prepare"):
                destinations, staged, counts = await asyncio.to_thread(
                    _stage_all, ws, build, snapshot, run.id, chosen
                )
            with recorder.phase("deliver"):
                stop = CancelCheck(store, run.id)
                deliveries = await _deliver_staged(destinations, staged, reconcile, recorder, stop)
            with recorder.phase("log"):
                target = folder / "recipients_log.parquet"
                await asyncio.to_thread(
                    functools.partial(
                        log_recipients, ws, build, run.id, snapshot, target, launch=run.launch_date
                    )
                )
            finished = await asyncio.to_thread(
                _finish, store, run, counts, deliveries, snapshot, recorder
            )
    except asyncio.CancelledError:
        raise  # stopped (SIGTERM, Ctrl-C), every batch checkpointed: left to be resumed
    except BaseException as error:
        if not is_alive(ws, run.id):  # else another live process works on it: not ours to end
            _fail(store, run, error, recorder)
            await asyncio.to_thread(release_engine_files, ws, run.id)
            await asyncio.to_thread(announce_finished, ws, store.get_run(run.id))
        raise
    crash_point("run_finished")
    await asyncio.to_thread(release_engine_files, ws, run.id)
    await asyncio.to_thread(announce_finished, ws, finished)
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


def _check_running(store: StateStore, run_id: str) -> None:
    """Refuse to work on a run that another process carried to its end meanwhile (two
    schedulers may both find it interrupted; the lock lets them in one after the other)."""
    current = store.get_run(run_id)
    if current.status != "running":
        msg = f"run {run_id} has already ended {current.status}: there is nothing to carry on"
        raise StateError(msg)


def _fail(store: StateStore, run: Run, error: BaseException, recorder: RunRecorder) -> None:
    """End a run that stopped in error, with its campaign and its last event, in one
    transaction."""
    with contextlib.suppress(StateError), store.transaction():  # already finished: report
        failed = store.finish_run(  # the original error
            run.id, "error", error=str(error) or type(error).__name__, campaign_status="error"
        )
        recorder.finished(failed)


def _finish(
    store: StateStore,
    run: Run,
    counts: list[GroupCount],
    deliveries: list[Delivery],
    snapshot: Path,
    recorder: RunRecorder,
) -> Run:
    """Record a run's figures and end it, with its campaign and its last event:
    ``cancelled`` when a delivery was stopped by a cancel, ``error`` (with the reasons) when
    any failed or could not be sent, else ``delivered``; the campaign ``error`` unless
    delivered (``scheduled`` while its schedule has slots to come)."""
    stats = run_stats(counts, deliveries, recorder.timings())
    unsent = [d for d in deliveries if d.status in _UNSENT]
    why = "; ".join(f"{d.destination} '{d.output_name}': {_reason(d)}" for d in unsent)
    status: RunStatus = "delivered"
    if unsent:
        status = "cancelled" if any(d.status == "cancelled" for d in unsent) else "error"
    with store.transaction():
        finished = store.finish_run(
            run.id,
            status,
            stats=stats,
            error=why or None,
            snapshot=str(snapshot),
            campaign_status="delivered" if status == "delivered" else "error",
        )
        recorder.finished(finished)
    return finished


_UNSENT = ("failed", "not sent", "cancelled")
"""Delivery statuses that make a run end in error (cancelled, when one was stopped)."""


def _reason(delivery: Delivery) -> str:
    message = delivery.message or delivery.status
    return message if delivery.status == "failed" else message.removeprefix("not sent: ")


_Staged = list[tuple[Delivery, DeliveryTarget]]
"""Each group staged at its destination: what it is (still ``not sent``), and its target."""


def _stage_all(
    ws: Workspace,
    build: Build,
    snapshot: Path,
    run_id: str,
    only: frozenset[tuple[str, str]] | None = None,
) -> tuple[dict[str, Destination], _Staged, list[GroupCount]]:
    """Stage every group at its destination, in the campaign's order (blocking: run in a
    worker thread); returns the destinations, the staged groups and the recipients per group.
    ``only``: stage just these groups (destination, output name)."""
    destinations = {name: ws.destination(name) for name in _used(build)}
    staged: _Staged = []
    with Snapshot(snapshot) as snap, contextlib.ExitStack() as scope:
        in_engine = _engine_lists(ws, build, snapshot, run_id, scope)
        claims = None
        for number, item in enumerate(build.resolved, 1):
            if only is not None and (item.destination, item.output_name) not in only:
                continue
            target = target_for(ws, build, item, run_id, number)
            destination = destinations[item.destination]
            shape = destination.capabilities.engine_rows
            if in_engine is not None and shape is not None:
                kept = in_engine.prepare(item, number, shape)
                destination.stage_in_engine(target, kept.records)
                staged.append((delivery_of(item, kept, "not sent"), target))
                continue
            if claims is None:  # only for the groups prepared here
                claims = scope.enter_context(claims_for(ws, build, snap))
            with prepared_group(ws, snap, item, claims) as prepared:
                destination.stage(target, prepared)
                staged.append((delivery_of(item, prepared, "not sent"), target))
        counts = ordered_counts(build.campaign, snap.counts())
    return destinations, staged, counts


def _engine_lists(
    ws: Workspace, build: Build, snapshot: Path, run_id: str, scope: contextlib.ExitStack
) -> SparkLists | None:
    """With the Spark engine, what prepares the groups whose destinations diff in the engine
    (their records stay in Spark: see ``herald.runs.spark_lists``); else None."""
    from herald.engines.spark import SparkEngine

    engine = ws.engine
    if not isinstance(engine, SparkEngine):
        return None
    from herald.runs.spark_lists import SparkLists

    scratch = Path(scope.enter_context(tempfile.TemporaryDirectory(dir=snapshot.parent)))
    key = ws.settings.database.customer_key
    return SparkLists(engine, build, snapshot, run_id, key=key, scratch=scratch)


def release_engine_files(ws: Workspace, run_id: str) -> None:
    """Delete what the engine kept for a run that ended (its prepared list groups)."""
    from herald.engines.spark import SparkEngine

    engine = ws.engine
    if isinstance(engine, SparkEngine):
        from herald.runs.spark_lists import run_folder

        try:
            engine.forget(run_folder(run_id))
        except OSError as error:  # the run is over whatever happens to its leftovers
            logger.warning(
                "run %s: its rows kept by Spark stay behind: %s", run_id, error_line(error)
            )


def _used(build: Build) -> list[str]:
    return list(dict.fromkeys(item.destination for item in build.resolved))


async def _deliver_staged(
    destinations: dict[str, Destination],
    staged: list[tuple[Delivery, DeliveryTarget]],
    reconcile: bool,
    recorder: RunRecorder,
    stop: Stop,
) -> list[Delivery]:
    """Deliver the staged groups, each destination over one connection, the destinations at
    once; in the campaign's order. Each stops at its next batch boundary once ``stop`` says
    so (the run was cancelled)."""
    by_destination: dict[str, list[tuple[Delivery, DeliveryTarget]]] = {}
    for base, target in staged:
        by_destination.setdefault(base.destination, []).append((base, target))
    delivered = await asyncio.gather(
        *(
            _deliver_to(destinations[name], items, reconcile, recorder, stop)
            for name, items in by_destination.items()
        )
    )
    found = {target.number: delivery for done in delivered for delivery, target in done}
    return [found[target.number] for _, target in staged]


async def _deliver_to(
    destination: Destination,
    items: list[tuple[Delivery, DeliveryTarget]],
    reconcile: bool,
    recorder: RunRecorder,
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
                    with recorder.delivery(target.destination, target.output_name):
                        done = await session.deliver(
                            target, reconcile=reconcile, progress=recorder, stop=stop
                        )
                    crash_point(f"delivery_finished:{target.number}")
                return _delivered(base, done)

            results = await asyncio.gather(*(one(base, target) for base, target in items))
    except ConfigError as error:
        results = [with_changes(base, message=f"not sent: {error}") for base, _ in items]
    return [(result, target) for result, (_, target) in zip(results, items, strict=True)]


def _delivered(base: Delivery, done: Delivered) -> Delivery:
    return with_changes(
        base, status=done.status, message=done.message, path=done.path, counts=done.counts
    )
