"""``herald campaign run`` with two Klaviyo destinations, one of which fails inside its bulk
imports: the run ends ``error`` with the reason and exit 1 (no traceback), the other list is
synced, and the next run ends delivered with both lists exact."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from expected_members import expected_emails

from herald.apply import apply_path
from herald.demo.examples import examples_dir
from herald.destinations.klaviyo_api import client as client_module
from herald.destinations.klaviyo_api.client import KlaviyoClient
from herald.runs.pipeline import run_campaign
from herald.sandbox import DEFAULT_API_KEY, FaultSpec, SandboxConfig, SandboxServer
from herald.sandbox.faults import FaultInjector
from herald.workspace import Workspace

NAME = "Two Accounts"
CAMPAIGN = f"""
kind: campaign
name: {NAME}
include: [Email Opted In]
exclude: [Do Not Contact]
remaining:
  groups:
    - {{name: East, percent: 50, destinations: [east]}}
    - {{name: West, percent: 50, destinations: [west]}}
delivery:
  schedule: recurring
  cadence: daily
  start: 2026-12-01 09:00
  end: never
  timezone: UTC
"""


@pytest.fixture
def sandboxes() -> Iterator[dict[str, SandboxServer]]:
    config = {"limits": "off", "job_tick": 0.01}
    with (
        SandboxServer(SandboxConfig(**config)) as east,
        SandboxServer(SandboxConfig(**config)) as west,
    ):
        yield {"East": east, "West": west}


@pytest.fixture
def workspace(tmp_path: Path, demo_db: Path, sandboxes: dict[str, SandboxServer]) -> Path:
    database = tmp_path / "customers.duckdb"
    shutil.copyfile(demo_db, database)
    root = tmp_path / "ws"
    Workspace.init(root, database=str(database)).close()
    with (root / "herald.toml").open("a", encoding="utf-8") as config:
        for group, server in sandboxes.items():
            config.write(
                f'\n[destinations.{group.lower()}]\ntype = "klaviyo_api"\n'
                f'api_key_env = "KLAVIYO_API_KEY"\nbase_url = "{server.url}"\n'
                "poll_interval = 0.05\n"
            )
    (root / "campaign.yaml").write_text(CAMPAIGN, encoding="utf-8")
    with Workspace.open(root) as ws:
        apply_path(ws, examples_dir() / "segments")
        apply_path(ws, root / "campaign.yaml")
    return root


def herald(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KLAVIYO_API_KEY": DEFAULT_API_KEY, "HERALD_WORKSPACE": str(root)}
    return subprocess.run(
        [sys.executable, "-m", "herald", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def members(server: SandboxServer, group: str) -> set[str]:
    state = server.state
    [found] = [k for k in state.lists() if k.name == f"Two_Accounts_{group}"]
    return {state.profile(pid).email.lower() for pid in state.list_members(found.id)}


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
