"""Cancel without a sandbox: the flag read at most once a period, ``herald runs cancel`` of a
live run (returns at once) and ``--wait``, and a run whose process dies while it is waited
for, stopped by the waiter. The destination is a CSV folder: a file is all or nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import run
from sandbox_workspace import daily_campaign, make_workspace

from herald.runs.cancel import cancel_run, wait_for_run
from herald.runs.stop import CancelCheck
from herald.state import Run
from herald.workspace import Workspace

NAME = "Local Stop"
CAMPAIGN = daily_campaign(NAME, "{name: Sent, percent: 100, destinations: [files]}", exclude=None)


@pytest.fixture
def workspace(tmp_path: Path, demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = make_workspace(tmp_path, demo_db, CAMPAIGN, {})
    monkeypatch.setenv("HERALD_WORKSPACE", str(root))
    return root


@pytest.fixture
def ws(workspace: Path) -> Iterator[Workspace]:
    with Workspace.open(workspace) as opened:
        yield opened


def started(ws: Workspace) -> Run:
    build = ws.campaigns.build(NAME)
    return ws.store.start_run(NAME, build.version, as_of=build.as_of, pins=build.pins)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_flag_is_read_at_most_once_a_period_and_then_stays_set(ws: Workspace) -> None:
    live = started(ws)
    clock = Clock()
    stop = CancelCheck(ws.store, live.id, period=1.0, clock=clock)
    assert stop() is False  # read now

    ws.store.request_cancel(live.id)
    clock.now = 0.9
    assert stop() is False  # within the period: not read again
    clock.now = 1.0
    assert stop() is True

    ws.store.finish_run(live.id, "cancelled")
    clock.now = 5.0
    assert stop() is True  # once set, never read again


def test_cancel_of_a_live_run_returns_at_once_and_wait_sees_it_end(ws: Workspace) -> None:
    live = started(ws)
    lock = ws.store.try_lock(f"run:{live.id}")
    assert lock is not None
    with lock:  # a live process works on the run
        shown = run("runs", "cancel", live.id)
        assert shown.exit_code == 0, shown.output
        assert f"Run {live.id} will stop at its next batch boundary" in shown.stdout
        assert ws.store.get_run(live.id).status == "running"

        # The run's process notices, stops and ends the run while the waiter sleeps.
        def process_stops(seconds: float) -> None:
            ws.store.finish_run(live.id, "cancelled", error="stopped", campaign_status="error")

        ended = wait_for_run(ws, live.id, sleep=process_stops)

    assert (ended.status, ended.cancel_requested) == ("cancelled", True)


def test_a_run_whose_process_dies_while_waited_for_is_stopped_by_the_waiter(
    ws: Workspace, workspace: Path
) -> None:
    live = started(ws)
    lock = ws.store.try_lock(f"run:{live.id}")
    assert lock is not None
    with lock:
        done = cancel_run(ws, live.id)
    assert not done.stopped_here
    # The lock is released: the process died before its next batch boundary.
    ended = wait_for_run(ws, live.id, sleep=lambda s: pytest.fail("no wait is needed"))

    assert ended.status == "cancelled"
    assert "the run was cancelled before the file was put in place" in (ended.error or "")
    assert not (workspace / "exports").exists() or not any((workspace / "exports").iterdir())
    # The file stays staged in the run's folder, never half-written in the destination's.
    staged = list((workspace / ".herald" / "runs" / live.id / "deliveries").glob("*/records.csv"))
    assert len(staged) == 1


def test_cancel_of_a_finished_run_and_of_an_unknown_one_is_refused(ws: Workspace) -> None:
    finished = started(ws)
    ws.store.finish_run(finished.id, "delivered", campaign_status="delivered")
    for run_id, words in ((finished.id, "is delivered, not running"), ("run_x", "not found")):
        shown = run("runs", "cancel", run_id)
        assert shown.exit_code == 1, shown.output
        assert words in shown.stderr
        assert "Traceback" not in shown.output
