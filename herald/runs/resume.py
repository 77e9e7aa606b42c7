"""Resume runs that were interrupted (killed, crashed) while delivering (DESIGN §1.4).

A run holds an exclusive ``flock`` on ``.herald/runs/<id>/lock`` (the file also holds its pid,
for people) for as long as it works. The operating system releases the lock when the process
dies, however it dies, so a run that is ``running`` in the state store while nobody holds its
lock was interrupted, and can be resumed (``herald.runs.pipeline.resume_run``): its deliveries
continue from their checkpoints.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from herald.atomic import write_errors
from herald.exceptions import StateError

if TYPE_CHECKING:
    from herald.state import Run
    from herald.workspace import Workspace

__all__ = ["interrupted_runs", "is_alive", "is_interrupted", "run_lock", "shown_status"]


def _lock_path(ws: Workspace, run_id: str) -> Path:
    return ws.runs_dir / run_id / "lock"


@contextmanager
def run_lock(ws: Workspace, run_id: str) -> Iterator[None]:
    """Hold a run's lock while working on it.

    Raises:
        StateError: another live process holds it (the run is being worked on).
        WriteError: the run's folder cannot be written.
    """
    path = _lock_path(ws, run_id)
    with write_errors(path):  # a read-only .herald/runs: one line, and the run ends error
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            msg = f"run {run_id} is being worked on by another process"
            raise StateError(msg) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # closing releases the lock


def is_alive(ws: Workspace, run_id: str) -> bool:
    """Whether a live process holds the run's lock."""
    path = _lock_path(ws, run_id)
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


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
