"""A run's progress in the state store, as it goes, for any process to follow.

The pipeline hands a :class:`RunRecorder` to the destinations as their ``progress`` callback:
it passes each event on to the caller's own callback (a tee), and writes it to the state store
(`StateStore.add_run_events`) with the run's phases (build, snapshot, prepare, deliver, log)
and, last, ``finished``. Batch events are coalesced per list, at most one write per list per
``interval``, so that a list of a million profiles writes a few hundred rows, not thousands;
plans, outcomes, failures and phases are always written, in the order they happened.

:func:`watch_run` follows a run from another process by polling those events.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from herald.destinations.base import SyncEvent
from herald.exceptions import HeraldError
from herald.runs.resume import run_alive

if TYPE_CHECKING:
    from herald.destinations.base import Progress
    from herald.state import Run, RunEvent, StateStore

__all__ = [
    "PHASES",
    "RunRecorder",
    "list_key",
    "to_sync_event",
    "watch_run",
]

PHASES = ("build", "snapshot", "prepare", "deliver", "log")
"""A run's phases, in order (DESIGN §1.4); a run ends with a ``finished`` event."""

_BATCH_KINDS = frozenset({"batch_sent", "batch_confirmed"})
"""Sync events coalesced per list; every other kind is written as it comes."""

_SYNC_KINDS = frozenset({"started", "diffed", "planned", "done", "failed", *_BATCH_KINDS})


def list_key(destination: str, list_name: str) -> str:
    """How a list is named in a run's stats and events: ``destination:list``."""
    return f"{destination}:{list_name}"


@dataclass
class _Batches:
    """Batch events of one list and kind not written yet."""

    rows: int = 0
    batches: int = 0
    last: dict[str, Any] = field(default_factory=dict)


@dataclass
class _List:
    """What the recorder knows of one list's sync."""

    written_at: float | None = None  # clock time of its last batch write
    totals: dict[str, int] = field(default_factory=lambda: {"sent": 0, "confirmed": 0})
    waiting: dict[str, _Batches] = field(default_factory=dict)
    started: float | None = None
    diff_seconds: float | None = None


class RunRecorder:
    """Records a run's progress in the state store, and passes sync events on.

    Events that come before the run exists (the build) wait until :meth:`start`. It is safe to
    use from several threads: the pipeline's blocking phases run in a worker thread while the
    deliveries report from the event loop.

    Args:
        store: the state store the run is in.
        progress: the caller's own callback, called first with every sync event.
        interval: seconds between two writes of one list's batch events, at least.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        store: StateStore,
        *,
        progress: Progress | None = None,
        interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._progress = progress
        self._interval = interval
        self._clock = clock
        self._run_id: str | None = None
        self._queue: list[tuple[datetime, str, dict[str, Any]]] = []
        self._lists: dict[str, _List] = {}
        self._lock = threading.RLock()
        self.phases: dict[str, float] = {}
        """Seconds each phase took, once it ended."""
        self.deliveries: dict[str, float] = {}
        """Seconds each list (or file) delivery took, by :func:`list_key`."""

    def start(self, run_id: str) -> None:
        """Record into run ``run_id`` from now on, beginning with what came before it."""
        with self._lock:
            self._run_id = run_id
            self._write()

    def __call__(self, event: SyncEvent) -> None:
        """A destination's sync event: passed on, then recorded (batches coalesced)."""
        if self._progress is not None:
            self._progress(event)
        key = list_key(event.destination, event.list_name)
        with self._lock:
            state = self._lists.setdefault(key, _List())
            self._time_sync(state, event.kind)
            if event.kind in _BATCH_KINDS:
                self._add_batch(key, state, event)
                return
            self._flush_batches()
            self._queue.append((_now(), event.kind, _sync_payload(event)))
            self._write()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Record a phase's start and end (with its seconds, and whether it failed)."""
        self._emit("phase_started", {"phase": name})
        began = self._clock()
        failed = True
        try:
            yield
            failed = False
        finally:
            seconds = round(self._clock() - began, 3)
            self.phases[name] = seconds
            payload = {"phase": name, "seconds": seconds, **({"failed": True} if failed else {})}
            if failed:  # the phase's own error is the one to report, not a failing write
                with contextlib.suppress(HeraldError):
                    self._emit("phase_finished", payload)
            else:
                self._emit("phase_finished", payload)

    @contextmanager
    def delivery(self, destination: str, list_name: str) -> Iterator[None]:
        """Time one list's (or file's) delivery, for the run's stats."""
        began = self._clock()
        try:
            yield
        finally:
            self.deliveries[list_key(destination, list_name)] = round(self._clock() - began, 3)

    def finished(self, run: Run) -> None:
        """Record the run's end (call it in the transaction that finishes the run, so that a
        follower who sees the run finished sees this event too)."""
        self._emit("finished", {"status": run.status, "error": run.error})

    def timings(self) -> dict[str, Any]:
        """The run's ``phases`` stats: seconds per phase, and per list delivery."""
        lists: dict[str, dict[str, float]] = {}
        for key, seconds in self.deliveries.items():
            diff = self._lists[key].diff_seconds if key in self._lists else None
            lists[key] = {"seconds": seconds, **({"diff": diff} if diff is not None else {})}
        return {**self.phases, **({"lists": lists} if lists else {})}

    def flush(self) -> None:
        """Write every event held back."""
        with self._lock:
            self._flush_batches()
            self._write()

    def _emit(self, kind: str, payload: dict[str, Any]) -> None:
        with self._lock:
            self._flush_batches()
            self._queue.append((_now(), kind, payload))
            self._write()

    def _time_sync(self, state: _List, kind: str) -> None:
        if kind == "started":
            state.started = self._clock()
        elif kind == "diffed" and state.started is not None:
            state.diff_seconds = round(self._clock() - state.started, 3)

    def _add_batch(self, key: str, state: _List, event: SyncEvent) -> None:
        rows = int(event.batch.get("rows", 0))
        state.totals["sent" if event.kind == "batch_sent" else "confirmed"] += rows
        waiting = state.waiting.setdefault(event.kind, _Batches())
        waiting.rows += rows
        waiting.batches += 1
        waiting.last = dict(event.batch)
        now = self._clock()
        if state.written_at is None or now - state.written_at >= self._interval:
            self._flush_list(key, state)
            self._write()

    def _flush_batches(self) -> None:
        for key, state in self._lists.items():
            self._flush_list(key, state)

    def _flush_list(self, key: str, state: _List) -> None:
        destination, _, list_name = key.partition(":")
        for kind, waiting in state.waiting.items():
            batch = {**waiting.last, "rows": waiting.rows, "batches": waiting.batches}
            payload = {"destination": destination, "list_name": list_name, "batch": batch}
            self._queue.append((_now(), kind, {**payload, **state.totals}))
        if state.waiting:
            state.waiting = {}
            state.written_at = self._clock()

    def _write(self) -> None:
        if self._run_id is None or not self._queue:
            return
        events, self._queue = self._queue, []
        self._store.add_run_events(self._run_id, events)


