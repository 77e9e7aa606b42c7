"""Signing in to the web app: the token, named users, wrong passwords, the rate limit, and
what a session may do; a change made through the web is recorded as the user's."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient
from web_app import PASSWORD, TOKEN, app, client, csrf_in, make_app, sign_in, web_root

from herald.exceptions import ConfigError
from herald.redact import redact
from herald.web._auth import (
    TOKEN_ENV,
    TOKEN_FILE,
    RateLimit,
    Sessions,
    ensure_token,
    hash_password,
    token_matches,
    verify_password,
)
from herald.workspace import Workspace

__all__ = ["app", "client", "web_root"]  # fixtures


def attempt(client: TestClient, name: str, password: str, next_: str = "") -> int:
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"name": name, "password": password, "next": next_, "csrf_token": csrf_in(page.text)},
        follow_redirects=False,
    )
    return response.status_code


def test_the_token_signs_in_as_the_editor_admin(client: TestClient) -> None:
    sign_in(client)
    page = client.get("/campaigns").text
    assert "admin" in page
    assert "(editor)" in page
    assert "Sign out" in page


def test_a_named_user_signs_in_with_their_password(client: TestClient) -> None:
    sign_in(client, "ed", PASSWORD)
    assert 'ed <span class="role">(editor)</span>' in client.get("/runs").text


@pytest.mark.parametrize(
    ("name", "password"),
    [("", "not-the-token"), ("", ""), ("ed", "wrong password"), ("nobody", PASSWORD),
     ("ed", TOKEN), ("admin", TOKEN)],
)  # fmt: skip
def test_wrong_credentials_are_refused(client: TestClient, name: str, password: str) -> None:
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"name": name, "password": password, "csrf_token": csrf_in(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 401
    assert "Wrong name, password or token." in response.text
    assert client.get("/segments", follow_redirects=False).status_code == 303


def test_sign_in_goes_back_to_the_page_asked_for_on_this_site_only(client: TestClient) -> None:
    assert client.get("/runs", follow_redirects=False).headers["location"] == "/login?next=/runs"
    page = client.get("/login?next=/runs")
    assert 'name="next" value="/runs"' in page.text
    for target, where in [("/runs", "/runs"), ("//evil.example/x", "/segments"),
                          ("https://evil.example/", "/segments"), ("", "/segments")]:  # fmt: skip
        page = client.get("/login")
        response = client.post(
            "/login",
            data={"password": TOKEN, "next": target, "csrf_token": csrf_in(page.text)},
            follow_redirects=False,
        )
        assert response.headers["location"] == where


def test_sign_in_is_rate_limited_per_client(app: Starlette) -> None:
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert [attempt(client, "", "wrong") for _ in range(5)] == [401] * 5
        # the sixth in the minute is refused, even with the right token
        page = client.get("/login")
        response = client.post("/login", data={"password": TOKEN, "csrf_token": csrf_in(page.text)})
        assert response.status_code == 429
        assert "Too many sign-in attempts: wait a minute" in response.text
        assert client.get("/segments", follow_redirects=False).status_code == 303


def test_the_rate_limit_forgets_after_its_window() -> None:
    now = [0.0]
    limit = RateLimit(2, window=60, clock=lambda: now[0])
    assert [limit.allow("a"), limit.allow("a"), limit.allow("a")] == [True, True, False]
    assert limit.allow("b")  # per client
    now[0] = 60.5
    assert limit.allow("a")


def test_sessions_expire_and_end() -> None:
    now = [0.0]
    sessions = Sessions(lifetime=10, clock=lambda: now[0])
    sid = sessions.start("ana", "editor", named=True)
    assert sessions.get(sid).name == "ana"  # type: ignore[union-attr]
    assert sessions.get("other") is None
    now[0] = 10.0
    assert sessions.get(sid) is None
    sid = sessions.start("ana", "editor", named=True)
    sessions.end(sid)
    assert sessions.get(sid) is None


def test_signing_out_ends_the_session(client: TestClient) -> None:
    csrf = sign_in(client)
    cookie = client.cookies.get("herald_session")
    client.post("/logout", data={"csrf_token": csrf})
    # the old cookie, replayed, no longer works
    client.cookies.set("herald_session", cookie or "")
    assert client.get("/segments", follow_redirects=False).status_code == 303


def test_a_removed_user_is_signed_out_and_a_changed_role_applies_at_once(
    client: TestClient, web_root: Path
) -> None:
    with Workspace.open(web_root) as ws:
        ws.store.save_web_user("temp", hash_password(PASSWORD), "editor")
    csrf = sign_in(client, "temp", PASSWORD)
    with Workspace.open(web_root) as ws:
        ws.store.save_web_user("temp", hash_password(PASSWORD), "viewer")
    response = client.post("/segments/activate", data={"name": "x", "csrf_token": csrf})
    assert response.status_code == 403
    assert "(viewer)" in client.get("/segments").text
    with Workspace.open(web_root) as ws:
        ws.store.delete_web_user("temp")
    assert client.get("/segments", follow_redirects=False).status_code == 303


def test_an_editors_change_is_recorded_as_theirs(client: TestClient, web_root: Path) -> None:
    with Workspace.open(web_root) as ws:
        ws.segments.create({"name": "Web Audit", "sql": "SELECT amperity_id FROM Customer_360"})
    csrf = sign_in(client, "ed", PASSWORD)
    page = client.get("/segments").text
    assert "Activate v1" in page
    response = client.post(
        "/segments/activate",
        data={"name": "Web Audit", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert response.status_code == 303
    with Workspace.open(web_root) as ws:
        [version] = ws.segments.versions("Web Audit")
    assert version.activated_by == "ed"
    assert "Activate v1" not in client.get("/segments").text


def test_a_library_error_is_one_line_on_a_page(client: TestClient) -> None:
    csrf = sign_in(client)
    response = client.post("/segments/activate", data={"name": "No Such", "csrf_token": csrf})
    assert response.status_code in (400, 404)
    assert "No Such" in response.text
    assert "Traceback" not in response.text


def test_the_generated_token_is_kept_hashed_and_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    token = ensure_token(tmp_path)
    assert token
    assert len(token) >= 30
    stored = tmp_path / TOKEN_FILE
    assert token not in stored.read_text()
    assert stored.stat().st_mode & 0o777 == 0o600
    assert ensure_token(tmp_path) is None  # shown once only
    assert token_matches(tmp_path, token)
    assert not token_matches(tmp_path, token + "x")
    renewed = ensure_token(tmp_path, renew=True)
    assert renewed
    assert not token_matches(tmp_path, token)
    assert token_matches(tmp_path, renewed)
    monkeypatch.setenv(TOKEN_ENV, "from-the-environment")
    assert ensure_token(tmp_path) is None
    assert token_matches(tmp_path, "from-the-environment")
    assert not token_matches(tmp_path, renewed)


def test_the_generated_token_signs_in(web_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    token = ensure_token(web_root / ".herald", renew=True)
    assert token
    with TestClient(make_app(web_root), base_url="http://127.0.0.1") as client:
        assert attempt(client, "", token) == 303
        assert attempt(client, "", TOKEN) == 401


def test_passwords_are_argon2_hashes() -> None:
    stored = hash_password(PASSWORD)
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert verify_password(stored, PASSWORD)
    assert not verify_password(stored, PASSWORD + " ")
    assert not verify_password(None, PASSWORD)
    assert not verify_password("not a hash", PASSWORD)


def test_a_short_environment_token_is_refused(
    web_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "short")
    with pytest.raises(ConfigError, match=f"{TOKEN_ENV} must have at least 16 characters"):
        make_app(web_root)


def test_the_environment_token_is_redacted_from_logs(app: Starlette) -> None:
    assert TOKEN not in redact(f"a log line with {TOKEN} in it")
