"""When runs are announced (``[notifications]``): at their end, when slow, when a slot is missed.

`herald.alerts` sends a notice; this module decides when, and builds the notice from a run.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import TYPE_CHECKING, Any

from herald.alerts import RunNotice, notify, slow_reason
from herald.core.dates import format_span

if TYPE_CHECKING:
    from herald.state import Run, SlotRecord
    from herald.workspace import Workspace

_SENDING: list[threading.Thread] = []
"""Notices being sent in the background, so that a process about to exit can wait for them."""


def announce_finished(ws: Workspace, run: Run) -> None:
    """Announce a run that ended: ``success`` when delivered, else ``failure``."""
    if run.kind != "run" or run.finished_at is None:
        return
    event = "success" if run.status == "delivered" else "failure"
    notify(ws.settings.notifications, _notice(run, event, run.finished_at))


def watches_slow(ws: Workspace) -> bool:
    """Whether slow runs are announced at all (``slow`` in ``[notifications] on``)."""
    return "slow" in ws.settings.notifications.on


def announce_slow(ws: Workspace, run: Run, now: dt.datetime | None = None) -> bool:
    """Announce a running run that has become slow (in the background); whether it was."""
    now = now or dt.datetime.now(dt.UTC)
    seconds = (now - run.started_at).total_seconds()
    # The estimate reads the run's events: only when slow_factor needs it.
    estimate = _estimate(ws, run) if ws.settings.notifications.slow_factor else None
    reason = slow_reason(ws.settings.notifications, seconds=seconds, estimate_seconds=estimate)
    if reason is None:
        return False
    notice = _notice(run, "slow", None, now=now, reason=reason, estimate=estimate)
    _in_background(lambda: notify(ws.settings.notifications, notice))
    return True


def announce_missed(ws: Workspace, record: SlotRecord, late: dt.timedelta) -> None:
    """Announce a slot that came too late to run, as a failure (in the background)."""
    at = record.recorded_at
    notice = RunNotice(
        event="failure",
        run_id="",
        campaign=record.campaign,
        status="missed",
        trigger="schedule",
        started_at=at,
        finished_at=at,
        seconds=0.0,
        reason=(
            f"the slot of {record.slot.isoformat()} was found {format_span(late.total_seconds())} "
            "late (the scheduler was not running), more than [scheduler] grace: it was skipped"
        ),
    )
    _in_background(lambda: notify(ws.settings.notifications, notice))


def _notice(
    run: Run,
    event: Any,
    finished: dt.datetime | None,
    *,
    now: dt.datetime | None = None,
    reason: str | None = None,
    estimate: float | None = None,
) -> RunNotice:
    end = finished or now or dt.datetime.now(dt.UTC)
    stats = run.stats or {}
    return RunNotice(
        event=event,
        run_id=run.id,
        campaign=run.campaign,
        status=run.status,
        trigger=run.trigger,
        started_at=run.started_at,
        finished_at=finished,
        seconds=(end - run.started_at).total_seconds(),
        estimate_seconds=estimate,
        errors=_errors(run),
        counts={k: v for k, v in stats.items() if k in ("recipients", "deliveries", "lists")},
        reason=reason,
    )


def _errors(run: Run) -> dict[str, str]:
    errors = (run.stats or {}).get("errors")
    if isinstance(errors, dict):
        return {str(k): str(v) for k, v in errors.items()}
    return {"run": run.error} if run.error else {}


def _estimate(ws: Workspace, run: Run) -> float | None:
    """The run's expected length once its lists are planned: the time it took to plan them,
    plus what sending the plans should take under each destination's limits (destinations
    send at once, each its lists in turn). None before any list is planned."""
    planned = [e for e in ws.store.run_events(run.id) if e.kind == "planned"]
    if not planned:
        return None
    sending: dict[str, float] = {}
    for event in planned:
        name = str(event.payload.get("destination"))
        seconds = ws.destination(name).planned_seconds(event.payload.get("counts") or {})
        sending[name] = sending.get(name, 0.0) + (seconds or 0.0)
    planning = (max(e.at for e in planned) - run.started_at).total_seconds()
    return planning + max(sending.values())


def _in_background(send: Any) -> None:
    # A webhook that is down may take a minute of retries: the scheduler's loop goes on.
    thread = threading.Thread(target=send, name="herald-alert", daemon=True)
    _SENDING[:] = [t for t in _SENDING if t.is_alive()]
    _SENDING.append(thread)
    thread.start()


def wait_for_alerts(timeout: float) -> None:
    """Wait (at most ``timeout`` seconds in all) for the notices still being sent, before the
    process exits: a daemon thread would otherwise be cut off with its notice."""
    deadline = time.monotonic() + timeout
    for thread in list(_SENDING):
        thread.join(max(0.0, deadline - time.monotonic()))
