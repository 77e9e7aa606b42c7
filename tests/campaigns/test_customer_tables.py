"""A table listed in ``[database] customer_tables`` holds at most one row per customer: the
audience reads such a table's row through a join, so a second row for a customer would put
the customer in two groups. A snapshot that would do so is refused, naming the table."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from cli_helpers import as_json, one_error_line, run

from herald.exceptions import EngineError
from herald.runs.snapshots import write_snapshot
from herald.workspace import Workspace
from tests.campaigns.conftest import TODAY, make_workspace

CAMPAIGN = {
    "name": "Opted In",
    "include": ["Email Opted In"],
    # Customer_Attributes is read twice (the include and the exclude): joined once, shared.
    "exclude": ["Do Not Contact"],
    "remaining": {
        "groups": [
            {"name": "Half A", "percent": 50, "destinations": ["files"]},
            {"name": "Half B", "percent": 50, "destinations": ["files"]},
        ]
    },
}


def _workspace(tmp_path: Path, demo_db: Path, *, repeat_a_row: bool) -> Path:
    database = tmp_path / "customers.duckdb"
    shutil.copy(demo_db, database)
    if repeat_a_row:
        with duckdb.connect(str(database)) as con:
            con.execute(
                "INSERT INTO Customer_Attributes SELECT * FROM Customer_Attributes "
                "WHERE is_opted_into_email AND NOT is_employee AND NOT is_test_account LIMIT 1"
            )
    return make_workspace(tmp_path / "ws", database)


def test_a_second_row_for_a_customer_is_refused_naming_the_table(
    tmp_path: Path, demo_db: Path
) -> None:
    with Workspace.open(_workspace(tmp_path, demo_db, repeat_a_row=True)) as ws:
        ws.campaigns.apply(CAMPAIGN)
        build = ws.campaigns.build("Opted In", today=TODAY)
        snapshot = tmp_path / "recipients.parquet"
        with pytest.raises(EngineError) as raised:
            write_snapshot(ws, build, snapshot)
    message = str(raised.value)
    assert "'Customer_Attributes'" in message, message
    assert "customer_tables" in message, message
    assert "twice" in message, message
    assert "\n" not in message
    assert not snapshot.exists(), "no snapshot that splits a customer in two is left behind"


def test_one_row_per_customer_gives_each_recipient_once(tmp_path: Path, demo_db: Path) -> None:
    with Workspace.open(_workspace(tmp_path, demo_db, repeat_a_row=False)) as ws:
        ws.campaigns.apply(CAMPAIGN)
        build = ws.campaigns.build("Opted In", today=TODAY)
        snapshot = tmp_path / "recipients.parquet"
        written = write_snapshot(ws, build, snapshot)
        keys = duckdb.sql(f"SELECT amperity_id FROM read_parquet('{snapshot}')").fetchall()
    assert written == len(keys) == len(set(keys)) > 0


def test_a_run_over_such_a_table_ends_in_error(
    tmp_path: Path, demo_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _workspace(tmp_path, demo_db, repeat_a_row=True)
    monkeypatch.setenv("HERALD_WORKSPACE", str(root))
    with Workspace.open(root) as ws:
        ws.campaigns.apply(CAMPAIGN)
    line = one_error_line(run("campaign", "run", "Opted In"))
    assert "'Customer_Attributes'" in line, line
    runs = as_json("runs", "list", "--json")
    assert [r["status"] for r in runs] == ["error"], runs
    assert not list((root / ".herald").rglob("recipients.parquet"))
