"""``herald web``: the refusal to listen beyond this machine without a sign-in, the token
printed once by a real server, and the named users' commands."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cli_helpers import ok, one_error_line, run
from click.testing import CliRunner
from ports import free_port
from web_app import PASSWORD, make_workspace

from herald.cli.main import main
from herald.web._auth import TOKEN_ENV, verify_password
from herald.workspace import Workspace


@pytest.fixture
def bare_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace with no named user, and no token in the environment."""
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    root = make_workspace(tmp_path)
    with Workspace.open(root) as ws:
        for user in ws.store.web_users():
            ws.store.delete_web_user(user.name)
    return root


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.com"])
def test_listening_beyond_this_machine_needs_a_sign_in(bare_root: Path, host: str) -> None:
    line = one_error_line(run("--workspace", str(bare_root), "web", "--host", host))
    assert f"refusing to listen on {host} without a configured sign-in" in line
    assert TOKEN_ENV in line
    assert "herald web user add" in line
    assert not (bare_root / ".herald" / "web_token").exists()


def test_users_are_added_listed_and_removed(bare_root: Path) -> None:
    w = ("--workspace", str(bare_root))
    result = CliRunner().invoke(
        main, [*w, "web", "user", "add", "ana", "--role", "editor", "--password-stdin"],
        input=PASSWORD + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Web user ana (editor) saved." in result.output
    result = CliRunner().invoke(
        main, [*w, "web", "user", "add", "bo"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    listing = ok(*w, "web", "users")
    assert re.search(r"ana\s+│\s+editor", listing)
    assert re.search(r"bo\s+│\s+viewer", listing)
    assert "argon2" not in listing
    with Workspace.open(bare_root) as ws:
        stored = ws.store.web_user("ana")
    assert stored is not None
    assert verify_password(stored.password_hash, PASSWORD)
    ok(*w, "web", "user", "remove", "bo")
    assert "bo" not in ok(*w, "web", "users")
    line = one_error_line(run(*w, "web", "user", "remove", "bo"))
    assert "there is no web user 'bo'" in line


def test_a_short_password_is_refused(bare_root: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["--workspace", str(bare_root), "web", "user", "add", "ana", "--password-stdin"],
        input="short\n",
    )
    assert result.exit_code == 1
    assert "at least 8 characters" in result.output


@contextlib.contextmanager
def herald_web(root: Path) -> Iterator[tuple[str, str]]:
    """``herald web`` on a free port: its base URL and the first line it printed."""
    port = free_port()
    command = [sys.executable, "-m", "herald", "--workspace", str(root), "web", "--port"]
    with subprocess.Popen([*command, str(port)], stdout=subprocess.PIPE, text=True) as server:
        try:
            assert server.stdout is not None
            yield f"http://127.0.0.1:{port}", server.stdout.readline()
        finally:
            server.terminate()
            server.wait(timeout=10)


def test_herald_web_prints_the_token_once_and_serves(bare_root: Path) -> None:
    with herald_web(bare_root) as (base, first), httpx.Client(base_url=base) as client:
        assert first.startswith("Sign-in token (shown once")
        token = first.rsplit(" ", 1)[-1].strip()
        for _ in range(100):
            try:
                page = client.get("/login")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf
        response = client.post("/login", data={"password": token, "csrf_token": csrf.group(1)})
        assert response.status_code == 303
        assert "admin" in client.get("/segments").text
    # a second start shows no token: it was printed once
    with herald_web(bare_root) as (base, first):
        assert first.startswith(f"Herald web app on {base}/")


def test_a_short_token_in_the_environment_is_refused(
    bare_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "abc")
    line = one_error_line(run("--workspace", str(bare_root), "web", "--host", "0.0.0.0"))
    assert f"{TOKEN_ENV} must have at least 16 characters" in line
