from __future__ import annotations

import os
from pathlib import Path

import pytest

from herald.config import load_settings, read_secret
from herald.exceptions import ConfigError, StateError, WorkspaceNotFoundError
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


def test_init_creates_the_state_database(tmp_path: Path) -> None:
    Workspace.init(tmp_path).close()
    assert (tmp_path / ".herald" / "state.db").is_file()


def _set_state_url(root: Path, url: str) -> None:
    config = root / "herald.toml"
    text = config.read_text()
    config.write_text(text.replace('url = "sqlite:///.herald/state.db"', f'url = "{url}"'))


@pytest.mark.parametrize(
    "url",
    ["sqlite:///.herald/stat.db", "sqlite:///{root}/nonexistent/dir/state.db"],
)
def test_a_state_url_to_a_missing_file_is_an_error_not_an_empty_store(
    tmp_path: Path, url: str
) -> None:
    Workspace.init(tmp_path).close()
    with Workspace.open(tmp_path) as ws:
        ws.store.save_draft("segment", "vip", {})
    _set_state_url(tmp_path, url.format(root=tmp_path))
    with Workspace.open(tmp_path) as ws, pytest.raises(StateError, match="herald init") as raised:
        ws.store  # noqa: B018 - opening the store is what is tested
    assert "does not exist" in str(raised.value)
    assert "[state] url" in str(raised.value)
    assert not (tmp_path / ".herald" / "stat.db").exists()
    assert not (tmp_path / "nonexistent").exists()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_state_url_is_refused_naming_the_setting(tmp_path: Path, url: str) -> None:
    Workspace.init(tmp_path).close()
    _set_state_url(tmp_path, url)
    with Workspace.open(tmp_path) as ws, pytest.raises(ConfigError, match=r"\[state\] url") as e:
        ws.store  # noqa: B018
    assert "in-memory" in str(e.value)
    assert "\n" not in str(e.value)
