"""Retry a failed run (`herald runs retry`): deliver again only what it did not deliver.

A retry is a new run (trigger ``retry``, ``retry_of`` the failed run) of the same campaign
version, with the same pinned segment versions and as-of time, so it sends the same audience.
It reuses the failed run's recipients snapshot while that still exists (else builds it again
from the pins and the as-of time), and stages and delivers only the groups the failed run did
not deliver (optionally only those of one destination). A group counts as delivered when its
delivery folder in the failed run holds its per-profile outcomes, which a destination writes
only once the delivery is complete (``herald.destinations.base.OUTCOMES_FILE``). The lists
and files already delivered are left alone; which customer keeps a shared email is decided
over the whole campaign, as in the failed run.

Only the campaign's newest run (its own retries aside) can be retried: once another run came
after it, the lists have moved on, and delivering the older audience again would undo that
run.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

from herald.atomic import atomic_path
from herald.destinations.base import OUTCOMES_FILE
from herald.exceptions import StateError
from herald.runs.groups import RunResult, target_for
from herald.runs.pipeline import deliver_only

if TYPE_CHECKING:
    from herald.campaigns import Build
    from herald.core.campaigns.validate import Resolved
    from herald.destinations.base import Progress
    from herald.state import Run
    from herald.workspace import Workspace

__all__ = ["retry_run", "undelivered"]

_SNAPSHOT = "recipients.parquet"


def retry_run(
    ws: Workspace,
    run_id: str,
    *,
    destination: str | None = None,
    reconcile: bool = False,
    progress: Progress | None = None,
) -> RunResult:
    """Re-run only what failed in a run that ended in error.

    Args:
        ws: the workspace.
        run_id: the failed run.
        destination: retry only the failed deliveries to this destination.
        reconcile: read every Klaviyo list back and repair drift.
        progress: called with each Klaviyo list sync event.

    Returns:
        The retry's result; like any run's, check ``result.run.status``.

    Raises:
        NotFoundError: no such run, or its campaign or version no longer exists.
        StateError: the run did not fail, a later run came after it, its campaign is
            running, or nothing (at ``destination``) is left to retry.
    """
    run = ws.store.get_run(run_id)
    check_retryable(ws, run)
    build = ws.campaigns.build(
        run.campaign, which=run.campaign_version, pins=run.pins, as_of=run.as_of
    )
    items = _chosen(undelivered(ws, build, run.id), run, destination, build)
    retry = ws.store.start_run(
        run.campaign,
        run.campaign_version,
        as_of=run.as_of,
        pins=run.pins,
        expected=("draft", "scheduled", "delivered", "error"),
        trigger="retry",
        launch_date=run.launch_date,
        retry_of=run.id,
    )
    _reuse_snapshot(ws, run.id, retry.id)
    only = [(item.destination, item.output_name) for item in items]
    return deliver_only(ws, build, retry, only, reconcile=reconcile, progress=progress)


def undelivered(ws: Workspace, build: Build, run_id: str) -> list[Resolved]:
    """The groups of ``build`` that neither run ``run_id`` nor a finished retry of it
    delivered: those whose delivery folders hold no per-profile outcomes, in the campaign's
    order. A cancelled retry does not count (a list it stopped has outcomes of its part)."""
    runs = [run_id] + [
        r.id
        for r in ws.store.list_runs(build.campaign.name)
        if r.retry_of == run_id and r.status in ("delivered", "error")
    ]

    def delivered(item: Resolved, number: int) -> bool:
        target = target_for(ws, build, item, run_id, number)
        return any((target.folder_in(run) / OUTCOMES_FILE).exists() for run in runs)

    return [item for n, item in enumerate(build.resolved, 1) if not delivered(item, n)]


def check_retryable(ws: Workspace, run: Run) -> None:
    """Refuse, in one line, a run that cannot be retried."""
    if run.status != "error" or run.kind != "run":
        raise StateError(_not_failed(run))
    state = ws.store.settle_campaign(run.campaign)
    if state.status == "running":
        msg = (
            f"campaign {run.campaign!r} is running: retry run {run.id} once its current run "
            "has ended (`herald runs list` shows it)"
        )
        raise StateError(msg)
    later = _later_runs(ws, run)
    if later:
        msg = (
            f"run {run.id} is not the newest run of {run.campaign!r} ({later[-1].id} came "
            "after it, so its lists have moved on): retry the newest run, or run the "
            "campaign again"
        )
        raise StateError(msg)


def _later_runs(ws: Workspace, run: Run) -> list[Run]:
    """The campaign's runs after ``run``, newest first, except retries of it (they send its
    own audience, so its lists have not moved on: each destination can be retried in turn)."""
    later = []
    for each in ws.store.list_runs(run.campaign):
        if each.id == run.id:
            break
        if each.kind == "run" and each.retry_of != run.id:
            later.append(each)
    return later


def _not_failed(run: Run) -> str:
    if run.kind != "run":
        return f"run {run.id} is a test run: it sent nothing, so there is nothing to retry"
    advice = {
        "running": "wait for it to end, or cancel it with `herald runs cancel`",
        "delivered": "it delivered everything",
        "cancelled": f"run the campaign again: `herald campaign run '{run.campaign}'`",
    }
    return (
        f"run {run.id} is {run.status}, not error: only a failed run can be retried "
        f"({advice.get(run.status, 'nothing failed')})"
    )


def _chosen(
    items: list[Resolved], run: Run, destination: str | None, build: Build
) -> list[Resolved]:
    """The undelivered groups to retry: all, or those of ``destination``."""
    if not items:
        msg = (
            f"run {run.id} has nothing left to retry: it, or a retry of it, delivered every "
            f"group (its error: {run.error or 'none recorded'}); run the campaign again instead"
        )
        raise StateError(msg)
    if destination is None:
        return items
    chosen = [item for item in items if item.destination == destination]
    if not chosen:
        failed = ", ".join(sorted({item.destination for item in items}))
        if destination in {item.destination for item in build.resolved}:
            msg = f"destination {destination!r} had no failure in run {run.id}; "
        else:
            msg = f"campaign {run.campaign!r} does not deliver to {destination!r}; "
        msg += f"the run's failed deliveries went to: {failed}"
        raise StateError(msg)
    return chosen


def _reuse_snapshot(ws: Workspace, failed: str, retry: str) -> None:
    """Give the retry the failed run's recipients snapshot, when it still exists (a hard
    link where the file system allows, else a copy; renamed into place whole)."""
    source = ws.runs_dir / failed / _SNAPSHOT
    if not source.exists():
        return  # pruned: the retry builds it again from the pins and the as-of time
    target = ws.runs_dir / retry / _SNAPSHOT
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as partial:
        try:
            os.link(source, partial)
        except OSError:
            shutil.copyfile(source, partial)
