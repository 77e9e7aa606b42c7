"""``herald destination check`` and ``list`` against a sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import one_error_line
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
    # Every destination type checks its own way: a folder, that it may be written.
    assert "the folder can be made" in run("destination", "check", "files").output


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


# --- issue 8: typos, key files and keys that must never show ------------------------------------


def rewrite(workspace: Path, old: str, new: str) -> None:
    toml = workspace / "herald.toml"
    toml.write_text(toml.read_text().replace(old, new))


@pytest.mark.parametrize(
    ("old", "new", "hint"),
    [
        ("base_url =", "baseurl =", "unknown key 'baseurl'. Did you mean base_url?"),
        ('folder = "exports"', 'foldr = "out"', "unknown key 'foldr'. Did you mean folder?"),
    ],
)
def test_a_typo_in_a_destination_is_one_line_not_a_default(
    workspace: Path, old: str, new: str, hint: str
) -> None:
    rewrite(workspace, old, new)
    line = one_error_line(run("destination", "list"))
    assert str(workspace / "herald.toml") in line
    assert hint in line


def test_a_key_file_with_two_lines_checks_with_its_first_line(
    workspace: Path, tmp_path: Path
) -> None:
    key_file = tmp_path / "klaviyo.key"
    key_file.write_text(f"{DEFAULT_API_KEY}\npk_second_line_secret_0123456789\n")
    rewrite(workspace, 'api_key_env = "HERALD_TEST_KLAVIYO_KEY"', f'api_key_file = "{key_file}"')
    result = run("destination", "check", "klaviyo")
    assert result.exit_code == 0, result.output
    assert "has every needed scope" in result.output
    assert DEFAULT_API_KEY not in result.output
    assert "pk_second_line_secret" not in result.output


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        (DEFAULT_API_KEY[:12] + "\u200b" + DEFAULT_API_KEY[12:], "has an invisible character"),
        (DEFAULT_API_KEY[:12] + " " + DEFAULT_API_KEY[12:], "has a space"),
    ],
)
def test_a_key_with_an_invisible_character_is_refused_by_name(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, key: str, problem: str
) -> None:
    monkeypatch.setenv("HERALD_TEST_KLAVIYO_KEY", key)
    line = one_error_line(run("destination", "check", "klaviyo"))
    assert f"the api_key in the environment variable HERALD_TEST_KLAVIYO_KEY {problem}" in line
    assert DEFAULT_API_KEY[:12] not in line
    assert DEFAULT_API_KEY[13:] not in line


def test_api_key_env_set_to_the_key_itself_is_not_echoed(workspace: Path) -> None:
    rewrite(workspace, '"HERALD_TEST_KLAVIYO_KEY"', f'"{DEFAULT_API_KEY}"')
    for command in (("destination", "list"), ("destination", "check", "klaviyo")):
        line = one_error_line(run(*command))
        assert DEFAULT_API_KEY not in line
        assert "api_key_env must name an environment variable such as KLAVIYO_API_KEY" in line


def test_a_non_utf8_herald_toml_is_one_line(workspace: Path) -> None:
    toml = workspace / "herald.toml"
    toml.write_bytes(toml.read_bytes() + "# caf\xe9\n".encode("latin-1"))
    line = one_error_line(run("destination", "list"))
    assert line == f"Error: {toml} is not UTF-8 text: save it as UTF-8"
