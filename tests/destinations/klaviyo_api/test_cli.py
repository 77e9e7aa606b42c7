"""``herald destination check`` and ``list`` against a sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from herald.cli.main import main
from herald.sandbox import DEFAULT_API_KEY, ApiKey, SandboxConfig, SandboxServer

PARTIAL_KEY = "pk_partial_scopes_00000000000"


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    keys = [ApiKey(DEFAULT_API_KEY), ApiKey(PARTIAL_KEY, scopes=frozenset({"lists:write"}))]
    with SandboxServer(SandboxConfig(api_keys=keys, limits="off", job_tick=None)) as running:
        yield running


@pytest.fixture
def workspace(tmp_path: Path, server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "herald.toml").write_text(
        f"""
[destinations.files]
type = "csv_file"
folder = "exports"

[destinations.klaviyo]
type = "klaviyo_api"
api_key_env = "HERALD_TEST_KLAVIYO_KEY"
base_url = "{server.url}"
"""
    )
    monkeypatch.setenv("HERALD_WORKSPACE", str(tmp_path))
    return tmp_path


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_check_passes_with_a_full_key(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERALD_TEST_KLAVIYO_KEY", DEFAULT_API_KEY)
    result = run("destination", "check", "klaviyo")
    assert result.exit_code == 0, result.output
    assert "has every needed scope" in result.output
    assert DEFAULT_API_KEY not in result.output


def test_check_names_the_missing_scope_and_the_fix(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HERALD_TEST_KLAVIYO_KEY", PARTIAL_KEY)
    result = run("destination", "check", "klaviyo")
    assert result.exit_code == 1
    # lists:write implies lists:read; a sync also reads profiles (look-ups, import jobs).
    assert "lacks profiles:read, profiles:write" in result.output
    assert "create a private key with lists:write and profiles:write" in result.output
    as_json = json.loads(run("destination", "check", "klaviyo", "--json").output)
    assert as_json["ok"] is False
    assert as_json["missing"] == ["profiles:read", "profiles:write"]
    assert PARTIAL_KEY not in result.output


def test_check_with_an_invalid_key(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERALD_TEST_KLAVIYO_KEY", "pk_not_a_real_key_12345678")
    result = run("destination", "check", "klaviyo")
    assert result.exit_code == 1
    assert "rejected the API key" in result.output
    assert "pk_not_a_real_key_12345678" not in result.output


def test_check_errors(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HERALD_TEST_KLAVIYO_KEY", raising=False)
    assert "HERALD_TEST_KLAVIYO_KEY" in run("destination", "check", "klaviyo").output
    assert "Did you mean klaviyo?" in run("destination", "check", "klavyio").output
    assert "type 'csv_file'" in run("destination", "check", "files").output


def test_list_shows_targets_and_key_sources_never_keys(
    workspace: Path, server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HERALD_TEST_KLAVIYO_KEY", DEFAULT_API_KEY)
    rows = json.loads(run("destination", "list", "--json").output)
    assert rows == [
        {"name": "files", "type": "csv_file", "target": "exports", "key_from": None},
        {
            "name": "klaviyo",
            "type": "klaviyo_api",
            "target": server.url,
            "key_from": "env HERALD_TEST_KLAVIYO_KEY",
        },
    ]
    table = run("destination", "list")
    assert table.exit_code == 0
    assert "klaviyo_api" in table.output
    assert DEFAULT_API_KEY not in table.output
