"""Signing in (with the token or a named user's password) and out."""

from __future__ import annotations

import logging
import re
import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from herald.web._auth import (
    TOKEN_USER,
    RateLimit,
    Role,
    Sessions,
    token_matches,
    verify_password,
)
from herald.web.render import blocking, render, workspace
from herald.web.security import LOGIN_CSRF_COOKIE, SESSION_COOKIE

log = logging.getLogger("herald.web")

HOME = "/segments"

_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")
"""What `secrets.token_urlsafe(32)` gives: a cookie of another shape is not ours."""


async def login_page(request: Request, *, error: str = "", status: int = 200) -> Response:
    """The sign-in form; its CSRF token is in a cookie too, as there is no session yet.

    A token already in the cookie is kept: a second request that lands here meanwhile (the
    browser's own favicon fetch, another tab) must not make the form on screen expire."""
    kept = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    csrf = kept if _TOKEN_SHAPE.fullmatch(kept) else secrets.token_urlsafe(32)
    context = {"csrf": csrf, "error": error, "next": _local(request.query_params.get("next"))}
    response = render(request, "login.html", context, status=status)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        csrf,
        max_age=3600,
        path="/login",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


async def sign_in(request: Request) -> Response:
    """Check the token or the name and password; open a session and go where asked."""
    limit: RateLimit = request.app.state.rate_limit
    if not limit.allow(request.client.host if request.client else "unknown"):
        return await login_page(
            request, error="Too many sign-in attempts: wait a minute and try again.", status=429
        )
    form = await request.form()
    name = str(form.get("name") or "").strip()
    secret = str(form.get("password") or "")
    found = await blocking(_check, request, name, secret)
    if found is None:
        log.info("web sign-in refused")
        return await login_page(request, error="Wrong name, password or token.", status=401)
    user, role, named = found
    sessions: Sessions = request.app.state.sessions
    sid = sessions.start(user, role, named=named)
    log.info("web sign-in: %s (%s)", user, role)
    response = RedirectResponse(_local(str(form.get("next") or "")), 303)
    response.set_cookie(
        SESSION_COOKIE,
        sid,
        max_age=int(sessions.lifetime),
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


def _check(request: Request, name: str, secret: str) -> tuple[str, Role, bool] | None:
    ws = workspace(request)
    if not name:
        return (TOKEN_USER, "editor", False) if token_matches(ws.state_dir, secret) else None
    user = ws.store.web_user(name)
    if verify_password(user.password_hash if user else None, secret) and user is not None:
        return user.name, user.role, True
    return None


async def sign_out(request: Request) -> Response:
    """End the session and go back to the sign-in form."""
    sessions: Sessions = request.app.state.sessions
    sessions.end(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _local(target: str | None) -> str:
    """``target`` when it is a path of this site, else the home page (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return HOME


ROUTES = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", sign_in, methods=["POST"]),
    Route("/logout", sign_out, methods=["POST"]),
]
