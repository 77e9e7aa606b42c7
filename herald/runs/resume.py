"""Resume runs that were interrupted (killed, crashed) while delivering (DESIGN §1.4).

A run's process holds the run's lock in the state store (`StateStore.try_lock`: a file lock
beside a SQLite store, an advisory lock on PostgreSQL, so it holds across machines) for as
long as it works. A dying process releases it, however it dies, so a run that is ``running``
in the state store while nobody holds its lock was interrupted, and can be resumed
(``herald.runs.pipeline.resume_run``): its deliveries continue from their checkpoints.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from herald.atomic import write_errors
from herald.exceptions import StateError

if TYPE_CHECKING:
    from herald.state import Run, StateStore
    from herald.workspace import Workspace

__all__ = [
    "interrupted_runs",
    "is_alive",
    "is_interrupted",
    "run_alive",
    "run_lock",
    "shown_status",
]


@contextmanager
def run_lock(ws: Workspace, run_id: str) -> Iterator[None]:
    """Hold a run's lock while working on it (its folder is created first).

    Raises:
        StateError: another live process holds it (the run is being worked on).
        WriteError: the run's folder cannot be written.
    """
    folder = ws.runs_dir / run_id
    with write_errors(folder):  # a read-only .herald/runs: one line, and the run ends error
        folder.mkdir(parents=True, exist_ok=True)
    lock = ws.store.try_lock(_lock_name(run_id))
    if lock is None:
        msg = f"run {run_id} is being worked on by another process"
        raise StateError(msg)
    with lock:
        yield


def is_alive(ws: Workspace, run_id: str) -> bool:
    """Whether a live process holds the run's lock."""
    return run_alive(ws.store, run_id)


def run_alive(store: StateStore, run_id: str) -> bool:
    """Whether a live process holds the run's lock (in that state store)."""
    return store.lock_held(_lock_name(run_id))


def _lock_name(run_id: str) -> str:
    return f"run:{run_id}"


def is_interrupted(ws: Workspace, run: Run) -> bool:
    """A run that is ``running`` in the state store while no live process works on it
    (``herald runs resume`` finishes it)."""
    return run.status == "running" and run.kind == "run" and not is_alive(ws, run.id)


def shown_status(ws: Workspace, run: Run) -> str:
    """A run's status for people: ``interrupted`` for an interrupted run."""
    return "interrupted" if is_interrupted(ws, run) else run.status


def interrupted_runs(ws: Workspace, campaign: str) -> list[Run]:
    """The campaign's interrupted runs, oldest first."""
    return [r for r in reversed(ws.store.list_runs(campaign)) if is_interrupted(ws, r)]
