"""The web app's refusals, route by route: no session, no CSRF token, a viewer's change; its
headers, cookie flags and error pages."""

from __future__ import annotations

import re

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect
from web_app import PASSWORD, TOKEN, app, client, csrf_in, sign_in, web_root

from herald.exceptions import NotFoundError
from herald.web.security import (
    CHANGES_BY_FIELD,
    CSP,
    SESSION_COOKIE,
    VIEWER_MAY_POST,
    VIEWERS_ONLY_LOOK,
)

__all__ = ["app", "client", "web_root"]  # fixtures

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def endpoints(app: Starlette) -> list[tuple[str, str]]:
    """(method, path) of every route but static files, path parameters filled in."""
    found = []
    for route in app.routes:
        if isinstance(route, Mount):
            continue
        assert isinstance(route, Route)
        path = re.sub(r"\{[^}]+\}", "x", route.path)
        found += [(method, path) for method in sorted(route.methods or ()) if method != "HEAD"]
    return found


def changing(app: Starlette) -> list[tuple[str, str]]:
    return [(m, p) for m, p in endpoints(app) if m in STATE_CHANGING and p != "/login"]


def test_there_are_routes_of_both_kinds(app: Starlette) -> None:
    assert len(endpoints(app)) >= 8
    assert len(changing(app)) >= 2


def test_every_route_but_login_is_refused_without_a_session(client: TestClient) -> None:
    for method, path in endpoints(client.app):  # type: ignore[arg-type]
        if path == "/login":
            continue
        response = client.request(method, path, follow_redirects=False)
        if method == "GET":
            assert response.status_code == 303, path
            assert response.headers["location"] == f"/login?next={path}"
        else:
            assert response.status_code == 401, (method, path)
        # htmx and JSON calls get 401, never a redirect to a page
        for header in ({"HX-Request": "true"}, {"Accept": "application/json"}):
            response = client.request(method, path, headers=header, follow_redirects=False)
            assert response.status_code == 401, (method, path, header)


def test_a_forged_or_expired_session_is_refused(client: TestClient) -> None:
    client.cookies.set(SESSION_COOKIE, "made-up")
    assert client.get("/runs", follow_redirects=False).status_code == 303


def test_every_state_changing_route_needs_the_csrf_token(client: TestClient) -> None:
    csrf = sign_in(client)
    for method, path in changing(client.app):  # type: ignore[arg-type]
        for data, headers in [
            ({}, {}),
            ({"csrf_token": "wrong"}, {}),
            ({}, {"X-CSRF-Token": "wrong"}),
            ({"csrf_token": csrf[:-1]}, {}),
        ]:
            response = client.request(
                method, path, data=data, headers=headers, follow_redirects=False
            )
            assert response.status_code == 403, (method, path, data, headers)
            assert "reload the page" in response.text
    # and the real token passes (here: signing out)
    response = client.post("/logout", headers={"X-CSRF-Token": csrf}, follow_redirects=False)
    assert response.status_code == 303


def test_the_login_form_needs_its_csrf_token(client: TestClient) -> None:
    client.get("/login")
    response = client.post("/login", data={"password": TOKEN}, follow_redirects=False)
    assert response.status_code == 403
    response = client.post(
        "/login", data={"password": TOKEN, "csrf_token": "forged"}, follow_redirects=False
    )
    assert response.status_code == 403


