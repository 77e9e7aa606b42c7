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

import signal
from pathlib import Path

import duckdb
import pytest
from expected_members import expected_emails
from sandbox_workspace import daily_campaign, herald, klaviyo_table, list_members, make_workspace

from herald.demo.churn import churn_customers
from herald.runs.resume import shown_status
from herald.sandbox import SandboxServer
from herald.workspace import Workspace

NAME = "Crash Test"
LIST = "Crash_Test_Listed"
CAMPAIGN = daily_campaign(
    NAME,
    "{name: Listed, percent: 60, destinations: [klaviyo]}",
    "{name: Filed, percent: 30, destinations: [files]}",
    "{name: Held, percent: 10, control: true}",
)
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
def workspace(tmp_path: Path, demo_db: Path, sandbox: SandboxServer) -> Path:
    """A workspace over a copy of the demo database (it churns), Klaviyo at the sandbox."""
    return make_workspace(tmp_path, demo_db, CAMPAIGN, {"klaviyo": klaviyo_table(sandbox)})


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
        assert list_members(sandbox, LIST) == expected_members(workspace, database, newest), point
        assert csv_rows(workspace) == group_size(workspace, newest, "Filed"), point
        done.append(point)
    assert done == POINTS
