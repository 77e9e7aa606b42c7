"""`herald campaign estimate` on a workspace whose Klaviyo destination is never contacted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from herald.cli.main import main
from herald.workspace import Workspace

CAMPAIGN = """
kind: campaign
name: Estimate Me
include: [Everyone]
remaining:
  groups:
    - {name: All, percent: 90, destinations: [klaviyo]}
    - {name: Held, percent: 10, control: true}
"""
SEGMENT = (
    "name: Everyone\nstatus: active\nwhere:\n  attribute: Customer_360.email\n  op: is not empty\n"
)


@pytest.fixture
def ws(tmp_path: Path, demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    Workspace.init(tmp_path, database=str(demo_db)).close()
    with (tmp_path / "herald.toml").open("a") as config:
        config.write(
            '\n[destinations.klaviyo]\ntype = "klaviyo_api"\napi_key_env = "NO_SUCH_KEY"\n'
        )
    (tmp_path / "defs").mkdir()
    (tmp_path / "defs" / "segment.yaml").write_text(SEGMENT)
    (tmp_path / "defs" / "campaign.yaml").write_text(CAMPAIGN)
    monkeypatch.setenv("HERALD_WORKSPACE", str(tmp_path))
    result = CliRunner().invoke(main, ["apply", "-f", str(tmp_path / "defs")])
    assert result.exit_code == 0, result.output
    return tmp_path


def test_a_first_sync_needs_a_list_and_imports(ws: Path) -> None:
    result = CliRunner().invoke(main, ["campaign", "estimate", "Estimate Me", "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    [only] = found["lists"]
    assert only["list_name"] == "Estimate_Me_All"
    assert only["adds"] > 2000
    assert only["removes"] == 0
    assert found["calls"]["create_list"] == 1
    assert found["calls"]["bulk_import_profiles"] == 1
    assert found["seconds"] == pytest.approx(found["local_seconds"] + found["klaviyo_seconds"])
    assert found["local_seconds"] > 0
    assert found["sftp_seconds"] > 0


def test_a_long_delivery_is_not_sent_without_yes(ws: Path) -> None:
    # stdin is not a terminal here: the run refuses instead of asking, and sends nothing.
    result = CliRunner().invoke(main, ["campaign", "run", "Estimate Me", "--confirm-over", "0"])
    assert result.exit_code != 0
    assert "--yes" in result.output
    assert json.loads(CliRunner().invoke(main, ["runs", "list", "--json"]).output) == []
