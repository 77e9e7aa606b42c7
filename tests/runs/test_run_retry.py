"""``herald runs retry`` against two real Klaviyo sandboxes over loopback HTTP.

A campaign sends one group to each of two Klaviyo accounts. The first run fails at one of
them (its key file holds a wrong key) and delivers the other. Once the key is fixed, a retry
delivers only the failed list, as a new run (trigger ``retry``) of the same version, pins and
as-of time, reusing the failed run's snapshot, and ends delivered; the list already delivered
is left alone. The refusals are one line each.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from expected_members import expected_emails
from sandbox_workspace import (
    apply_campaign,
    daily_campaign,
    init_workspace,
    klaviyo_table,
    list_members,
)
from sandbox_workspace import herald as run_herald

from herald.exceptions import StateError
from herald.runs.pipeline import run_campaign
from herald.runs.retry import retry_run
from herald.sandbox import DEFAULT_API_KEY, SandboxServer
from herald.workspace import Workspace

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

NAME = "Two Accounts"
CAMPAIGN = daily_campaign(
    NAME,
    "{name: East, percent: 50, destinations: [east]}",
    "{name: West, percent: 50, destinations: [west]}",
)
WRONG_KEY = "pk_wrong_key_0000000000000000000000"
KEY_ENV = "KEY"


@pytest.fixture
def workspace(tmp_path: Path, demo_db: Path, sandboxes: dict[str, SandboxServer]) -> Path:
    """East reads its key from a file that holds a wrong key; West's key is right."""
    east, west = sandboxes["East"], sandboxes["West"]
    tables = {
        "east": klaviyo_table(east, api_key_file=tmp_path / "ws" / "east.key"),
        "west": klaviyo_table(west, api_key_env=KEY_ENV),
    }
    root = init_workspace(tmp_path, demo_db, tables)
    (root / "east.key").write_text(WRONG_KEY + "\n", encoding="utf-8")
    apply_campaign(root, CAMPAIGN)
    return root


