"""The web app's factory: routes, the safety middleware and the error pages.

One `Workspace` serves the whole app. Its state store is safe from any thread (SQLAlchemy's
connection pool; a transaction belongs to the thread that opened it), so pages call it from
worker threads freely; its DuckDB engine is one connection, so engine calls queue on a lock
(`herald.web.render.with_engine`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from herald.config import Settings
from herald.exceptions import ConfigError, HeraldError, NotFoundError
from herald.redact import redact
from herald.web import campaign_pages, login, pages, results_pages, run_pages, segment_pages
from herald.web._auth import RateLimit, Sessions, check_env_token, ensure_token
from herald.web.render import HERE, render
from herald.web.security import (
    Authentication,
    CSRFProtection,
    SecurityHeaders,
    wants_html_page,
)
from herald.workspace import Workspace

ROUTES: list[BaseRoute] = [
    *login.ROUTES,
    *pages.ROUTES,
    *campaign_pages.ROUTES,
    *run_pages.ROUTES,
    *results_pages.ROUTES,
    *segment_pages.ROUTES,
    Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
]
"""Every route of the app; a new page adds its `Route` here (or its module's list)."""


def create_app(ws_root: Path, *, settings: Settings) -> Starlette:
    """The web app over the workspace at ``ws_root``, whose ``herald.toml`` gave ``settings``.

    Generates the sign-in token at first start (see `herald.web._auth.ensure_token`; `herald
    web` does it first, to print it).

    Raises:
        ConfigError: ``HERALD_WEB_TOKEN`` is set but too short.
    """
    check_env_token()
    ws = Workspace(ws_root, settings)
    ensure_token(ws.state_dir)
    sessions = Sessions(lifetime=settings.web.session_hours * 3600)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        ws.close()

    app = Starlette(
        routes=ROUTES,
        middleware=[
            Middleware(SecurityHeaders, error_page=error_page),
            Middleware(Authentication, sessions=sessions, find_user=lambda n: ws.store.web_user(n)),
            Middleware(CSRFProtection),
        ],
        exception_handlers={HTTPException: _http_error, HeraldError: _library_error},
        lifespan=lifespan,
    )
    app.state.workspace = ws
    app.state.sessions = sessions
    app.state.rate_limit = RateLimit(settings.web.login_attempts)
    app.state.engine_lock = threading.Lock()
    return app


async def error_page(request: Request, status: int, message: str) -> Response:
    """An error as a page (or one line for htmx and JSON), never with a traceback; the
    message is redacted (no email, phone or key)."""
    line = redact(message)
    if not wants_html_page(request):
        return PlainTextResponse(line, status)
    return render(request, "error.html", {"status": status, "message": line}, status=status)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    messages = {
        400: "The request was not understood.",
        403: "This is not allowed.",
        404: "There is no such page.",
        405: "This page does not take that method.",
    }
    return await error_page(request, error.status_code, messages.get(error.status_code, "Error."))


async def _library_error(request: Request, error: Exception) -> Response:
    status = 404 if isinstance(error, NotFoundError) else 400
    if isinstance(error, ConfigError):
        status = 500
    return await error_page(request, status, str(error))
