"""How a run ends, and what the next command finds: failed or unsent deliveries make the run
``error`` and the command exit 1; a campaign is never left stuck ``running``; a resumed run
builds the audience it started with; ``runs list`` tells interrupted runs from live ones.

A real workspace over the 3,000-customer demo database, a real state store and, where a
Klaviyo list is involved, the Klaviyo sandbox over loopback HTTP.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from cli_helpers import as_json, ok_stdout, run

from herald.runs.pipeline import run_campaign
from herald.runs.resume import run_lock
from herald.sandbox import SandboxConfig, SandboxServer
from herald.state import Run
from herald.workspace import Workspace

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "campaigns"
OFFER = "Opt-In Offer"  # files and Klaviyo (tests/fixtures/campaigns/opt-in-offer.yaml)
FILES_ONLY = "Files Offer"  # the same campaign sent to the CSV files only


def status(name: str) -> str:
    return json.loads(ok_stdout("campaign", "show", name, "--json"))["status"]


@pytest.fixture
def offer(ws_dir: Path) -> Path:
    """The workspace with both campaigns applied; KLAVIYO_API_KEY is not set."""
    text = (FIXTURES / "opt-in-offer.yaml").read_text(encoding="utf-8")
    files_only = text.replace(f"name: {OFFER}", f"name: {FILES_ONLY}").replace(
        "destinations: [files, klaviyo]", "destinations: [files]"
    )
    (ws_dir / "files-offer.yaml").write_text(files_only, encoding="utf-8")
    ok_stdout("campaign", "apply", "-f", str(FIXTURES / "opt-in-offer.yaml"))
    ok_stdout("campaign", "apply", "-f", str(ws_dir / "files-offer.yaml"))
    return ws_dir


def interrupted_run(ws_dir: Path, name: str, as_of: dt.datetime | None = None) -> Run:
    """A run as a crash right after it was recorded leaves it: running, no process, no files."""
    with Workspace.open(ws_dir) as ws:
        build = ws.campaigns.build(name)
        ws.store.set_campaign_status(name, "running")
        return ws.store.create_run(name, build.version, as_of=as_of or build.as_of, pins=build.pins)


# --- item 5: failed or unsent deliveries ---------------------------------------------------


def test_a_run_whose_key_is_not_set_ends_error_and_exits_1(offer: Path) -> None:
    result = run("campaign", "run", OFFER)

    assert result.exit_code == 1, result.output
    assert "Deliveries" in result.stdout  # the per-delivery table is printed first
    assert "not sent" in result.stdout
    [last] = [line for line in result.stderr.splitlines() if line.strip()]
    assert last.startswith("Error: run ")
    assert "ended in error" in last
    assert "KLAVIYO_API_KEY" in last  # the reason: which variable to set
    [run_] = as_json("campaign", "runs", OFFER)
    assert run_["status"] == "error"
    assert "klaviyo 'Opt-In_Offer_Newsletter'" in run_["error"]
    assert "KLAVIYO_API_KEY" in run_["error"]
    assert status(OFFER) == "error"


def test_a_run_with_a_wrong_key_ends_error_and_exits_1(
    offer: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SandboxServer(SandboxConfig(limits="off", job_tick=0.01)) as server:
        with (offer / "herald.toml").open("a", encoding="utf-8") as config:
            config.write(f'base_url = "{server.url}"\npoll_interval = 0.05\n')
        monkeypatch.setenv("KLAVIYO_API_KEY", "pk_wrong_key_000000000000000000000")
        result = run("campaign", "run", OFFER, "--json")

    assert result.exit_code == 1, result.output
    printed = json.loads(result.stdout[result.stdout.index("{\n") :])
    assert printed["run"]["status"] == "error"
    assert [d["status"] for d in printed["deliveries"]] == ["written", "written", "failed"]
    assert "klaviyo 'Opt-In_Offer_Newsletter'" in printed["run"]["error"]
    assert status(OFFER) == "error"


def test_the_library_returns_an_error_run_instead_of_raising(offer: Path) -> None:
    with Workspace.open(offer) as ws:
        result = run_campaign(ws, OFFER)

    assert result.run is not None
    assert result.run.status == "error"
    assert [d.status for d in result.deliveries] == ["written", "written", "not sent"]
    assert "KLAVIYO_API_KEY" in (result.run.error or "")


def test_a_resumed_run_with_an_unsent_delivery_exits_1(offer: Path) -> None:
    stale = interrupted_run(offer, OFFER)

    result = run("runs", "resume", stale.id)

    assert result.exit_code == 1, result.output
    assert f"run {stale.id} of '{OFFER}' ended in error" in result.stderr
    assert as_json("campaign", "runs", OFFER)[0]["status"] == "error"
    assert status(OFFER) == "error"


def test_a_run_where_everything_is_delivered_exits_0(offer: Path) -> None:
    ok_stdout("campaign", "run", FILES_ONLY)
    assert status(FILES_ONLY) == "delivered"


# --- item 7: never stuck running ------------------------------------------------------------


def test_a_campaign_left_running_without_a_run_runs_again(offer: Path) -> None:
    """What a crash between the status write and the run's creation left behind."""
    with Workspace.open(offer) as ws:
        ws.store.set_campaign_status(FILES_ONLY, "running")

    assert status(FILES_ONLY) == "draft"  # recovered as soon as it is read: it never ran
    ok_stdout("campaign", "run", FILES_ONLY)
    assert status(FILES_ONLY) == "delivered"


