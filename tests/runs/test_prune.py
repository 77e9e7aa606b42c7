"""``herald runs prune`` and the prune before each ``campaign run``: run files with emails and
phones go once their retention has passed; what results and list sync need stays.

Real parts throughout: a workspace over the demo database, the state store on SQLite, the
Klaviyo sandbox over loopback HTTP. Runs are aged by moving their times back in the state
database, as if they had finished weeks ago.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from cli_helpers import ok, run
from click.testing import CliRunner
from sandbox_workspace import init_workspace, klaviyo_table

from herald.cli.main import main
from herald.demo.examples import examples_dir
from herald.runs.prune import KEPT_FILES, prune_runs
from herald.runs.resume import run_lock
from herald.sandbox import DEFAULT_API_KEY, SandboxConfig, SandboxServer
from herald.workspace import Workspace

CAMPAIGN = "Spring Reactivation"
KEY_ENV = "HERALD_TEST_PRUNE_KEY"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(limits="off", job_tick=0.01)) as server:
        yield server


@pytest.fixture
def ws(
    tmp_path: Path, demo_db: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> Path:
    root = init_workspace(
        tmp_path, demo_db, {"klaviyo": klaviyo_table(sandbox, api_key_env=KEY_ENV)}
    )
    monkeypatch.setenv(KEY_ENV, DEFAULT_API_KEY)
    monkeypatch.setenv("HERALD_WORKSPACE", str(root))
    ok("apply", "-f", str(examples_dir()))
    return root


def campaign_run() -> str:
    ok("campaign", "run", CAMPAIGN, "--yes")
    newest = json.loads(run("runs", "list", "--limit", "1", "--json").stdout)[0]
    assert newest["status"] == "delivered", newest
    return str(newest["id"])


def age_runs(root: Path, days: int, *run_ids: str) -> None:
    """Move runs' times ``days`` back, as if they had run then."""
    with sqlite3.connect(root / ".herald" / "state.db") as con:
        for run_id in run_ids:
            for column in ("started_at", "finished_at", "as_of"):
                con.execute(
                    f"UPDATE runs SET {column} = datetime({column}, ?) WHERE id = ?",
                    (f"-{days} days", run_id),
                )


def files_of(root: Path, run_id: str) -> dict[str, int]:
    folder = root / ".herald" / "runs" / run_id
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def columns(path: Path) -> set[str]:
    with duckdb.connect() as con:
        return {
            r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
        }


def pii_files(root: Path, run_id: str) -> list[str]:
    """Files of a run with an email or phone column."""
    folder = root / ".herald" / "runs" / run_id
    return [
        str(p.relative_to(folder))
        for p in folder.rglob("*.parquet")
        if columns(p) & {"email", "phone", "phone_number"}
    ]


def test_prune_removes_pii_files_of_old_finished_runs_and_keeps_the_rest(ws: Path) -> None:
    old, recent = campaign_run(), campaign_run()
    before_old, before_recent = files_of(ws, old), files_of(ws, recent)
    assert pii_files(ws, old)  # the snapshot and the diff files hold emails
    ledgers = sorted((ws / ".herald" / "lists").rglob("*.parquet"))
    assert ledgers
    age_runs(ws, 40, old)

    out = ok("runs", "prune")

    due = {name: size for name, size in before_old.items() if Path(name).name not in KEPT_FILES}
    assert f"Removed {len(due)} files" in out
    assert old in out
    assert recent not in out
    assert pii_files(ws, old) == []
    assert set(files_of(ws, old)) == set(before_old) - set(due)
    assert "recipients_log.parquet" in files_of(ws, old)
    assert files_of(ws, recent) == before_recent  # inside the retention: untouched
    assert sorted((ws / ".herald" / "lists").rglob("*.parquet")) == ledgers

    # What results and history need still works on the pruned run.
    recipients = json.loads(ok("campaign", "recipients", CAMPAIGN, "--run", old, "--json"))
    assert recipients
    assert json.loads(ok("runs", "outcomes", old, "--json"))
    # Pruning again finds nothing; the next run still syncs from the ledgers.
    assert "Nothing to prune" in ok("runs", "prune")
    campaign_run()


def test_json_report_counts_files_and_bytes(ws: Path) -> None:
    old = campaign_run()
    due = {n: s for n, s in files_of(ws, old).items() if Path(n).name not in KEPT_FILES}
    age_runs(ws, 31, old)

    report = json.loads(run("runs", "prune", "--json").stdout)

    assert report["files"] == len(due)
    assert report["bytes"] == sum(due.values())
    assert [r["run_id"] for r in report["runs"]] == [old]


