"""Cancel a running run (`herald runs cancel`): it stops at its next batch boundary.

The request is a flag on the run in the state store (`StateStore.request_cancel`). The run's
process reads it between batches (`herald.runs.stop.CancelCheck`): it sends no new batch,
confirms the ones already sent, merges exactly the confirmed work into each list's ledger,
writes the outcomes of what was done, and ends ``cancelled``. A run with no live process (it
was interrupted) cannot read the flag, so it is stopped here: resumed with the flag set, which
settles its sent batches the same way before it ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from herald.exceptions import StateError
from herald.runs.groups import RunResult
from herald.runs.pipeline import resume_run
from herald.runs.resume import is_interrupted

if TYPE_CHECKING:
    from herald.destinations.base import Progress
    from herald.state import Run
    from herald.workspace import Workspace

__all__ = ["Cancelled", "cancel_run", "wait_for_run"]


@dataclass(frozen=True)
class Cancelled:
    """What a cancel did.

    Attributes:
        run: the run as it stands now: still running (its process will stop it at its next
            batch boundary), or finished here.
        result: the result of stopping an interrupted run here; None for a live run.
    """

    run: Run
    result: RunResult | None = None

    @property
    def stopped_here(self) -> bool:
        """Whether the run was interrupted and so was stopped by this call."""
        return self.result is not None


def check_cancellable(run: Run) -> None:
    """Refuse, in one line, a run that cannot be cancelled: a test run, or one not running."""
    if run.kind != "run" and run.status == "running":
        msg = f"run {run.id} is a test run: it sends nothing and ends by itself"
        raise StateError(msg)
    if run.status != "running":
        msg = (
            f"run {run.id!r} of campaign {run.campaign!r} is {run.status}, not running: "
            "there is nothing to cancel"
        )
        raise StateError(msg)


def cancel_run(ws: Workspace, run_id: str, *, progress: Progress | None = None) -> Cancelled:
    """Ask a running run to stop at its next batch boundary, and return at once.

    An interrupted run (running, no live process) is stopped by this call: resumed with the
    flag set, so that its sent batches are confirmed and merged, then it ends.

    Args:
        ws: the workspace.
        run_id: the run.
        progress: called with each list sync event while an interrupted run is stopped.

    Raises:
        NotFoundError: no such run.
        StateError: the run is not running, or it is a test run.
    """
    check_cancellable(ws.store.get_run(run_id))
    run = ws.store.request_cancel(run_id)  # (refuses, too, a run that ended in between)
    if not is_interrupted(ws, run):
        return Cancelled(run)
    result = resume_run(ws, run_id, progress=progress)
    assert result.run is not None
    return Cancelled(result.run, result)


def wait_for_run(
    ws: Workspace,
    run_id: str,
    *,
    every: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> Run:
    """Wait until a run has ended, and return it.

    A run whose process dies meanwhile (interrupted) is resumed here if it was asked to
    stop, so that it ends; one that was not is returned still running (``herald runs
    resume`` finishes it).

    Args:
        ws: the workspace.
        run_id: the run.
        every: seconds between two reads of the run.
        sleep: how to wait (tests pass their own).

    Raises:
        NotFoundError: no such run.
    """
    while True:
        run = ws.store.get_run(run_id)
        if run.status != "running":
            return run
        if is_interrupted(ws, run):
            if not run.cancel_requested:
                return run
            finished = resume_run(ws, run_id).run
            assert finished is not None
            return finished
        sleep(every)