def test_a_campaign_left_running_after_its_run_finished_gets_the_outcome(offer: Path) -> None:
    """What a crash between finishing the run and the final status write left behind."""
    ok_stdout("campaign", "run", FILES_ONLY)
    with Workspace.open(offer) as ws:
        ws.store.set_campaign_status(FILES_ONLY, "running")

    listed = {c["name"]: c["status"] for c in as_json("campaign", "list")}
    assert listed[FILES_ONLY] == "delivered"
    ok_stdout("campaign", "apply", "-f", str(offer / "files-offer.yaml"))  # unchanged: no refusal
    ok_stdout("campaign", "run", FILES_ONLY)
    assert [r["status"] for r in as_json("campaign", "runs", FILES_ONLY)] == ["delivered"] * 2


def test_a_campaign_with_an_interrupted_run_stays_running_until_it_is_resumed(
    offer: Path,
) -> None:
    stale = interrupted_run(offer, FILES_ONLY)

    assert status(FILES_ONLY) == "running"
    ok_stdout("campaign", "run", FILES_ONLY)  # resumes the interrupted run first, then runs

    runs = as_json("campaign", "runs", FILES_ONLY)
    assert [r["status"] for r in runs] == ["delivered", "delivered"]
    assert runs[1]["id"] == stale.id
    assert status(FILES_ONLY) == "delivered"


# --- item 8: a resumed run builds the audience it started with ------------------------------


def log_counts(ws: Path, run_id: str) -> dict[tuple[str, str], int]:
    log = ws / ".herald" / "runs" / run_id / "recipients_log.parquet"
    with duckdb.connect() as con:
        rows = con.execute(
            f"""SELECT sub_audience, "group", count(DISTINCT amperity_id)
                FROM read_parquet('{log}') GROUP BY ALL"""
        ).fetchall()
    return {(r[0], r[1]): r[2] for r in rows}


def preview_counts(name: str) -> dict[tuple[str, str], int]:
    found = json.loads(ok_stdout("campaign", "preview", name, "--json"))["counts"]
    return {(c["sub_audience"], c["group"]): c["recipients"] for c in found if c["recipients"]}


@pytest.fixture
def high_value_raised(offer: Path) -> Iterator[None]:
    """A new active version of High Value (3,000 instead of 1,000), made by the test."""
    raised = offer / "high-value.yaml"
    raised.write_text(
        "name: High Value\nstatus: active\nwhere:\n  all:\n"
        "    - attribute: Transaction_Attributes_Extended.lifetime_order_revenue\n"
        "      op: greater than or equal\n      value: 3000\n",
        encoding="utf-8",
    )
    yield
    raised.unlink()


def test_a_resumed_run_uses_its_pinned_versions_and_as_of_time(
    offer: Path, high_value_raised: None
) -> None:
    before = preview_counts(FILES_ONLY)
    as_of = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)  # 04:00 in Los Angeles
    stale = interrupted_run(offer, FILES_ONLY, as_of=as_of)
    # Between the crash and the resume, the segment the run pinned gets a new version.
    ok_stdout("apply", "-f", str(offer / "high-value.yaml"))
    assert preview_counts(FILES_ONLY) != before  # today's audience is another one

    ok_stdout("runs", "resume", stale.id)

    assert log_counts(offer, stale.id) == before
    exports = sorted(p.name for p in (offer / "exports").iterdir())
    assert exports == [
        "Files_Offer_Gold_Voucher_2026-01-15.csv",
        "Files_Offer_Newsletter_2026-01-15.csv",
    ]
    resumed = as_json("campaign", "runs", FILES_ONLY)[0]
    assert resumed["pins"] == stale.pins
    assert dt.datetime.fromisoformat(resumed["as_of"]) == as_of


# --- item 22: interrupted runs are shown as such --------------------------------------------


def test_runs_list_shows_an_interrupted_run_as_interrupted(offer: Path) -> None:
    stale = interrupted_run(offer, OFFER)
    live = interrupted_run(offer, FILES_ONLY)

    with Workspace.open(offer) as ws, run_lock(ws, live.id):  # a live process works on it
        listed = {r["id"]: r["status"] for r in as_json("runs", "list")}
        table = ok_stdout("runs", "list")
        per_campaign = as_json("campaign", "runs", OFFER)

    assert listed == {stale.id: "interrupted", live.id: "running"}
    assert per_campaign[0]["status"] == "interrupted"
    row = next(line for line in table.splitlines() if stale.id in line)
    assert "interrupted" in row
    row = next(line for line in table.splitlines() if live.id in line)
    assert "running" in row
