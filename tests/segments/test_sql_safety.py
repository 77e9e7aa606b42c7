"""SQL segments stay inside the customer database, and are checked against it before storing.

The exploit this guards against: a CTE named like a path in one scope made the allow-list accept
the same name in another scope, where DuckDB read it as a file and showed its content in an error.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot
from click.testing import CliRunner

from herald.apply import apply_path
from herald.cli.main import main
from herald.core.segments import parse_segment
from herald.exceptions import DefinitionError, EngineError, SqlSegmentError
from herald.workspace import Workspace

SECRET = "TOP-SECRET-LINE-7f3a"


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.csv"
    path.write_text(f"header\n{SECRET}\n", encoding="utf-8")
    return path


def exploit_sql(path: Path) -> str:
    """The CTE is visible only in the first subquery; the second reads the file."""
    return (
        "SELECT amperity_id FROM Customer_360\n"
        f'WHERE amperity_id IN (WITH "{path}" AS (SELECT 1 AS header) '
        "SELECT amperity_id FROM Customer_360)\n"
        f'   OR amperity_id = (SELECT CAST(header AS INTEGER)::VARCHAR FROM "{path}")\n'
    )


def stored(ws: Workspace) -> list[str]:
    return [repr(v) for s in ws.store.list("segment") for v in ws.store.versions("segment", s.name)]


def write_yaml(folder: Path, name: str, sql: str) -> Path:
    path = folder / f"{name.lower().replace(' ', '-')}.yaml"
    body = "\n".join(f"  {line}" for line in sql.splitlines())
    path.write_text(f"name: {name}\nstatus: active\nsql: |\n{body}\n", encoding="utf-8")
    return path


def test_the_cte_scope_exploit_is_refused_at_apply(
    workspace: Workspace, secret_file: Path, tmp_path: Path
) -> None:
    definition = write_yaml(tmp_path, "Leak", exploit_sql(secret_file))
    with pytest.raises(SqlSegmentError) as caught:
        apply_path(workspace, definition)
    assert SECRET not in str(caught.value)
    assert stored(workspace) == []


def test_the_cte_scope_exploit_gives_one_line_on_the_command_line(
    workspace: Workspace, secret_file: Path, tmp_path: Path
) -> None:
    definition = write_yaml(tmp_path, "Leak", exploit_sql(secret_file))
    result = CliRunner().invoke(
        main, ["apply", "-f", str(definition)], env={"HERALD_WORKSPACE": str(workspace.root)}
    )
    assert result.exit_code == 1, result.output
    assert SECRET not in result.output
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert stored(workspace) == []


def test_a_file_is_not_read_even_when_the_allow_list_is_bypassed(
    workspace: Workspace, secret_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stand-in for a parser gap: the SQL check lets everything through, and the definition is
    # stored without the apply checks. The engine's connection must still refuse the file.
    monkeypatch.setattr(
        "herald.core.segments.rows.validate_sql_segment",
        lambda sql, catalog, *, dialect: sqlglot.parse_one(sql, read=dialect),
    )
    sql = (
        "SELECT amperity_id FROM Customer_360 WHERE amperity_id = "
        f"(SELECT CAST(column0 AS INTEGER)::VARCHAR FROM read_csv('{secret_file}', header = false))"
    )
    segment = parse_segment({"name": "Leak", "status": "active", "sql": sql})
    workspace.store.apply("segment", "Leak", {"name": "Leak", "sql": sql}, status="active")

    for attempt in (
        lambda: workspace.segments.count(segment),
        lambda: workspace.segments.preview("Leak"),
        lambda: workspace.segments.insights("Leak", record=False),
    ):
        with pytest.raises(EngineError) as caught:
            attempt()
        message = str(caught.value)
        assert SECRET not in message
        assert message.startswith("segment 'Leak': ")
        assert "disabled by configuration" in message
        assert "\n" not in message


def test_unknown_column_is_refused_at_apply_naming_the_segment(
    workspace: Workspace, tmp_path: Path
) -> None:
    sql = "SELECT amperity_id FROM Customer_360 WHERE emial LIKE '%@example.com'"
    definition = write_yaml(tmp_path, "Typo Column", sql)
    with pytest.raises(DefinitionError) as caught:
        apply_path(workspace, definition)
    message = str(caught.value)
    assert "segment 'Typo Column'" in message
    assert '"emial" not found' in message
    assert '"email"' in message  # DuckDB's candidate: the column meant
    assert "\n" not in message
    assert stored(workspace) == []


def test_unknown_function_is_refused_when_saving_a_draft(workspace: Workspace) -> None:
    sql = "SELECT amperity_id FROM Customer_360 WHERE no_such_function(email)"
    with pytest.raises(SqlSegmentError, match=r"segment 'Bad Function'.*no_such_function"):
        workspace.segments.create({"name": "Bad Function", "sql": sql})
    assert stored(workspace) == []


def test_activation_checks_the_draft_against_the_database(workspace: Workspace) -> None:
    # A draft stored before the database lost a column (written here directly, as the old
    # database would have accepted it) cannot be activated.
    sql = "SELECT amperity_id FROM Customer_360 WHERE loyalty_points > 10"
    workspace.store.save_draft("segment", "Stale", {"name": "Stale", "sql": sql})
    with pytest.raises(SqlSegmentError, match=r"segment 'Stale'.*loyalty_points"):
        workspace.segments.activate("Stale")
    assert workspace.store.get("segment", "Stale", "latest").status == "draft"


def test_a_good_sql_segment_still_applies_and_counts(workspace: Workspace, tmp_path: Path) -> None:
    sql = (
        "WITH ca AS (SELECT amperity_id FROM Customer_360 WHERE state = 'CA')\n"
        "SELECT amperity_id FROM ca WHERE amperity_id IN (SELECT amperity_id FROM ca)"
    )
    apply_path(workspace, write_yaml(tmp_path, "In California", sql))
    assert workspace.segments.count(workspace.segments.load("In California")) == 1


RUNTIME_FAILURE = "SELECT amperity_id FROM Customer_360 WHERE CAST(email AS INTEGER) > 0"
CAMPAIGN = """\
kind: campaign
name: Runtime Failure
include: [Casts Emails]
remaining:
  groups:
    - name: Everyone
      percent: 100
      destinations: [files]