def test_a_viewer_can_look_but_change_nothing(client: TestClient) -> None:
    csrf = sign_in(client, "vera", PASSWORD)
    page = client.get("/segments")
    assert page.status_code == 200
    assert "vera" in page.text
    assert "(viewer)" in page.text
    for method, path in changing(client.app):  # type: ignore[arg-type]
        if path in VIEWER_MAY_POST:
            continue
        response = client.request(
            method, path, data={"csrf_token": csrf}, headers={"X-CSRF-Token": csrf}
        )
        assert response.status_code == 403, (method, path)
        assert response.text == VIEWERS_ONLY_LOOK
    # the changes of the paths that otherwise only look, by the form or by htmx's header
    for path, (field, changes) in CHANGES_BY_FIELD.items():
        for change in changes:
            for data, headers in [
                ({"csrf_token": csrf, field: change, "name": "Sneaky"}, {}),
                ({field: change, "name": "Sneaky"}, {"X-CSRF-Token": csrf, "HX-Request": "true"}),
            ]:
                response = client.post(path, data=data, headers=headers)
                assert response.status_code == 403, (path, change)
                assert response.text == VIEWERS_ONLY_LOOK
    assert "Sneaky" not in client.get("/segments").text
    assert "Sneaky" not in client.get("/campaigns").text
    # a viewer may still sign out
    response = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303


def test_the_safety_headers_are_on_every_response(client: TestClient) -> None:
    for path in ["/login", "/static/app.css", "/segments", "/nowhere"]:
        headers = client.get(path).headers
        assert headers["content-security-policy"] == CSP
        assert "unsafe-inline" not in headers["content-security-policy"]
        assert "unsafe-eval" not in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "same-origin"
        assert (headers.get("cache-control") == "no-store") == (not path.startswith("/static/"))


def test_no_inline_script_or_style_in_any_page(client: TestClient) -> None:
    pages = [client.get("/login").text]
    sign_in(client)
    pages += [client.get(p).text for p in ["/segments", "/campaigns", "/runs", "/destinations"]]
    for html in pages:
        assert re.search(r"<script(?![^>]*\bsrc=)", html) is None
        assert "<style" not in html
        assert " style=" not in html
        assert re.search(r"\son[a-z]+=", html) is None  # no onclick= and the like


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_session_cookie_flags(app: Starlette, scheme: str) -> None:
    with TestClient(app, base_url=f"{scheme}://127.0.0.1") as client:
        page = client.get("/login")
        response = client.post(
            "/login",
            data={"password": TOKEN, "csrf_token": csrf_in(page.text)},
            follow_redirects=False,
        )
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
    )
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags
    assert "samesite=strict" in flags
    assert "path=/" in flags
    assert any(f.startswith("max-age=") for f in flags)
    assert ("secure" in flags) == (scheme == "https")


def test_error_pages_show_no_email_phone_secret_or_traceback(app: Starlette) -> None:
    async def leaky(request: Request) -> Response:
        secret = "pk_abc123def456ghi789"
        raise NotFoundError(f"no customer ann@example.com at +44 20 7946 0958 key {secret}")

    async def broken(request: Request) -> Response:
        raise RuntimeError("boom for ann@example.com")

    app.router.routes.extend([Route("/leaky", leaky), Route("/broken", broken)])
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
        sign_in(client)
        for path, status in [("/leaky", 404), ("/broken", 500)]:
            for headers in ({}, {"HX-Request": "true"}):
                response = client.get(path, headers=headers)
                assert response.status_code == status
                text = response.text
                assert "ann@example.com" not in text
                assert "7946" not in text
                assert "pk_abc" not in text
                assert "Traceback" not in text
                assert "boom" not in text
                assert response.headers["content-security-policy"] == CSP
        assert "no customer [email]" in client.get("/leaky").text


def test_no_email_in_a_url(client: TestClient) -> None:
    """Forms that name things post them in the body: no page links to a URL with an @."""
    sign_in(client)
    for path in ["/segments", "/campaigns", "/runs", "/destinations"]:
        html = client.get(path).text
        for url in re.findall(r'(?:href|action|hx-get|hx-post)="([^"]*)"', html):
            assert "@" not in url
        assert 'method="get"' not in html.lower()


def test_websockets_are_refused_even_when_a_route_takes_them(app: Starlette) -> None:
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("open")
        await websocket.close()

    app.router.routes.append(WebSocketRoute("/ws", echo))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        sign_in(client)
        with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws") as ws:
            ws.receive_text()
