"""Kill ``herald campaign run`` with SIGKILL at each state transition of a run, then run the
next command: no campaign is left stuck, the run ends delivered, the Klaviyo list is exact.

The kill comes from the process itself, through the pipeline's test hook
(``HERALD_CRASH_AT``, see `herald.crash.crash_point`), at each named point: the run
created (with the campaign's status, in the same transaction), the snapshot written, each
delivery started and finished, the run finished (with the campaign's final status). Between
two kills some customers churn, so every run adds to and removes from the list. The next
command is ``herald campaign run`` or ``herald runs resume`` in turn, against a real Klaviyo
sandbox over loopback HTTP. Kills inside a list sync (between batches) are
tests/destinations/klaviyo_api/sync/test_sync_crash.py's.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from expected_members import expected_emails

from herald.apply import apply_path
from herald.demo.churn import churn_customers
from herald.demo.examples import examples_dir
from herald.runs.resume import shown_status
from herald.sandbox import DEFAULT_API_KEY, SandboxConfig, SandboxServer
from herald.workspace import Workspace

NAME = "Crash Test"
LIST = "Crash_Test_Listed"
CAMPAIGN = f"""
kind: campaign
name: {NAME}
include: [Email Opted In]
exclude: [Do Not Contact]
remaining:
  groups:
    - {{name: Listed, percent: 60, destinations: [klaviyo]}}
    - {{name: Filed, percent: 30, destinations: [files]}}
    - {{name: Held, percent: 10, control: true}}
delivery:
  schedule: recurring
  cadence: daily
  start: 2026-12-01 09:00
  end: never
  timezone: UTC
"""
# Deliveries in the campaign's order: 1 is the Klaviyo list, 2 the CSV file.
POINTS = [
    "run_created",
    "snapshot_written",
    "delivery_started:1",
    "delivery_finished:1",
    "delivery_started:2",
    "delivery_finished:2",
    "run_finished",
]


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(limits="off", job_tick=0.01)) as server:
        yield server


@pytest.fixture
def workspace(tmp_path: Path, demo_db: Path, sandbox: SandboxServer) -> Path:
    """A workspace over a copy of the demo database (it churns), Klaviyo at the sandbox."""
    database = tmp_path / "customers.duckdb"
    shutil.copyfile(demo_db, database)
    root = tmp_path / "ws"
    Workspace.init(root, database=str(database)).close()
    with (root / "herald.toml").open("a", encoding="utf-8") as config:
        config.write(
            '\n[destinations.klaviyo]\ntype = "klaviyo_api"\napi_key_env = "KLAVIYO_API_KEY"\n'
            f'base_url = "{sandbox.url}"\npoll_interval = 0.05\n'
        )
    (root / "campaign.yaml").write_text(CAMPAIGN, encoding="utf-8")
    with Workspace.open(root) as ws:
        apply_path(ws, examples_dir() / "segments")
        apply_path(ws, root / "campaign.yaml")
    return root


def herald(root: Path, *args: str, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KLAVIYO_API_KEY": DEFAULT_API_KEY, "HERALD_WORKSPACE": str(root)}
    env.pop("HERALD_CRASH_AT", None)
    if crash_at:
        env["HERALD_CRASH_AT"] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "herald", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def runs_and_status(root: Path) -> tuple[list[tuple[str, str]], str]:
    """Every run (id, status as `herald runs list` shows it), newest first, and the
    campaign's status as `herald campaign show` reads it; read in this process, between
    two commands, to keep the test short."""
    with Workspace.open(root) as ws:
        runs = [(r.id, shown_status(ws, r)) for r in ws.store.list_runs(NAME)]
        return runs, ws.store.settle_campaign(NAME).status


def expected_members(root: Path, database: Path, run_id: str) -> set[str]:
    return expected_emails(root, database, run_id, "Listed")


def group_size(root: Path, run_id: str, group: str) -> int:
    snapshot = root / ".herald" / "runs" / run_id / "recipients.parquet"
    with duckdb.connect() as con:
        query = f"""SELECT count(*) FROM read_parquet('{snapshot}') WHERE "group" = ?"""
        row = con.execute(query, [group]).fetchone()
    assert row is not None
    return int(row[0])


def members(server: SandboxServer) -> set[str]:
    state = server.state
    [found] = [k for k in state.lists() if k.name == LIST]
    return {state.profile(pid).email.lower() for pid in state.list_members(found.id)}


def csv_rows(root: Path) -> int:
    [path] = (root / "exports").glob("Crash_Test_Filed*.csv")
    assert not list((root / "exports").glob(".*")), "a partial file was left behind"
    with path.open(encoding="utf-8") as file:
        return sum(1 for _ in file) - 1


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_run_killed_at_each_transition_ends_delivered_with_exact_lists(
    workspace: Path, sandbox: SandboxServer
) -> None:
    database = workspace.parent / "customers.duckdb"
    assert herald(workspace, "campaign", "run", NAME, "--yes").returncode == 0
    done: list[str] = []
    for step, point in enumerate(POINTS):
        churn_customers(database, share=0.05, seed=step + 1)  # adds and removes each run

        killed = herald(workspace, "campaign", "run", NAME, "--yes", crash_at=point)

        assert killed.returncode == -signal.SIGKILL, f"{point}: not killed\n{killed.stderr}"
        runs, _ = runs_and_status(workspace)
        stale = [run_id for run_id, status in runs if status == "interrupted"]
        # At run_finished the run and the campaign's status were written together.
        assert len(stale) == (0 if point == "run_finished" else 1), (point, runs)
        if stale and step % 2:
            nxt = herald(workspace, "runs", "resume", stale[0])
        else:
            nxt = herald(workspace, "campaign", "run", NAME, "--yes")

        assert nxt.returncode == 0, f"{point}: {nxt.stdout}\n{nxt.stderr}"
        runs, status = runs_and_status(workspace)
        assert {s for _, s in runs} == {"delivered"}, (point, runs)
        assert status == "delivered", point
        newest = runs[0][0]
        assert members(sandbox) == expected_members(workspace, database, newest), point
        assert csv_rows(workspace) == group_size(workspace, newest, "Filed"), point
        done.append(point)
    assert done == POINTS
