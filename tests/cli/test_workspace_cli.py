"""The workspace as the CLI sees it: the state URL, --workspace anywhere, --as-of."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from cli_helpers import ok, run

from herald.demo.examples import examples_dir

EXAMPLES = examples_dir() / "segments"


@pytest.fixture
def ws(tmp_path: Path, demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "ws"
    result = run("init", str(root), "--database", str(demo_db))
    assert result.exit_code == 0, result.output
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HERALD_WORKSPACE", raising=False)
    return root


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _set_state_url(root: Path, url: str) -> None:
    config = root / "herald.toml"
    text = config.read_text()
    config.write_text(text.replace('url = "sqlite:///.herald/state.db"', f'url = "{url}"'))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite://", "[state] url 'sqlite://' is an in-memory database"),
        ("sqlite:///.herald/stat.db", "stat.db does not exist: create it with `herald init`"),
        ("sqlite:////nonexistent/dir/state.db", "/nonexistent/dir/state.db does not exist"),
        ("postgresql://u:s3cret@localhost:port/db", "[state] url: state store URL is not valid"),
    ],
)
def test_a_bad_state_url_is_one_line_and_changes_nothing(ws: Path, url: str, expected: str) -> None:
    ok("--workspace", str(ws), "apply", "-f", str(EXAMPLES / "02-high-value.yaml"))
    state = ws / ".herald" / "state.db"
    before = _digest(state)
    _set_state_url(ws, url)

    for command in (["segment", "list"], ["apply", "-f", str(EXAMPLES)], ["runs", "list"]):
        result = run(*command, "--workspace", str(ws))
        assert result.exit_code == 1, result.output
        assert expected in result.output
        assert result.output.count("\n") == 1, result.output
        assert "Traceback" not in result.output
        assert "s3cret" not in result.output

    assert _digest(state) == before
    assert sorted(p.name for p in (ws / ".herald").iterdir()) == ["state.db"]
    assert not Path("/nonexistent").exists()


RECENT = """\
name: Recent Buyers
where:
  all:
    - attribute: Transaction_Attributes_Extended.latest_order_datetime
      op: on or after
      value: 30 days ago
"""


def test_segment_commands_take_as_of(ws: Path, demo_db: Path) -> None:
    import duckdb

    (ws / "recent.yaml").write_text(RECENT)
    ok("apply", "-f", str(ws / "recent.yaml"), "-w", str(ws))
    with duckdb.connect(str(demo_db), read_only=True) as con:
        expected = con.execute(
            "SELECT count(*) FROM Transaction_Attributes_Extended "
            "WHERE CAST(latest_order_datetime AS DATE) >= DATE '2026-05-31'"
        ).fetchone()[0]
    assert expected > 0

    def insights(*extra: str) -> dict:
        return json.loads(
            ok("segment", "insights", "Recent Buyers", "--json", "-w", str(ws), *extra)
        )

    assert insights("--as-of", "2026-06-30")["unique_customers"] == expected
    assert insights("--as-of", "2036-06-30")["unique_customers"] == 0
    history = json.loads(
        ok("segment", "insights", "Recent Buyers", "--history", "--json", "-w", str(ws))
    )
    assert [h["as_of"][:10] for h in history] == ["2026-06-30", "2036-06-30"]

    sql = ok("segment", "sql", "Recent Buyers", "--as-of", "2026-06-30", "-w", str(ws))
    assert "2026-05-31" in sql
    preview = ["segment", "preview", "Recent Buyers", "-n", "5", "--json", "-w", str(ws)]
    assert len(json.loads(ok(*preview, "--as-of", "2026-06-30"))) == 5
    assert json.loads(ok(*preview, "--as-of", "2036-06-30")) == []

    refused = run("segment", "sql", "Recent Buyers", "--as-of", "30/06/2026", "-w", str(ws))
    assert refused.exit_code == 2
    assert "--as-of" in refused.output


def test_workspace_is_accepted_before_the_subcommand(ws: Path) -> None:
    ok("--workspace", str(ws), "apply", "-f", str(EXAMPLES / "02-high-value.yaml"))
    before = json.loads(ok("--workspace", str(ws), "segment", "list", "--json"))
    after = json.loads(ok("segment", "list", "--json", "--workspace", str(ws)))
    short = json.loads(ok("-w", str(ws), "segment", "list", "--json"))
    assert [s["name"] for s in before] == ["High Value"]
    assert before == after == short


def test_the_subcommands_workspace_wins_over_the_groups(ws: Path, tmp_path: Path) -> None:
    ok("init", str(tmp_path / "other"))
    ok("apply", "-f", str(EXAMPLES / "02-high-value.yaml"), "-w", str(ws))
    listed = json.loads(
        ok("-w", str(tmp_path / "other"), "segment", "list", "--json", "-w", str(ws))
    )
    assert [s["name"] for s in listed] == ["High Value"]
    assert json.loads(ok("-w", str(tmp_path / "other"), "segment", "list", "--json")) == []


def test_init_takes_the_workspace_given_before_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    ok("--workspace", str(tmp_path / "made"), "init")
    assert (tmp_path / "made" / "herald.toml").is_file()
    assert (tmp_path / "made" / ".herald" / "state.db").is_file()
    assert not (tmp_path / "herald.toml").exists()
