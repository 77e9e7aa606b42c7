"""What every page of the web app uses: the workspace, library calls off the event loop, and
templates rendered with the signed-in user and the CSRF token.

A page is an ``async`` function of a request that calls the library through `blocking` (or
`with_engine` when it runs engine queries) and returns `render`; it is listed in
:data:`herald.web.app.ROUTES` (or a helper's list of routes added there).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from herald.runs.scheduler import scheduler_running
from herald.workspace import Workspace

T = TypeVar("T")

NO_SCHEDULER = (
    "No scheduler is running: scheduled runs start once `herald scheduler` "
    "(or `herald web --scheduler`) runs."
)

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
"""The app's templates; Jinja2's autoescaping is on."""

NAV = [
    ("/segments", "Segments"),
    ("/campaigns", "Campaigns"),
    ("/runs", "Runs"),
    ("/destinations", "Destinations"),
]


def workspace(request: Request) -> Workspace:
    """The app's workspace (one per app: see `herald.web.app.create_app`)."""
    ws: Workspace = request.app.state.workspace
    return ws


async def no_scheduler(request: Request) -> str | None:
    """`NO_SCHEDULER` when no scheduler serves the workspace's state store, else None."""
    running = await blocking(scheduler_running, workspace(request).store)
    return None if running else NO_SCHEDULER


async def blocking(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a library call that blocks (the state store, files) in a worker thread.

    The thread runs as the signed-in user (`herald.actor`): the context goes with it.
    """
    return await run_in_threadpool(func, *args, **kwargs)


async def with_engine(request: Request, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a library call that queries the engine, in a worker thread, one at a time.

    The DuckDB engine is a single connection, which threads must not use at once; DuckDB
    spreads each query over all cores anyway, so queueing them costs little.
    """
    lock: threading.Lock = request.app.state.engine_lock

    def locked() -> T:
        with lock:
            return func(*args, **kwargs)

    return await run_in_threadpool(locked)


def wants_json(request: Request) -> bool:
    """Whether the request asks for JSON rather than a page."""
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    data: Any = None,
) -> Response:
    """A page or an htmx fragment from ``template``; it gets ``session`` (None on the login
    page), ``csrf`` and ``csrf_input`` (the hidden field every POST form holds), ``nav`` and
    ``path`` besides ``context``.

    Given ``data``, the page has a JSON twin: a request that accepts JSON (and not HTML) gets
    ``data`` as JSON instead (dataclasses and datetimes as orjson writes them).
    """
    if data is not None and wants_json(request):
        return Response(orjson.dumps(data), status, media_type="application/json")
    session = getattr(request.state, "session", None)
    csrf = session.csrf if session else (context or {}).get("csrf", "")
    field = Markup('<input type="hidden" name="csrf_token" value="{}">').format(escape(csrf))
    full = {
        "session": session,
        "csrf": csrf,
        "csrf_input": field,
        "nav": NAV,
        "path": request.url.path,
        **(context or {}),
    }
    return TEMPLATES.TemplateResponse(request, template, full, status_code=status)
