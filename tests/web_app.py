"""Helpers for the web app's tests: a workspace over a small database, the app over it, and a
test client signed in with the token or as a named user."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from segments.conftest import build_standard_database
from starlette.applications import Starlette
from starlette.testclient import TestClient

from herald.web import create_app
from herald.web._auth import TOKEN_ENV, hash_password
from herald.workspace import Workspace

TOKEN = "the-web-token-of-these-tests"
PASSWORD = "correct horse battery"


def make_workspace(folder: Path) -> Path:
    """A workspace over a fresh small customer database, with a viewer and an editor."""
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "customers.duckdb"
    build_standard_database(database)
    with Workspace.init(folder / "ws", database=str(database)) as ws:
        ws.store.save_web_user("vera", hash_password(PASSWORD), "viewer")
        ws.store.save_web_user("ed", hash_password(PASSWORD), "editor")
        return ws.root


def make_app(root: Path) -> Starlette:
    ws = Workspace.open(root)
    return create_app(root, settings=ws.settings)


def csrf_in(html: str) -> str:
    """The CSRF token of a page: its hidden form field."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(client: TestClient, name: str = "", password: str = TOKEN) -> str:
    """Sign in through the login form; the session's CSRF token."""
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"name": name, "password": password, "csrf_token": csrf_in(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_in(client.get("/segments").text)


@pytest.fixture(scope="module")
def web_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("web"))


@pytest.fixture
def app(web_root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Starlette]:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    web = make_app(web_root)
    yield web
    web.state.workspace.close()  # a test that did not start the app's lifespan


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client