delivery:
  schedule: once
  at: asap
"""


def test_a_runtime_engine_error_names_the_segment_without_the_value(
    workspace: Workspace, tmp_path: Path
) -> None:
    # It binds (the column exists), so apply accepts it; it fails on the data.
    apply_path(workspace, write_yaml(tmp_path, "Casts Emails", RUNTIME_FAILURE))
    with pytest.raises(EngineError) as caught:
        workspace.segments.insights("Casts Emails", record=False)
    message = str(caught.value)
    assert message.startswith("segment 'Casts Emails': ")
    assert "Conversion Error" in message
    assert "email" in message  # the column, so the user knows what to fix
    assert "a@example.com" not in message
    assert "\n" not in message


def test_a_campaign_build_error_names_the_campaign_and_the_segment(
    workspace: Workspace, tmp_path: Path
) -> None:
    from herald.runs.preview import preview_campaign

    apply_path(workspace, write_yaml(tmp_path, "Casts Emails", RUNTIME_FAILURE))
    (tmp_path / "campaign.yaml").write_text(CAMPAIGN, encoding="utf-8")
    apply_path(workspace, tmp_path / "campaign.yaml")
    with pytest.raises(EngineError) as caught:
        preview_campaign(workspace, "Runtime Failure")
    message = str(caught.value)
    assert message.startswith("campaign 'Runtime Failure', segment 'Casts Emails': ")
    assert "a@example.com" not in message
    assert "\n" not in message