def _sync_payload(event: SyncEvent) -> dict[str, Any]:
    payload = asdict(event)
    del payload["kind"]
    return {k: v for k, v in payload.items() if v not in (None, {})}


def _now() -> datetime:
    return datetime.now(UTC)


def to_sync_event(event: RunEvent) -> SyncEvent | None:
    """The destination's sync event a recorded event stands for; None for a phase or the
    end (a coalesced batch event stands for its batches together)."""
    if event.kind not in _SYNC_KINDS:
        return None
    payload = event.payload
    return SyncEvent(
        event.kind,  # type: ignore[arg-type]  # one of _SYNC_KINDS, checked above
        str(payload.get("destination", "")),
        str(payload.get("list_name", "")),
        counts=dict(payload.get("counts", {})),
        batch=dict(payload.get("batch", {})),
        error=payload.get("error"),
    )


async def watch_run(
    store: StateStore, run_id: str, *, poll: float = 0.5, gone_after: float = 10.0
) -> AsyncIterator[RunEvent]:
    """Follow a run, wherever it runs, by polling its events in the state store.

    Yields every event of the run from its first, as they are written; ends after the last
    one once the run has finished, or once it is interrupted (``running`` with no live
    process for ``gone_after`` seconds: ``herald runs resume`` finishes it). The store is
    read in a worker thread, so the caller's event loop stays free.

    Args:
        store: the state store the run is in.
        run_id: the run.
        poll: seconds between two reads.
        gone_after: seconds a running run may have no live process (a scheduler's worker
            that is starting) before it counts as interrupted.

    Raises:
        NotFoundError: no such run.
    """
    after, orphaned_since = 0, None
    while True:
        run = await asyncio.to_thread(store.get_run, run_id)
        events = await asyncio.to_thread(store.run_events, run_id, after_id=after)
        for event in events:
            after = event.id
            yield event
        if run.status != "running":
            return  # its last events were written with its status: all are read now
        alive = bool(events) or await asyncio.to_thread(run_alive, store, run_id)
        if alive:
            orphaned_since = None
        elif orphaned_since is None:
            orphaned_since = time.monotonic()
        elif time.monotonic() - orphaned_since >= gone_after:
            return
        await asyncio.sleep(poll)
