"""The scheduler on a controllable clock, with real worker processes and the Klaviyo sandbox:
due runs start on time, missed slots run once (or are recorded missed past the grace), two
schedulers racing start one run (SQLite and PostgreSQL, two processes), a scheduler killed
with SIGKILL mid-run is followed by a resumed run whose list is exact, and SIGTERM stops it
with every batch checkpointed within 10 s."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from expected_members import expected_emails
from sandbox_workspace import LIST, NAME, daily_workspace, list_members, start_herald, stepping_jobs

from herald.config import SchedulerSettings
from herald.runs.scheduler import Scheduler, scheduler_running
from herald.sandbox import DEFAULT_API_KEY, SandboxServer
from herald.workspace import Workspace

pytestmark = pytest.mark.slow

UTC = dt.UTC
SCHEDULED_AT = dt.datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
SLOT = dt.datetime(2026, 12, 6, 9, 0, tzinfo=UTC)  # daily at 09:00 UTC


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def workspace(tmp_path: Path, demo_db: Path, sandbox: SandboxServer) -> Path:
    return daily_workspace(tmp_path, demo_db, sandbox)


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLAVIYO_API_KEY", DEFAULT_API_KEY)  # the workers inherit it


def scheduled(root: Path, at: dt.datetime = SCHEDULED_AT) -> None:
    with Workspace.open(root) as ws:
        ws.campaigns.schedule(NAME, now=at)


def scheduler(ws: Workspace, clock: Clock, **settings: object) -> Scheduler:
    return Scheduler(ws, SchedulerSettings.model_validate(settings), clock=clock)


def test_a_due_run_starts_on_time_and_delivers(workspace: Path, sandbox: SandboxServer) -> None:
    scheduled(workspace)
    clock = Clock(SLOT - dt.timedelta(minutes=1))
    with Workspace.open(workspace) as ws:
        loop = scheduler(ws, clock)

        assert loop.tick().started == []
        clock.now = SLOT
        [run_id] = loop.tick().started
        loop.drain(timeout=120)

        run = ws.store.get_run(run_id)
        assert (run.status, run.trigger, run.slot) == ("delivered", "schedule", SLOT)
        assert ws.store.campaign_status(NAME).status == "scheduled"
        following = ws.store.schedule(NAME)
        assert following is not None
        assert following.next_at == SLOT + dt.timedelta(days=1)
        assert loop.tick().started == []  # the slot is used: nothing more today
    database = workspace.parent / "customers.duckdb"
    assert list_members(sandbox, LIST) == expected_emails(workspace, database, run_id, "Listed")


def test_slots_missed_while_down_run_once(workspace: Path) -> None:
    scheduled(workspace, at=dt.datetime(2026, 12, 1, 8, 0, tzinfo=UTC))
    clock = Clock(dt.datetime(2026, 12, 5, 10, 0, tzinfo=UTC))  # 5 slots came and went
    with Workspace.open(workspace) as ws:
        loop = scheduler(ws, clock)

        [run_id] = loop.tick().started
        loop.drain(timeout=120)

        assert ws.store.get_run(run_id).slot == dt.datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
        [record] = ws.store.schedule_slots(NAME)
        assert (record.outcome, record.skipped) == ("started", 4)
        clock.now += dt.timedelta(hours=1)
        assert loop.tick().started == []
        assert len(ws.store.list_runs(NAME)) == 1


def test_a_slot_later_than_the_grace_is_recorded_missed(workspace: Path) -> None:
    scheduled(workspace)
    clock = Clock(SLOT + dt.timedelta(hours=7))
    with Workspace.open(workspace) as ws:
        loop = scheduler(ws, clock, grace="6h")

        report = loop.tick()

        assert report.started == []
        [missed] = report.missed
        assert (missed.slot, missed.outcome, missed.run_id) == (SLOT, "missed", None)
        assert ws.store.list_runs(NAME) == []
        assert ws.store.campaign_status(NAME).status == "scheduled"
        assert ws.store.schedule(NAME).next_at == SLOT + dt.timedelta(days=1)  # type: ignore[union-attr]


def test_no_more_than_max_runs_at_once(
    tmp_path: Path, demo_db: Path, sandbox: SandboxServer
) -> None:
    root = daily_workspace(tmp_path, demo_db, sandbox)
    with Workspace.open(root) as ws:
        for number in range(3):
            copy = (root / "campaign.yaml").read_text(encoding="utf-8")
            copy = copy.replace(NAME, f"{NAME} {number}")
            (root / f"c{number}.yaml").write_text(copy, encoding="utf-8")
            from herald.apply import apply_path

            apply_path(ws, root / f"c{number}.yaml")
            ws.campaigns.schedule(f"{NAME} {number}", now=SCHEDULED_AT)
        loop = scheduler(ws, Clock(SLOT), max_runs=2)

        report = loop.tick()

        assert (len(report.started), report.waiting) == (2, 1)
        loop.drain(timeout=180)
        assert len(loop.tick().started) == 1
        loop.drain(timeout=180)


# --- several processes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_two_schedulers_racing_start_one_run(
    backend: str,
    tmp_path: Path,
    demo_db: Path,
    sandbox: SandboxServer,
    request: pytest.FixtureRequest,
) -> None:
    url = None if backend == "sqlite" else str(request.getfixturevalue("postgres_url"))
    root = daily_workspace(tmp_path, demo_db, sandbox, state_url=url)
    scheduled(root)
    args = ("scheduler", "--once", "--now", SLOT.isoformat())

    racers = [start_herald(root, *args) for _ in range(2)]
    outputs = [p.communicate(timeout=240) for p in racers]

    assert [p.returncode for p in racers] == [0, 0], outputs
    with Workspace.open(root) as ws:
        [run] = ws.store.list_runs(NAME)
        assert (run.status, run.slot, run.started_by) == ("delivered", SLOT, "scheduler")
        assert [s.outcome for s in ws.store.schedule_slots(NAME)] == ["started"]


def serving_scheduler(
    tmp_path: Path, demo_db: Path, server: SandboxServer
) -> tuple[Path, subprocess.Popen[str]]:
    """A workspace whose campaign is due at `SLOT`, and a scheduler started to serve it."""
    root = daily_workspace(tmp_path, demo_db, server)
    scheduled(root)
    return root, start_herald(root, "scheduler", "--now", SLOT.isoformat(), "--poll", "1s")


def wait_for_a_sent_batch(root: Path, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    with Workspace.open(root) as ws:
        while time.monotonic() < deadline:
            for run in ws.store.list_runs(NAME):
                for delivery in ws.store.run_deliveries(run.id):
                    if any(b.status == "sent" for b in ws.store.batches(delivery.id)):
                        return run.id
            time.sleep(0.1)
    raise AssertionError("no batch was sent in time")


def test_a_scheduler_killed_mid_run_resumes_it_exactly(
    tmp_path: Path, demo_db: Path, stalled: SandboxServer
) -> None:
    root, service = serving_scheduler(tmp_path, demo_db, stalled)
    try:
        run_id = wait_for_a_sent_batch(root)
    finally:
        os.killpg(service.pid, signal.SIGKILL)  # the scheduler and its worker, as a crash would
        service.communicate(timeout=30)

    with stepping_jobs(stalled):
        again = start_herald(root, "scheduler", "--once", "--now", SLOT.isoformat())
        _out, err = again.communicate(timeout=240)

    assert again.returncode == 0, err
    with Workspace.open(root) as ws:
        run = ws.store.get_run(run_id)
        assert run.status == "delivered", run.error
        assert len(ws.store.list_runs(NAME)) == 1
    database = tmp_path / "customers.duckdb"
    assert list_members(stalled, LIST) == expected_emails(root, database, run_id, "Listed")


def test_sigterm_checkpoints_and_exits_within_ten_seconds(
    tmp_path: Path, demo_db: Path, stalled: SandboxServer
) -> None:
    root, service = serving_scheduler(tmp_path, demo_db, stalled)
    run_id = wait_for_a_sent_batch(root)
    with Workspace.open(root) as ws:
        assert scheduler_running(ws.store)  # what the web app tells its users

    asked = time.monotonic()
    service.send_signal(signal.SIGTERM)
    service.communicate(timeout=30)
    took = time.monotonic() - asked

    assert took < 10
    assert service.returncode == 0
    with Workspace.open(root) as ws:
        run = ws.store.get_run(run_id)
        assert run.status == "running"  # left to be resumed, not failed
        assert not scheduler_running(ws.store)
        assert not ws.store.lock_held(f"run:{run_id}")  # its worker is gone too
        batches = [b for d in ws.store.run_deliveries(run_id) for b in ws.store.batches(d.id)]
        assert batches
        assert all(b.status in ("sent", "confirmed") for b in batches if b.job_id)
    with stepping_jobs(stalled):
        again = start_herald(root, "scheduler", "--once", "--now", SLOT.isoformat())
        again.communicate(timeout=240)
    with Workspace.open(root) as ws:
        assert ws.store.get_run(run_id).status == "delivered"
    database = tmp_path / "customers.duckdb"
    assert list_members(stalled, LIST) == expected_emails(root, database, run_id, "Listed")


def test_json_logs_name_each_step_and_hold_no_email(workspace: Path) -> None:
    scheduled(workspace)

    service = start_herald(
        workspace, "scheduler", "--once", "--json-logs", "--now", SLOT.isoformat()
    )
    _out, err = service.communicate(timeout=240)

    assert service.returncode == 0, err
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    events = {line.get("event") for line in lines}
    assert {"run_started", "run_ended", "once"} <= events
    [started] = [line for line in lines if line.get("event") == "run_started"]
    assert (started["campaign"], started["slot"]) == (NAME, SLOT.isoformat())
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert "@" not in err  # no email address, whatever the step


def test_a_campaign_that_cannot_be_read_does_not_stop_the_others(
    workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scheduled(workspace)
    with Workspace.open(workspace) as ws:
        broken = {"name": "Broken", "include": ["Email Opted In"], "delivery": {"cadence": 7}}
        ws.store.apply("campaign", "Broken", broken, status="active")  # stored by an older rule
        ws.store.schedule_campaign("Broken", 1, {}, scheduled_at=SCHEDULED_AT, next_at=SLOT)
        loop = scheduler(ws, Clock(SLOT))

        report = loop.tick()
        loop.drain(timeout=120)

        [run_id] = report.started
        assert ws.store.get_run(run_id).campaign == NAME
    assert any(
        "slot not used" in r.getMessage() and "Broken" in str(r.__dict__) for r in caplog.records
    )
