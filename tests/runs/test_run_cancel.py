"""``herald runs cancel`` against a real Klaviyo sandbox over loopback HTTP.

A campaign sends five groups to five lists of one Klaviyo destination (four are synced at
once). The sandbox's import jobs move only when the test steps them (``job_tick=None``), so a
run's sent batches wait, and the test decides when the cancel comes: the run in its own
process stops at its next batch boundary, confirms what it sent, and ends ``cancelled`` with
every list equal to its ledger; the next run makes every list exact. A run killed with
``kill -9`` and then cancelled ends the same way.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from expected_members import expected_emails
from sandbox_workspace import (
    daily_campaign,
    herald,
    klaviyo_table,
    list_members,
    make_workspace,
    start_herald,
    stepping_jobs,
)

from herald.sandbox import SandboxServer
from herald.workspace import Workspace

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

NAME = "Stop Test"
GROUPS = ["A", "B", "C", "D", "E"]
CAMPAIGN = daily_campaign(
    NAME, *(f"{{name: {g}, percent: 20, destinations: [klaviyo]}}" for g in GROUPS)
)


@pytest.fixture
def workspace(tmp_path: Path, demo_db: Path, stalled: SandboxServer) -> Path:
    return make_workspace(tmp_path, demo_db, CAMPAIGN, {"klaviyo": klaviyo_table(stalled)})


def list_name(group: str) -> str:
    return f"Stop_Test_{group}"


def members(server: SandboxServer, group: str) -> set[str]:
    return list_members(server, list_name(group), may_be_missing=True)


def ledger(root: Path, group: str) -> set[str]:
    """The emails of the list's ledger (none when the list was never delivered)."""
    with Workspace.open(root) as ws:
        list_id = ws.store.list_id("klaviyo", list_name(group))
    path = root / ".herald" / "lists" / "klaviyo" / f"{list_id}.parquet"
    if list_id is None or not path.exists():
        return set()
    return {r["email"].lower() for r in pq.read_table(path, columns=["email"]).to_pylist()}


def expected(root: Path, run_id: str, group: str) -> set[str]:
    return expected_emails(root, root.parent / "customers.duckdb", run_id, group)


def sent_batches(root: Path) -> tuple[str | None, int]:
    """The newest run's id and how many of its batches were sent so far."""
    with Workspace.open(root) as ws:
        runs = ws.store.list_runs(NAME)
        if not runs:
            return None, 0
        deliveries = ws.store.run_deliveries(runs[0].id)
        return runs[0].id, sum(len(ws.store.batches(d.id, ["sent"])) for d in deliveries)


def assert_lists_match_ledgers(root: Path, server: SandboxServer) -> None:
    for group in GROUPS:
        assert members(server, group) == ledger(root, group), group


def assert_next_run_is_exact(root: Path, server: SandboxServer) -> None:
    with stepping_jobs(server, interval=0.02):
        again = herald(root, "campaign", "run", NAME, "--yes")
    assert again.returncode == 0, again.stdout + again.stderr
    with Workspace.open(root) as ws:
        newest = ws.store.list_runs(NAME)[0]
        campaign = ws.store.campaign_status(NAME).status
    assert (newest.status, campaign) == ("delivered", "delivered")
    kept: set[str] = set()  # an email shared by two groups goes to the first (DESIGN §1.3)
    for group in GROUPS:
        wanted = expected(root, newest.id, group) - kept
        assert members(server, group) == wanted, group
        kept |= wanted


def test_a_run_cancelled_mid_sync_stops_at_a_batch_boundary_with_lists_equal_to_ledgers(
    workspace: Path, stalled: SandboxServer
) -> None:
    running = start_herald(workspace, "campaign", "run", NAME, "--yes")
    try:
        deadline = time.monotonic() + 120
        run_id, sent = sent_batches(workspace)
        while not sent and running.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
            run_id, sent = sent_batches(workspace)
        assert run_id is not None
        assert sent, "no batch was sent"  # the jobs wait: the run is mid-sync

        cancel = herald(workspace, "runs", "cancel", run_id)

        assert cancel.returncode == 0, cancel.stdout + cancel.stderr
        assert "will stop at its next batch boundary" in cancel.stdout
        time.sleep(1.5)  # longer than the run's flag period: its next boundary sees it
        with stepping_jobs(stalled, interval=0.02):  # the sent batches complete, and are confirmed
            stdout, stderr = running.communicate(timeout=240)
    finally:
        if running.poll() is None:
            running.kill()

    assert running.returncode == 1, stdout + stderr
    assert f"run {run_id} of '{NAME}' was cancelled" in stderr
    assert "Traceback" not in stderr
    with Workspace.open(workspace) as ws:
        run = ws.store.get_run(run_id)
        deliveries = ws.store.run_deliveries(run_id)
        campaign = ws.store.campaign_status(NAME).status
    assert (run.status, run.cancel_requested, campaign) == ("cancelled", True, "error")
    assert run.finished_at is not None
    assert run.stats is not None
    assert run.stats["deliveries"] == len(GROUPS)
    # The fifth list waited for a free slot, which came after the cancel: never started.
    stopped = [d for d in deliveries if d.status == "failed"]
    assert stopped, deliveries
    assert all((d.error or "").startswith("cancelled") for d in stopped)
    assert all(d.status in ("done", "failed") for d in deliveries)
    with Workspace.open(workspace) as ws:
        batches = [b for d in deliveries for b in ws.store.batches(d.id)]
    assert not [b for b in batches if b.status == "sent"]  # what was sent was confirmed
    assert len([b for b in batches if b.status == "confirmed"]) >= sent
    assert_lists_match_ledgers(workspace, stalled)

    assert_next_run_is_exact(workspace, stalled)


def test_an_interrupted_run_is_stopped_by_the_cancel_itself(
    workspace: Path, stalled: SandboxServer
) -> None:
    with stepping_jobs(stalled, interval=0.02):
        killed = herald(workspace, "campaign", "run", NAME, "--yes", crash_at="delivery_midway")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    with Workspace.open(workspace) as ws:
        [run] = ws.store.list_runs(NAME)
    assert run.status == "running"

    with stepping_jobs(stalled, interval=0.02):  # its sent batches are polled until confirmed
        cancel = herald(workspace, "runs", "cancel", run.id)

    assert cancel.returncode == 0, cancel.stdout + cancel.stderr
    assert f"Stopped the interrupted run {run.id}: cancelled" in cancel.stdout
    with Workspace.open(workspace) as ws:
        done = ws.store.get_run(run.id)
        deliveries = ws.store.run_deliveries(run.id)
        batches = [b for d in deliveries for b in ws.store.batches(d.id)]
    assert done.status == "cancelled"
    assert not [b for b in batches if b.status == "sent"]  # every sent batch was settled
    assert any(b.status == "confirmed" for b in batches)
    assert_lists_match_ledgers(workspace, stalled)

    again = herald(workspace, "runs", "cancel", run.id)
    assert again.returncode == 1
    assert "is cancelled, not running" in again.stderr

    assert_next_run_is_exact(workspace, stalled)
