"""Following a run from another process: ``herald campaign run`` in a subprocess against a
real Klaviyo sandbox, ``herald runs watch`` in this one; the run's history details
(``runs show``, ``runs list`` with a schedule's missed slot); and the async entry points,
awaited in a running event loop that stays responsive while the run delivers."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cli_helpers import run
from sandbox_workspace import daily_campaign, klaviyo_table, make_workspace, start_herald

import herald
from herald.runs.pipeline import RunResult
from herald.sandbox import DEFAULT_API_KEY, SandboxConfig, SandboxServer
from herald.state import Run
from herald.workspace import Workspace

NAME = "Watch Test"
CAMPAIGN = daily_campaign(
    NAME,
    "{name: Listed, percent: 60, destinations: [klaviyo]}",
    "{name: Filed, percent: 30, destinations: [files]}",
    "{name: Held, percent: 10, control: true}",
)


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    # Slow jobs: the run is still delivering when the watcher starts.
    with SandboxServer(SandboxConfig(limits="off", job_tick=0.4)) as server:
        yield server


@pytest.fixture
def workspace(
    tmp_path: Path, demo_db: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> Path:
    root = make_workspace(tmp_path, demo_db, CAMPAIGN, {"klaviyo": klaviyo_table(sandbox)})
    monkeypatch.setenv("HERALD_WORKSPACE", str(root))
    monkeypatch.setenv("KLAVIYO_API_KEY", DEFAULT_API_KEY)
    return root


def started_run(root: Path, process: subprocess.Popen[str]) -> Run:
    """The run the subprocess started, as soon as it is recorded."""
    deadline = time.monotonic() + 120
    with Workspace.open(root) as ws:
        while time.monotonic() < deadline:
            runs = ws.store.list_runs(NAME)
            if runs:
                return runs[0]
            assert process.poll() is None, process.communicate()
            time.sleep(0.05)
    raise AssertionError("the run was never recorded")


def start_run(root: Path, **options: str) -> subprocess.Popen[str]:
    return start_herald(root, "campaign", "run", NAME, "--yes", **options)


def events_of(output: str) -> list[dict]:
    return [json.loads(line)["event"] for line in output.splitlines() if '"event"' in line]


@pytest.mark.timeout(300)
def test_watch_follows_a_run_of_another_process_to_its_end(workspace):
    process = start_run(workspace)
    try:
        running = started_run(workspace, process)
        watching_from = datetime.now(UTC)
        watched = run("runs", "watch", running.id, "--json", "--poll", "0.1")
    finally:
        _, err = process.communicate(timeout=240)
    assert process.returncode == 0, err

    assert watched.exit_code == 0, watched.output
    events = events_of(watched.stdout)
    kinds = [e["kind"] for e in events]
    for kind in ("planned", "batch_sent", "batch_confirmed", "done", "finished"):
        assert kind in kinds, kinds
    assert kinds[-1] == "finished"
    phases = [e["payload"]["phase"] for e in events if e["kind"] == "phase_finished"]
    assert phases == ["build", "snapshot", "prepare", "deliver", "log"]
    [planned] = [e["payload"] for e in events if e["kind"] == "planned"]
    confirmed = [e["payload"] for e in events if e["kind"] == "batch_confirmed"]
    assert confirmed[-1]["confirmed"] == planned["counts"]["adds"] > 0
    assert not any("@" in json.dumps(e) for e in events)  # never a profile's email
    final = json.loads(watched.stdout.splitlines()[-1])["run"]
    assert final["status"] == "delivered"
    # It followed the run live: it started watching before the run finished.
    assert datetime.fromisoformat(final["finished_at"]) > watching_from


@pytest.mark.timeout(300)
def test_watch_shows_bars_and_phases_of_a_run_another_process_resumes(workspace):
    killed = start_run(workspace, crash_at="snapshot_written")
    killed.communicate(timeout=240)
    assert killed.returncode == -9
    with Workspace.open(workspace) as ws:
        [interrupted] = ws.store.list_runs(NAME)
    assert interrupted.status == "running"

    bars = start_herald(workspace, "runs", "watch", interrupted.id, "--poll", "0.1")
    resumed = start_herald(workspace, "runs", "resume", interrupted.id)
    shown, progress = bars.communicate(timeout=240)
    _, err = resumed.communicate(timeout=240)

    assert resumed.returncode == 0, err
    assert bars.returncode == 0, progress
    [bar] = [line for line in progress.splitlines() if "klaviyo: Watch_Test_Listed" in line]
    assert "done" in bar
    assert "deliver: " in progress  # a line per phase
    assert f"{interrupted.id}  {NAME} v1  delivered" in shown


@pytest.mark.timeout(300)
def test_watching_a_finished_run_prints_its_summary_and_a_failed_one_exits_1(workspace):
    process = start_run(workspace, key="pk_not_a_valid_key_000000000000000")
    _, err = process.communicate(timeout=240)
    assert process.returncode == 1, err
    with Workspace.open(workspace) as ws:
        [failed] = ws.store.list_runs(NAME)

    watched = run("runs", "watch", failed.id)

    assert watched.exit_code == 1
    assert f"run {failed.id} of '{NAME}' ended error" in watched.stderr
    assert "error at klaviyo" in watched.stdout
    assert "Phases" in watched.stdout
    json_watch = run("runs", "watch", failed.id, "--json")
    assert json_watch.exit_code == 1
    assert [e["kind"] for e in events_of(json_watch.stdout)][-1] == "finished"


@pytest.mark.timeout(300)
def test_run_history_shows_phases_counts_and_missed_slots(workspace):
    result = herald.run_campaign(Workspace.open(workspace), NAME)
    assert result.run is not None
    run_id = result.run.id

    shown = run("runs", "show", run_id)
    details = json.loads(run("runs", "show", run_id, "--json").stdout)

    assert shown.exit_code == 0, shown.output
    for text in ("trigger: manual", "pinned: campaign v1; segments", "Phases", "Recipients",
                 "Destinations", "Dropped", "List deliveries"):  # fmt: skip
        assert text in shown.stdout, text
    stats = details["run"]["stats"]
    assert set(stats["phases"]) == {"build", "snapshot", "prepare", "deliver", "log", "lists"}
    assert set(stats["phases"]["lists"]) == {"klaviyo:Watch_Test_Listed", "files:Watch_Test_Filed"}
    assert [g["group"] for g in stats["groups"]] == ["Listed", "Filed", "Held"]
    assert [(t["group"], t["destination"], t["status"]) for t in stats["targets"]] == [
        ("Listed", "klaviyo", "synced"),
        ("Filed", "files", "written"),
    ]
    assert sum(g["recipients"] for g in stats["groups"]) == stats["recipients"]
    assert stats["destinations"]["klaviyo"]["delivered"] == 1
    assert stats["lists"]["klaviyo:Watch_Test_Listed"]["adds"] > 0
    assert "errors" not in stats

    slot = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    with Workspace.open(workspace) as ws:
        ws.store.schedule_campaign(NAME, 1, result.run.pins, scheduled_at=slot, next_at=slot)
        ws.store.claim_slot(
            NAME, last_slot=None, slot=slot, next_at=slot + timedelta(days=1), missed=True,
            as_of=slot,
        )  # fmt: skip
    listed = json.loads(run("runs", "list", "--json").stdout)
    table = run("runs", "list").stdout

    assert [(r["id"], r["status"], r["trigger"]) for r in listed] == [
        (None, "missed", "schedule"),  # its slot is after the run: listed first
        (run_id, "delivered", "manual"),
    ]
    assert "missed" in table
    assert "trigger" in table
    assert "slot" in table


@pytest.mark.timeout(300)
def test_the_async_entry_point_leaves_the_callers_loop_responsive(workspace):
    ticks: list[float] = []

    async def ticker(stop: asyncio.Event) -> None:
        while not stop.is_set():
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    async def main() -> tuple[RunResult, list[str]]:
        stop = asyncio.Event()
        ticking = asyncio.create_task(ticker(stop))
        with Workspace.open(workspace) as ws:
            result = await herald.run_campaign_async(ws, NAME)
            assert result.run is not None
            kinds = [e.kind async for e in herald.watch_run(ws.store, result.run.id)]
        stop.set()
        await ticking
        return result, kinds

    began = time.monotonic()
    result, kinds = asyncio.run(main())
    took = time.monotonic() - began

    assert result.run is not None
    assert result.run.status == "delivered"
    assert kinds[-1] == "finished"
    assert "batch_confirmed" in kinds
    gaps = [later - earlier for earlier, later in itertools.pairwise(ticks)]
    # Blocked by the run, the loop would stall about as long as the run took.
    assert max(gaps) < took / 3, (took, sorted(gaps)[-5:])
    assert len(ticks) > took / 0.1


def test_the_sync_entry_point_refuses_a_running_loop_and_says_what_to_await(workspace):
    async def main() -> None:
        with Workspace.open(workspace) as ws:
            herald.run_campaign(ws, NAME)

    with pytest.raises(RuntimeError, match="running event loop"):
        asyncio.run(main())
