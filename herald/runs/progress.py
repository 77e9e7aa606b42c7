"""A run's progress per list and per phase, read from the events it wrote to the state store
(`herald.runs.events`): what the web app's run page shows while the run goes.

Pure: it only folds events already read (``StateStore.run_events``) into figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from herald.runs.events import list_key

if TYPE_CHECKING:
    from collections.abc import Iterable

    from herald.state import RunEvent

__all__ = ["ListProgress", "RunProgress", "run_progress"]

_CHANGES = ("adds", "updates", "removes")


@dataclass
class ListProgress:
    """One list's (or file's) sync so far.

    Attributes:
        destination: the destination's name.
        list_name: the list's (or file's) name.
        state: ``started``, ``diffed``, ``planned``, ``sending``, ``done`` or ``failed``.
        planned: profiles the plan holds (adds, updates and removes); None before the plan.
        sent: profiles sent so far.
        confirmed: profiles Klaviyo confirmed so far.
        counts: the planned figures, then the final ones once done.
        error: what went wrong, for a failed sync.
        eta_seconds: seconds left at the pace so far, while sending.
    """

    destination: str
    list_name: str
    state: str = "started"
    planned: int | None = None
    sent: int = 0
    confirmed: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    eta_seconds: float | None = None
    _began: datetime | None = None

    @property
    def percent(self) -> int:
        """Confirmed of planned, 0 to 100 (100 once done)."""
        if self.state == "done":
            return 100
        if not self.planned:
            return 0
        return min(100, int(100 * self.confirmed / self.planned))


@dataclass
class RunProgress:
    """A run's progress: its lists, its phases and whether it has ended.

    Attributes:
        by_list: each list's sync by `herald.runs.events.list_key`, in the order they started.
        phases: seconds of each finished phase (None while it runs), in order.
        failed_phases: phases that ended in failure.
        finished: the ``finished`` event's status, once the run ended.
        last_id: the id of the last event read (0 for none).
    """

    by_list: dict[str, ListProgress] = field(default_factory=dict)
    phases: dict[str, float | None] = field(default_factory=dict)
    failed_phases: list[str] = field(default_factory=list)
    finished: str | None = None
    last_id: int = 0

    @property
    def lists(self) -> list[ListProgress]:
        """Each list's sync, in the order they started."""
        return list(self.by_list.values())


def run_progress(events: Iterable[RunEvent], into: RunProgress | None = None) -> RunProgress:
    """Fold a run's events (oldest first) into its progress: a new one, or ``into`` (which
    then takes only the events after its ``last_id``, as
    ``StateStore.run_events(run_id, after_id=progress.last_id)`` gives them)."""
    progress = into if into is not None else RunProgress()
    for event in events:
        if event.id <= progress.last_id:
            continue  # already folded
        progress.last_id = event.id
        if event.kind.startswith("phase_"):
            _phase(progress, event)
        elif event.kind == "finished":
            progress.finished = str(event.payload.get("status"))
        else:
            _list_event(progress.by_list, event)
    return progress


def _phase(progress: RunProgress, event: RunEvent) -> None:
    name = str(event.payload.get("phase"))
    if event.kind == "phase_started":
        progress.phases[name] = None
        return
    progress.phases[name] = float(event.payload.get("seconds", 0.0))
    if event.payload.get("failed"):
        progress.failed_phases.append(name)


def _list_event(found: dict[str, ListProgress], event: RunEvent) -> None:
    payload = event.payload
    destination, name = str(payload.get("destination", "")), str(payload.get("list_name", ""))
    item = found.setdefault(list_key(destination, name), ListProgress(destination, name))
    if item._began is None:
        item._began = event.at
    if event.kind in ("batch_sent", "batch_confirmed"):
        item.state = "sending"
        item.sent = int(payload.get("sent", item.sent))
        item.confirmed = int(payload.get("confirmed", item.confirmed))
        item.eta_seconds = _eta(item, event.at)
        return
    item.state = str(event.kind)
    if event.kind in ("planned", "done", "cancelled"):
        item.counts = {k: int(v) for k, v in dict(payload.get("counts", {})).items()}
    if event.kind == "planned":
        item.planned = sum(item.counts.get(k, 0) for k in _CHANGES)
    elif event.kind == "done":
        item.eta_seconds = None
    elif event.kind == "failed":
        item.error = payload.get("error")


def _eta(item: ListProgress, now: datetime) -> float | None:
    if not item.planned or not item.confirmed or item._began is None:
        return None
    elapsed = (now - item._began).total_seconds()
    left = max(item.planned - item.confirmed, 0)
    return round(elapsed / item.confirmed * left, 1) if elapsed > 0 else None