def test_dry_run_removes_nothing(ws: Path) -> None:
    old = campaign_run()
    before = files_of(ws, old)
    age_runs(ws, 40, old)

    out = ok("runs", "prune", "--dry-run")

    assert "Would remove" in out
    assert old in out
    assert files_of(ws, old) == before


def test_older_than_overrides_the_retention(ws: Path) -> None:
    old = campaign_run()
    age_runs(ws, 3, old)
    assert "Nothing to prune" in ok("runs", "prune")
    assert old in ok("runs", "prune", "--older-than", "2d")
    assert pii_files(ws, old) == []


def test_retention_days_comes_from_herald_toml(ws: Path) -> None:
    old = campaign_run()
    age_runs(ws, 8, old)
    config = ws / "herald.toml"
    config.write_text(config.read_text().replace("retention_days = 30", "retention_days = 7"))
    assert old in ok("runs", "prune")


def test_an_interrupted_run_and_a_newest_error_run_keep_their_files(ws: Path) -> None:
    delivered = campaign_run()
    with Workspace.open(ws) as opened:
        store = opened.store
        as_of = store.get_run(delivered).as_of
        interrupted = store.create_run(CAMPAIGN, 1, as_of=as_of, pins={}).id
        failed = store.create_run(CAMPAIGN, 1, as_of=as_of, pins={}).id
        store.finish_run(failed, "error", error="Klaviyo answered 500")
    for run_id in (interrupted, failed):
        folder = ws / ".herald" / "runs" / run_id
        folder.mkdir(parents=True)
        (folder / "recipients.parquet").write_bytes(b"PAR1 snapshot")
    age_runs(ws, 41, delivered, interrupted)
    age_runs(ws, 40, failed)

    out = ok("runs", "prune")

    assert f"Kept {interrupted}: interrupted" in out
    assert f"Kept {failed}: the newest run of '{CAMPAIGN}' ended in error" in out
    assert (ws / ".herald" / "runs" / interrupted / "recipients.parquet").exists()
    assert (ws / ".herald" / "runs" / failed / "recipients.parquet").exists()
    assert pii_files(ws, delivered) == []


def test_a_run_another_process_holds_is_kept(ws: Path) -> None:
    old = campaign_run()
    age_runs(ws, 40, old)
    with Workspace.open(ws) as opened, run_lock(opened, old):
        # The lock is per open file description: a second open in this process conflicts too.
        report = prune_runs(opened)
    assert report.runs == []
    assert (old, "another process is working on it") in report.kept
    assert pii_files(ws, old)


def test_campaign_run_prunes_past_retention_first_and_says_so(ws: Path) -> None:
    old = campaign_run()
    age_runs(ws, 45, old)

    result = CliRunner().invoke(main, ["campaign", "run", CAMPAIGN, "--yes"])

    assert result.exit_code == 0, result.output
    assert "of 1 run older than 30 days ([runs] retention_days)" in result.output
    assert pii_files(ws, old) == []


def test_bad_ages_and_retentions_are_one_line(ws: Path) -> None:
    result = run("runs", "prune", "--older-than", "a month")
    assert result.exit_code == 2
    assert "'a month' is not an age" in result.output
    config = ws / "herald.toml"
    config.write_text(config.read_text().replace("retention_days = 30", "retention_days = 0"))
    result = run("runs", "prune")
    assert result.exit_code == 1
    assert "[runs.retention_days]" in result.output
    assert result.output.count("\n") == 1


def test_old_test_samples_and_leftover_previews_go_by_age(ws: Path) -> None:
    herald = ws / ".herald"
    old_sample = herald / "tests" / "Spring_Reactivation" / "klaviyo__list.jsonl"
    new_sample = herald / "tests" / "Spring_Reactivation" / "files__list.csv"
    leftover = herald / "runs" / "_preview" / "20261001T000000000000.parquet"
    for path in (old_sample, new_sample, leftover):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("email\nada@example.com\n")
    forty_days_ago = time.time() - 40 * 86_400
    for path in (old_sample, leftover):
        os.utime(path, (forty_days_ago, forty_days_ago))

    out = ok("runs", "prune")

    assert "and 2 old preview and test files" in out
    assert not old_sample.exists()
    assert not leftover.exists()
    assert new_sample.exists()
