"""The web app's safety, one ASGI middleware each (STYLE rule 17): response headers and safe
error pages, authentication with roles, and CSRF protection.

Pages need no code of their own for any of it: the session is ``request.state.session``
(a :class:`herald.web._auth.Session`), and a form carries the CSRF token with
``{{ csrf_input }}`` (htmx requests send it as ``X-CSRF-Token``, from ``hx-headers`` on
``<body>``).
"""

from __future__ import annotations

import hmac
import logging
import traceback
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from herald.actor import acting_as
from herald.redact import redact
from herald.state.models import WebUser
from herald.web._auth import Session, Sessions

log = logging.getLogger("herald.web")

SESSION_COOKIE = "herald_session"
LOGIN_CSRF_COOKIE = "herald_login_csrf"
"""Before sign-in there is no session: the login form's CSRF token is also in this cookie."""
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_PATHS = ("/login",)
PUBLIC_PREFIXES = ("/static/",)
VIEWER_MAY_POST = frozenset(
    {
        "/logout",
        "/segments/open",
        "/segments/editor",
        "/segments/overlap",
        "/campaigns/builder",
        "/campaigns/builder/total",
    }
)
"""The POSTs a viewer may make: they only look (opening, Refresh, preview, a form's own
buttons), except the changes `CHANGES_BY_FIELD` names."""
CHANGES_BY_FIELD = {
    "/segments/editor": ("action", frozenset({"save", "activate"})),
    "/campaigns/builder": ("op", frozenset({"save", "sample"})),
}
"""For a path that looks unless told to change: the form field naming the button, and the
buttons that change something (refused to viewers)."""
VIEWERS_ONLY_LOOK = "viewers can only look: ask an editor to change this"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}

ErrorPage = Callable[[Request, int, str], Awaitable[Response]]


def is_public(path: str) -> bool:
    """Whether ``path`` is served without a session (the login page and static files)."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def wants_html_page(request: Request) -> bool:
    """A person's page load, as opposed to an htmx request or a machine's JSON call."""
    return (
        request.method in SAFE_METHODS
        and "hx-request" not in request.headers
        and "application/json" not in request.headers.get("accept", "")
    )


def session_of(request: Request) -> Session:
    """The signed-in session of a request past `Authentication`."""
    session: Session = request.state.session
    return session


class SecurityHeaders:
    """Adds the CSP and the other safety headers to every response, and turns an unexpected
    error into a plain 500 page: no traceback, nothing of the error's text (it is logged,
    redacted)."""

    def __init__(self, app: ASGIApp, *, error_page: ErrorPage) -> None:
        self.app = app
        self.error_page = error_page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers[name] = value
                if not scope["path"].startswith(PUBLIC_PREFIXES):
                    headers["cache-control"] = "no-store"  # pages hold customers' figures
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as error:
            log.error("web request failed: %s", redact("".join(traceback.format_exception(error))))
            if started:
                raise
            page = await self.error_page(Request(scope), 500, "Something went wrong on our side.")
            await page(scope, receive, send_with_headers)


class Authentication:
    """Every path but the login page and static files needs a session; viewers only look.

    Without a session a page load is redirected to the login page and anything else gets 401.
    A named user is looked up again on each request, so removing one, or changing their role,
    takes effect at once. The request then runs as that user (`herald.actor.acting_as`).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        sessions: Sessions,
        find_user: Callable[[str], WebUser | None],
    ) -> None:
        self.app = app
        self.sessions = sessions
        self.find_user = find_user

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            # None is served (live progress is server-sent events or polling, plain HTTP):
            # refused here, so that one added later cannot skip the sign-in.
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http" or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        sid = request.cookies.get(SESSION_COOKIE)
        session = self.sessions.get(sid)
        if session is not None and session.named:
            session = await run_in_threadpool(self._current, sid or "", session)
        if session is None:
            await _anonymous(request)(scope, receive, send)
            return
        if request.method not in SAFE_METHODS and not session.can_edit:
            receive, changes = await _changes(scope, receive)
            if changes:
                await PlainTextResponse(VIEWERS_ONLY_LOOK, 403)(scope, receive, send)
                return
        scope.setdefault("state", {})["session"] = session
        with acting_as(session.name):
            await self.app(scope, receive, send)

    def _current(self, sid: str, session: Session) -> Session | None:
        user = self.find_user(session.name)
        if user is None:
            self.sessions.end(sid)
            return None
        if user.role != session.role:
            session = Session(session.name, user.role, session.csrf, True, session.expires)
            self.sessions.replace(sid, session)
        return session


async def _changes(scope: Scope, receive: Receive) -> tuple[Receive, bool]:
    """Whether a request changes something (reading the form of a path that looks unless
    its form says otherwise); the ``receive`` to go on with."""
    path = scope["path"]
    if path not in VIEWER_MAY_POST:
        return receive, True
    if path not in CHANGES_BY_FIELD:
        return receive, False
    field, changes = CHANGES_BY_FIELD[path]
    body = await Request(scope, receive).body()
    form = await Request(scope, _replay(body, receive)).form()
    return _replay(body, receive), str(form.get(field) or "") in changes


def _anonymous(request: Request) -> Response:
    if wants_html_page(request):
        return RedirectResponse(f"/login?next={quote(request.url.path)}", 303)
    return PlainTextResponse("sign in first, at /login", 401)


class CSRFProtection:
    """Every state-changing request carries the session's CSRF token, in the ``csrf_token``
    form field or the ``X-CSRF-Token`` header; the login form the one of its cookie."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        session: Session | None = scope.get("state", {}).get("session")
        expected = session.csrf if session else request.cookies.get(LOGIN_CSRF_COOKIE)
        given = request.headers.get(CSRF_HEADER)
        if given is None and _is_form(request):
            body = await request.body()
            receive = _replay(body, receive)
            form = await Request(scope, _replay(body, receive)).form()
            field = form.get(CSRF_FIELD)
            given = field if isinstance(field, str) else None
        if not (expected and given and hmac.compare_digest(expected.encode(), given.encode())):
            refusal = PlainTextResponse(
                "this form has expired or did not come from this site: reload the page and "
                "try again",
                403,
            )
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _is_form(request: Request) -> bool:
    kind = request.headers.get("content-type", "")
    return kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` once (read already), then defers to ``receive``."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
