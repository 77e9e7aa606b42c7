"""``herald campaign schedule | unschedule | archive | delete``: scheduling validates and pins
versions, shows the next runs in the campaign's time zone; a scheduled campaign is not edited
until unscheduled; archive and delete follow DESIGN §1.3."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest
from cli_helpers import as_json, ok, one_error_line, run

from herald.apply import apply_path
from herald.demo.examples import examples_dir
from herald.workspace import Workspace

NAME = "Morning Mail"


def campaign(delivery: str, *, percent: int = 100) -> str:
    return f"""
kind: campaign
name: {NAME}
include: [Email Opted In]
remaining:
  groups:
    - {{name: All, percent: {percent}, destinations: [files]}}
delivery: {delivery}
"""


DAILY_NY = "{schedule: recurring, cadence: daily, time: '09:00', timezone: America/New_York}"


def applied(root: Path, text: str) -> Path:
    path = root / "campaign.yaml"
    path.write_text(text, encoding="utf-8")
    ok("campaign", "apply", "-f", str(path))
    return path


def test_schedule_pins_versions_and_prints_the_next_runs(ws_dir: Path) -> None:
    applied(ws_dir, campaign(DAILY_NY))

    shown = ok("campaign", "schedule", NAME)

    assert f"Scheduled campaign '{NAME}'" in shown
    assert "pinned: campaign v1; segments: Email Opted In v1" in shown
    assert shown.count("09:00 America/New_York") == 5
    data = as_json("campaign", "show", NAME)
    [listed] = as_json("campaign", "list")
    assert listed["next_run"] == data["schedule"]["next_runs"][0]
    assert data["status"] == "scheduled"
    assert data["schedule"]["schedule"]["pins"] == {"Email Opted In": 1}
    assert len(data["schedule"]["next_runs"]) == 5


def test_a_scheduled_campaign_is_not_edited_until_unscheduled(ws_dir: Path) -> None:
    path = applied(ws_dir, campaign(DAILY_NY))
    ok("campaign", "schedule", NAME)
    path.write_text(campaign(DAILY_NY, percent=100).replace("All", "Everyone"), encoding="utf-8")

    line = one_error_line(run("campaign", "apply", "-f", str(path)))

    assert f"campaign '{NAME}' is scheduled: unschedule it" in line
    ok("campaign", "unschedule", NAME)
    assert as_json("campaign", "show", NAME)["status"] == "draft"
    ok("campaign", "apply", "-f", str(path))


def test_a_later_segment_activation_does_not_change_a_scheduled_campaign(ws_dir: Path) -> None:
    applied(ws_dir, campaign(DAILY_NY))
    ok("campaign", "schedule", NAME)
    segment = ws_dir / "segment.yaml"
    segment.write_text(
        "kind: segment\nname: Email Opted In\nstatus: active\n"
        "where: {attribute: Customer_360.email, op: is not empty}\n",
        encoding="utf-8",
    )
    ok("apply", "-f", str(segment))  # version 2 of the segment is active now

    result = as_json("campaign", "run", NAME, "--yes")

    assert result["run"]["pins"] == {"Email Opted In": 1}
    with Workspace.open(ws_dir) as ws:
        assert ws.store.campaign_status(NAME).status == "scheduled"  # a manual run keeps it


def test_a_one_time_campaign_whose_time_has_passed_cannot_be_scheduled(ws_dir: Path) -> None:
    applied(ws_dir, campaign("{schedule: once, at: '2020-01-01 09:00', timezone: UTC}"))

    line = one_error_line(run("campaign", "schedule", NAME))

    assert f"campaign '{NAME}' has no time left to run" in line
    assert "set a later 'at' or asap" in line
    assert as_json("campaign", "show", NAME)["status"] == "draft"


def test_archive_needs_an_unscheduled_campaign(ws_dir: Path) -> None:
    applied(ws_dir, campaign(DAILY_NY))
    ok("campaign", "schedule", NAME)

    assert "unschedule it first" in one_error_line(run("campaign", "archive", NAME))
    ok("campaign", "unschedule", NAME)
    ok("campaign", "archive", NAME)

    assert as_json("campaign", "show", NAME)["status"] == "archived"
    assert "cannot be set to scheduled" in one_error_line(run("campaign", "schedule", NAME))


@pytest.mark.parametrize("scheduled", [True, False])
def test_drafts_and_scheduled_campaigns_can_be_deleted(ws_dir: Path, scheduled: bool) -> None:
    applied(ws_dir, campaign(DAILY_NY))
    if scheduled:
        ok("campaign", "schedule", NAME)

    ok("campaign", "delete", NAME, "--yes")

    assert "not found" in one_error_line(run("campaign", "show", NAME))


def test_a_delivered_campaign_is_archived_not_deleted(ws_dir: Path) -> None:
    applied(ws_dir, campaign("{schedule: once, at: asap}"))
    ok("campaign", "run", NAME, "--yes")

    line = one_error_line(run("campaign", "delete", NAME, "--yes"))

    assert f"campaign '{NAME}' is delivered; archive it instead" in line


def test_as_soon_as_possible_is_due_at_once(ws_dir: Path) -> None:
    applied(ws_dir, campaign("{schedule: once, at: asap}"))
    before = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)

    data = as_json("campaign", "schedule", NAME)

    [slot] = [dt.datetime.fromisoformat(s) for s in data["next_runs"]]
    assert before <= slot <= dt.datetime.now(dt.UTC)


def test_scheduling_checks_the_campaign_against_the_database_as_it_is_now(
    tmp_path: Path, demo_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "customers.duckdb"
    shutil.copyfile(demo_db, database)
    root = tmp_path / "ws"
    Workspace.init(root, database=str(database)).close()
    with Workspace.open(root) as ws:
        apply_path(ws, examples_dir() / "segments")
    monkeypatch.setenv("HERALD_WORKSPACE", str(root))
    applied(root, campaign(DAILY_NY))
    with duckdb.connect(str(database)) as con:  # the database changed since the campaign was saved
        con.execute("ALTER TABLE Customer_Attributes RENAME is_opted_into_email TO opted_in")

    line = one_error_line(run("campaign", "schedule", NAME))

    assert "is_opted_into_email" in line
    assert as_json("campaign", "show", NAME)["status"] == "draft"
