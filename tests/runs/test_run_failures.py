"""``herald campaign run`` with two Klaviyo destinations, one of which fails inside its bulk
imports: the run ends ``error`` with the reason and exit 1 (no traceback), the other list is
synced, and the next run ends delivered with both lists exact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from expected_members import expected_emails
from sandbox_workspace import daily_campaign, herald, klaviyo_table, list_members, make_workspace

from herald.destinations.klaviyo_api import client as client_module
from herald.destinations.klaviyo_api.client import KlaviyoClient
from herald.runs.pipeline import run_campaign
from herald.sandbox import DEFAULT_API_KEY, FaultSpec, SandboxServer
from herald.sandbox.faults import FaultInjector
from herald.workspace import Workspace

NAME = "Two Accounts"
CAMPAIGN = daily_campaign(
    NAME,
    "{name: East, percent: 50, destinations: [east]}",
    "{name: West, percent: 50, destinations: [west]}",
)


@pytest.fixture
def workspace(tmp_path: Path, demo_db: Path, sandboxes: dict[str, SandboxServer]) -> Path:
    tables = {group.lower(): klaviyo_table(server) for group, server in sandboxes.items()}
    return make_workspace(tmp_path, demo_db, CAMPAIGN, tables)


def members(server: SandboxServer, group: str) -> set[str]:
    return list_members(server, f"Two_Accounts_{group}")


def expected(root: Path, run_id: str, group: str) -> set[str]:
    return expected_emails(root, root.parent / "customers.duckdb", run_id, group)


@pytest.mark.timeout(600)
def test_a_destination_failing_inside_its_imports_fails_its_delivery_only(
    workspace: Path, sandboxes: dict[str, SandboxServer]
) -> None:
    east, west = sandboxes["East"], sandboxes["West"]
    assert east.sandbox is not None
    east.sandbox.faults = FaultInjector(
        FaultSpec.parse("4xx=1,status=418,only=bulk_import_profiles")
    )

    failed = herald(workspace, "campaign", "run", NAME, "--yes")

    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "Traceback" not in failed.stderr
    assert "ExceptionGroup" not in failed.stdout + failed.stderr
    with Workspace.open(workspace) as ws:
        [run] = ws.store.list_runs(NAME)
        deliveries = {d.list_name: d for d in ws.store.run_deliveries(run.id)}
    assert run.status == "error"
    assert "HTTP 418" in (run.error or "")
    east_delivery, west_delivery = deliveries["Two_Accounts_East"], deliveries["Two_Accounts_West"]
    assert east_delivery.status == "failed"
    assert "HTTP 418" in (east_delivery.error or "")
    assert west_delivery.status == "done"
    assert members(west, "West") == expected(workspace, run.id, "West")

    east.sandbox.faults = FaultInjector(FaultSpec())
    retried = herald(workspace, "campaign", "run", NAME, "--yes")

    assert retried.returncode == 0, retried.stdout + retried.stderr
    with Workspace.open(workspace) as ws:
        newest = ws.store.list_runs(NAME)[0]
    assert newest.status == "delivered"
    assert members(east, "East") == expected(workspace, newest.id, "East")
    assert members(west, "West") == expected(workspace, newest.id, "West")


class EastBreaks(KlaviyoClient):
    """A client whose imports into one account fail with an error that is not Klaviyo's."""

    east_url = ""

    async def start_import_encoded(self, profiles: Any, list_id: str) -> str:
        if self.settings.base_url == EastBreaks.east_url:
            raise RuntimeError("the disk under the delivery folder went away\nsecond line")
        return await super().start_import_encoded(profiles, list_id)


@pytest.mark.timeout(600)
def test_an_error_that_is_not_klaviyo_s_fails_one_delivery_and_the_others_finish(
    workspace: Path, sandboxes: dict[str, SandboxServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    east, west = sandboxes["East"], sandboxes["West"]
    EastBreaks.east_url = east.url.rstrip("/")
    monkeypatch.setattr(client_module, "KlaviyoClient", EastBreaks)
    monkeypatch.setenv("KLAVIYO_API_KEY", DEFAULT_API_KEY)

    with Workspace.open(workspace) as ws:
        result = run_campaign(ws, NAME)
        deliveries = {d.list_name: d for d in ws.store.run_deliveries(result.run.id)}

    assert result.run.status == "error"
    assert result.run.error == (
        "east 'Two_Accounts_East': RuntimeError: the disk under the delivery folder went away "
        "second line"
    )
    by_group = {d.group: d for d in result.deliveries}
    assert by_group["East"].status == "failed"
    assert by_group["West"].status == "synced"
    assert deliveries["Two_Accounts_East"].status == "failed"
    assert deliveries["Two_Accounts_West"].status == "done"
    assert members(west, "West") == expected(workspace, result.run.id, "West")
