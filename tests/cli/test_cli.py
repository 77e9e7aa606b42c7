"""The CLI end to end on a real workspace, DuckDB database and state store."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from cli_helpers import ok, run
from click.testing import CliRunner

from herald.cli.main import main
from herald.demo.examples import examples_dir

EXAMPLES = examples_dir() / "segments"


@pytest.fixture
def ws(tmp_path: Path, demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    runner = CliRunner()
    result = runner.invoke(main, ["init", str(tmp_path), "--database", str(demo_db)])
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("HERALD_WORKSPACE", str(tmp_path))
    return tmp_path


def test_apply_is_idempotent(ws: Path) -> None:
    first = json.loads(ok("apply", "-f", str(EXAMPLES), "--json"))
    assert {r["action"] for r in first} == {"created"}
    assert len(first) == len(list(EXAMPLES.glob("*.yaml")))
    listed = ok("segment", "list", "--json")
    second = json.loads(ok("apply", "-f", str(EXAMPLES), "--json"))
    assert {r["action"] for r in second} == {"unchanged"}
    assert ok("segment", "list", "--json") == listed


def test_dependencies_are_applied_first(ws: Path) -> None:
    names = [r["name"] for r in json.loads(ok("apply", "-f", str(EXAMPLES), "--json"))]
    assert names.index("High Value") < names.index("Lapsed VIPs")


def test_lifecycle_through_the_cli(ws: Path) -> None:
    sql = "SELECT amperity_id FROM Customer_360 WHERE state = 'CA'"
    assert "draft version 1" in ok("segment", "create", "--name", "CA", "--sql", sql)
    assert "version 1 is active" in ok("segment", "activate", "CA")
    edited = ws / "ca.yaml"
    edited.write_text("name: CA\nsql: SELECT amperity_id FROM Customer_360 WHERE state = 'OR'\n")
    assert "draft version 2 (changed)" in ok("segment", "edit", "CA", "-f", str(edited))
    shown = json.loads(ok("segment", "show", "CA", "--json"))
    assert shown["versions"] == [[1, "active"], [2, "draft"]]
    assert "'CA'" in ok("segment", "sql", "CA", "--active")
    assert "'OR'" in ok("segment", "sql", "CA", "--draft")
    assert "version 2 is active" in ok("segment", "activate", "CA")
    assert json.loads(ok("segment", "show", "CA", "--json"))["versions"] == [
        [1, "retired"],
        [2, "active"],
    ]


def test_create_refuses_an_existing_name(ws: Path) -> None:
    ok("segment", "create", "--name", "X", "--sql", "SELECT amperity_id FROM Customer_360")
    result = run(
        "segment", "create", "--name", "X", "--sql", "SELECT amperity_id FROM Customer_360"
    )
    assert result.exit_code == 1
    assert "already exists" in result.output


def test_insights_match_an_independent_query(ws: Path, demo_db: Path) -> None:
    ok("apply", "-f", str(EXAMPLES / "02-high-value.yaml"))
    got = json.loads(ok("segment", "insights", "High Value", "--json"))
    with duckdb.connect(str(demo_db), read_only=True) as con:
        row = con.execute(
            """SELECT count(*), count(*) FILTER (t.l12m_order_frequency > 0),
                      coalesce(sum(t.l12m_order_revenue), 0),
                      count(*) FILTER (
                          a.contactable_email OR a.contactable_phone OR a.contactable_address
                      ),
                      count(*) FILTER (a.contactable_email), count(*) FILTER (a.contactable_phone)
               FROM Transaction_Attributes_Extended t JOIN Customer_Attributes a USING (amperity_id)
               WHERE t.lifetime_order_revenue >= 1000"""
        ).fetchone()
    assert got["unique_customers"] == row[0] > 0
    assert got["active_customers_1y"] == row[1]
    assert got["revenue_1y"] == pytest.approx(float(row[2]))
    assert (got["reachable_customers"], got["reachable_email"], got["reachable_phone"]) == row[3:]
    assert got["share_reachable_email"] == pytest.approx(row[4] / row[0])


def test_insights_history_keeps_every_refresh(ws: Path) -> None:
    ok("apply", "-f", str(EXAMPLES / "01-email-opted-in.yaml"))
    ok("segment", "insights", "Email Opted In")
    ok("segment", "insights", "Email Opted In")
    history = json.loads(ok("segment", "insights", "Email Opted In", "--history", "--json"))
    assert len(history) == 2
    assert history[0]["computed_at"] <= history[1]["computed_at"]
    assert "Insights of 'Email Opted In'" in ok(
        "segment", "insights", "Email Opted In", "--history"
    )


def test_preview_is_a_stable_sample(ws: Path) -> None:
    ok("apply", "-f", str(EXAMPLES / "02-high-value.yaml"))
    first = json.loads(
        ok(
            "segment",
            "preview",
            "High Value",
            "-n",
            "4",
            "--columns",
            "amperity_id,state",
            "--json",
        )
    )
    again = json.loads(
        ok(
            "segment",
            "preview",
            "High Value",
            "-n",
            "4",
            "--columns",
            "amperity_id,state",
            "--json",
        )
    )
    assert len(first) == 4
    assert first == again
    assert set(first[0]) == {"amperity_id", "state"}


def test_errors_are_one_line_without_traceback(ws: Path) -> None:
    ok("apply", "-f", str(EXAMPLES / "02-high-value.yaml"))
    result = run("segment", "insights", "High Valeu")
    assert result.exit_code == 1
    assert "did you mean 'High Value'?" in result.output
    assert "Traceback" not in result.output


def test_missing_workspace_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HERALD_WORKSPACE", raising=False)
    result = run("segment", "list")
    assert result.exit_code == 1
    assert "herald init" in result.output


def test_demo_runs_and_repeats(tmp_path: Path) -> None:
    out = ok("demo", "--dir", str(tmp_path / "d"), "--customers", "1500")
    assert "Lapsed VIPs" in out
    assert "Segment insights" in out
    assert "Lists in the Klaviyo sandbox" in out
    assert out.count("synced") >= 6  # three lists, synced twice (first and incremental)
    assert "failed" not in out
    again = ok("demo", "--dir", str(tmp_path / "d"), "--customers", "1500")
    assert "exists" in again
    assert "unchanged" in again
    assert "created" not in again


def test_demo_generate_writes_a_database(tmp_path: Path) -> None:
    target = tmp_path / "x.duckdb"
    out = ok(
        "demo",
        "generate",
        "--customers",
        "500",
        "--seed",
        "3",
        "-o",
        str(target),
        "--as-of",
        "2025-01-01",
    )
    assert target.exists()
    assert "Customer_360" in out
    refused = run("demo", "generate", "--customers", "500", "-o", str(target))
    assert refused.exit_code == 1
    assert "--force" in refused.output or "exists" in refused.output