def herald(root: Path, *args: str, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    return run_herald(root, *args, crash_at=crash_at, key_env=KEY_ENV)


def refused(root: Path, *args: str) -> str:
    """The one line a refused command printed."""
    done = herald(root, *args)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


def members(server: SandboxServer, group: str) -> set[str]:
    return list_members(server, f"Two_Accounts_{group}", may_be_missing=True)


def imports(server: SandboxServer) -> int:
    """Bulk import jobs the sandbox was sent."""
    return len(server.state.query_jobs([]))


def expected(root: Path, run_id: str, group: str) -> set[str]:
    return expected_emails(root, root.parent / "customers.duckdb", run_id, group)


def test_a_retry_delivers_only_what_failed_and_the_refusals_are_one_line(
    workspace: Path, sandboxes: dict[str, SandboxServer]
) -> None:
    east, west = sandboxes["East"], sandboxes["West"]
    first = herald(workspace, "campaign", "run", NAME, "--yes")
    assert first.returncode == 1, first.stdout + first.stderr
    with Workspace.open(workspace) as ws:
        [failed] = ws.store.list_runs(NAME)
    assert failed.status == "error"
    assert "east 'Two_Accounts_East'" in (failed.error or "")
    assert members(east, "East") == set()
    assert members(west, "West") == expected(workspace, failed.id, "West")
    west_imports = imports(west)

    assert "'west' had no failure" in refused(
        workspace, "runs", "retry", failed.id, "--destination", "west"
    )
    assert "does not deliver to 'north'" in refused(
        workspace, "runs", "retry", failed.id, "--destination", "north"
    )

    (workspace / "east.key").write_text(DEFAULT_API_KEY + "\n", encoding="utf-8")
    retried = herald(workspace, "runs", "retry", failed.id)

    assert retried.returncode == 0, retried.stdout + retried.stderr
    with Workspace.open(workspace) as ws:
        retry = ws.store.list_runs(NAME)[0]
        lists = [d.list_name for d in ws.store.run_deliveries(retry.id)]
        campaign = ws.store.campaign_status(NAME).status
    assert (retry.trigger, retry.retry_of, retry.status) == ("retry", failed.id, "delivered")
    assert (retry.campaign_version, retry.pins, retry.as_of) == (
        failed.campaign_version, failed.pins, failed.as_of
    )  # fmt: skip
    assert campaign == "delivered"
    assert lists == ["Two_Accounts_East"]  # only what failed
    assert imports(west) == west_imports  # the delivered list was left alone
    runs = workspace / ".herald" / "runs"
    assert (runs / retry.id / "recipients.parquet").samefile(
        runs / failed.id / "recipients.parquet"
    )  # the failed run's snapshot, reused
    assert members(east, "East") == expected(workspace, failed.id, "East")
    assert members(west, "West") == expected(workspace, failed.id, "West")

    assert "nothing left to retry" in refused(workspace, "runs", "retry", failed.id)
    assert "is delivered, not error" in refused(workspace, "runs", "retry", retry.id)

    with Workspace.open(workspace) as ws:
        build = ws.campaigns.build(NAME)
        later = ws.store.start_run(NAME, build.version, as_of=build.as_of, pins=build.pins)
    assert f"campaign '{NAME}' is running" in refused(workspace, "runs", "retry", failed.id)
    assert "is running, not error" in refused(workspace, "runs", "retry", later.id)

    with Workspace.open(workspace) as ws:
        ws.store.finish_run(later.id, "error", error="made up", campaign_status="error")
    assert f"{later.id} came after it" in refused(workspace, "runs", "retry", failed.id)


def test_each_failed_destination_can_be_retried_in_turn(
    workspace: Path, sandboxes: dict[str, SandboxServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    east, west = sandboxes["East"], sandboxes["West"]
    monkeypatch.setenv(KEY_ENV, WRONG_KEY)  # both fail
    with Workspace.open(workspace) as ws:
        failed = run_campaign(ws, NAME).run
    assert failed is not None
    assert failed.status == "error"
    (workspace / "east.key").write_text(DEFAULT_API_KEY + "\n", encoding="utf-8")
    monkeypatch.setenv(KEY_ENV, DEFAULT_API_KEY)

    with Workspace.open(workspace) as ws:
        first = retry_run(ws, failed.id, destination="east")
        assert first.run is not None
        assert first.run.status == "delivered", first.run.error
        second = retry_run(ws, failed.id, destination="west")  # its own retry is no later run
        assert second.run is not None
        assert second.run.status == "delivered", second.run.error
        with pytest.raises(StateError, match="nothing left to retry"):
            retry_run(ws, failed.id)

    assert [d.destination for d in first.deliveries] == ["east"]
    assert [d.destination for d in second.deliveries] == ["west"]
    assert members(east, "East") == expected(workspace, failed.id, "East")
    assert members(west, "West") == expected(workspace, failed.id, "West")


def test_a_retry_killed_and_resumed_still_delivers_only_what_failed(
    workspace: Path, sandboxes: dict[str, SandboxServer]
) -> None:
    east, west = sandboxes["East"], sandboxes["West"]
    assert herald(workspace, "campaign", "run", NAME, "--yes").returncode == 1
    with Workspace.open(workspace) as ws:
        [failed] = ws.store.list_runs(NAME)
    west_imports = imports(west)
    (workspace / "east.key").write_text(DEFAULT_API_KEY + "\n", encoding="utf-8")

    killed = herald(workspace, "runs", "retry", failed.id, crash_at="delivery_started:1")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    with Workspace.open(workspace) as ws:
        retry = ws.store.list_runs(NAME)[0]
    assert (retry.retry_of, retry.status) == (failed.id, "running")

    resumed = herald(workspace, "runs", "resume", retry.id)

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    with Workspace.open(workspace) as ws:
        done = ws.store.get_run(retry.id)
        lists = [d.list_name for d in ws.store.run_deliveries(retry.id)]
    assert done.status == "delivered"
    assert lists == ["Two_Accounts_East"]  # the resume kept to the retry's groups
    assert imports(west) == west_imports
    assert members(east, "East") == expected(workspace, failed.id, "East")
