from __future__ import annotations

import os
from pathlib import Path

import pytest

from herald.config import load_settings, read_secret
from herald.exceptions import ConfigError, WorkspaceNotFoundError
from herald.workspace import Workspace, find_root


def test_init_writes_config_and_state_dir(tmp_path: Path) -> None:
    with Workspace.init(tmp_path / "ws", database="db.duckdb") as ws:
        assert (ws.root / "herald.toml").is_file()
        assert (ws.root / ".herald").is_dir()
        assert ws.database_path == ws.root / "db.duckdb"
        assert ws.settings.database.customer_key == "amperity_id"


def test_init_keeps_an_existing_config(tmp_path: Path) -> None:
    Workspace.init(tmp_path, database="first.duckdb").close()
    Workspace.init(tmp_path, database="second.duckdb").close()
    assert 'database = "first.duckdb"' in (tmp_path / "herald.toml").read_text()


def test_found_from_a_subfolder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Workspace.init(tmp_path).close()
    (tmp_path / "a" / "b").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a" / "b")
    monkeypatch.delenv("HERALD_WORKSPACE", raising=False)
    assert find_root() == tmp_path.resolve()


def test_found_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Workspace.init(tmp_path / "ws").close()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HERALD_WORKSPACE", str(tmp_path / "ws"))
    assert find_root() == (tmp_path / "ws").resolve()


def test_missing_workspace_says_how_to_make_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HERALD_WORKSPACE", raising=False)
    with pytest.raises(WorkspaceNotFoundError, match="herald init"):
        find_root()
    with pytest.raises(WorkspaceNotFoundError, match="--workspace"):
        find_root(tmp_path / "nowhere")


def test_unknown_setting_is_named(tmp_path: Path) -> None:
    (tmp_path / "herald.toml").write_text('[engine]\nnmae = "duckdb"\n')
    with pytest.raises(ConfigError, match=r"\[engine.nmae\]"):
        load_settings(tmp_path / "herald.toml")


def test_bad_toml_is_named(tmp_path: Path) -> None:
    (tmp_path / "herald.toml").write_text("[engine\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(tmp_path / "herald.toml")


def test_inline_secret_is_refused_without_echoing_it(tmp_path: Path) -> None:
    (tmp_path / "herald.toml").write_text(
        '[destinations.k]\ntype = "klaviyo_api"\napi_key = "pk_live_secret123"\n'
    )
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "herald.toml")
    assert "api_key_env" in str(info.value)
    assert "pk_live_secret123" not in str(info.value)


def test_secret_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "key.txt"
    key_file.write_text("pk_from_file\n")
    (tmp_path / "herald.toml").write_text(
        '[destinations.a]\ntype = "klaviyo_api"\napi_key_env = "HERALD_TEST_KEY"\n'
        f'[destinations.b]\ntype = "klaviyo_api"\napi_key_file = "{key_file}"\n'
    )
    settings = load_settings(tmp_path / "herald.toml")
    monkeypatch.setenv("HERALD_TEST_KEY", "pk_from_env")
    assert read_secret(settings.destinations["a"], "api_key", "a") == "pk_from_env"
    assert read_secret(settings.destinations["b"], "api_key", "b") == "pk_from_file"
    monkeypatch.delenv("HERALD_TEST_KEY")
    with pytest.raises(ConfigError, match="HERALD_TEST_KEY"):
        read_secret(settings.destinations["a"], "api_key", "a")


def test_relative_sqlite_url_is_inside_the_workspace(tmp_path: Path) -> None:
    with Workspace.init(tmp_path) as ws:
        assert ws.state_url == f"sqlite:///{tmp_path.resolve()}/.herald/state.db"
        assert os.path.isdir(tmp_path / ".herald")
