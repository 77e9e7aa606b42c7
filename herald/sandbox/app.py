"""The sandbox's ASGI app: Klaviyo's endpoints plus ``/__sandbox__`` inspection routes.

Every API request goes through the same steps, in this order: route (404/405), auth (401),
scope (403), rate limit (429), ``revision`` header (400), query parameters (400), content
type (415), payload size (413), JSON and schema (400), then the operation's handler.
Faults and the request log wrap all of it (``FaultsAndLog``).
"""

from __future__ import annotations

import asyncio
import gc
import re
import threading
import time
import zlib
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from herald.sandbox import admin, decode
from herald.sandbox.config import ApiKey, SandboxConfig
from herald.sandbox.errors import ApiError, error_document, throttled
from herald.sandbox.faults import FaultInjector
from herald.sandbox.handlers import HANDLERS, Call, dumps
from herald.sandbox.ratelimit import Decision, FixedWindowLimiter, windows_for
from herald.sandbox.spec import Operation, operations
from herald.sandbox.state import RequestRecord, SandboxState, Violation
from herald.sandbox.validation import parse_query, validate_body

JSONAPI = "application/vnd.api+json"
#: Klaviyo's global payload cap (FACTS.md §1), for operations that state none of their own.
#: The sandbox's caps come from Klaviyo's spec (``spec_subset.json``) and FACTS.md, never
#: from ``herald.destinations.klaviyo_api.limits``: it stands in for Klaviyo, so a wrong cap
#: in the client it checks must not become its own. ``test_limits.py`` checks that both
#: agree with the spec.
MAX_PAYLOAD = 5_000_000
#: Bodies larger than this are frozen once parsed when the sandbox freezes the heap.
SETTLE_BYTES = 100_000
_REVISION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[A-Za-z0-9]+)?$")
_ACCEPTED_TYPES = (JSONAPI, "application/json")


@dataclass
class Sandbox:
    """Everything one running sandbox holds: its config, account state, limiter and faults.

    Attributes:
        config: the settings.
        state: the account and request log (the Python inspection API).
        limiter: the rate limiter (shares ``config.clock``).
        faults: the fault injector.
        scale: the rate-limit multiplier, or None when limits are off.
        inflight: API requests being served now; the job worker gives way while any are.
        freeze_gc: freeze the heap after each large body and job slice (see ``settle``).
    """

    config: SandboxConfig
    freeze_gc: bool = False
    state: SandboxState = field(init=False)
    limiter: FixedWindowLimiter = field(init=False)
    faults: FaultInjector = field(init=False)

    def __post_init__(self) -> None:
        c = self.config
        self.state = SandboxState(
            c.clock, seed=c.seed, bounce_share=c.bounce_share, max_lists=c.max_lists
        )
        self.limiter = FixedWindowLimiter(c.clock)
        self.faults = FaultInjector(c.fault_spec, c.seed)
        self.scale = c.limit_scale
        self.inflight = 0

    def settle(self) -> None:
        """Move every live object to the collector's permanent generation, if ``freeze_gc``.

        A sync leaves millions of objects alive (payloads, then profiles) that hold no cycles
        and are freed by reference counting alone, yet the cyclic collector scans each twice
        before leaving it be: a quarter of a 1M-profile sync. ``gc.freeze`` takes O(1). Its
        price: a cycle alive now and dropped later is never collected (measured: under one
        object per request), so only the sandbox's own process turns this on (``serve``).
        """
        if self.freeze_gc:
            gc.freeze()


def create_app(config: SandboxConfig | None = None) -> Starlette:
    """Build the sandbox as a Starlette app.

    Args:
        config: the settings; defaults to Klaviyo's limits, no faults, one all-scope key.

    Returns:
        The app. ``app.state.sandbox`` is the ``Sandbox`` (``.state`` to inspect it).
    """
    sandbox = Sandbox(config or SandboxConfig())
    by_route: dict[str, dict[str, Operation]] = {}
    for op in operations().values():
        by_route.setdefault(op.route, {})[op.method] = op
    # Every method reaches the endpoint, so an unsupported one gets Klaviyo's 405 document.
    # Klaviyo's own links end in "/", so both spellings of each path are served.
    methods = ["GET", "POST", "PATCH", "DELETE", "PUT"]
    routes = [
        Route(spelling, _endpoint(sandbox, ops), methods=methods)
        for path, ops in by_route.items()
        for spelling in (path, f"{path}/")
    ]
    routes += admin.routes(sandbox.state)
    app = Starlette(
        routes=routes,
        exception_handlers={404: _not_found(sandbox), 405: _not_found(sandbox)},
        lifespan=_lifespan(sandbox),
    )
    app.state.sandbox = sandbox
    app.add_middleware(FaultsAndLog, sandbox=sandbox, table=_route_table(by_route))
    return app


def _lifespan(sandbox: Sandbox) -> Any:
    @asynccontextmanager
    async def lifespan(_app: Starlette) -> Any:
        stop = threading.Event()
        worker = None
        if sandbox.config.job_tick is not None:
            worker = threading.Thread(
                target=_job_worker, args=(sandbox, stop), name="sandbox-jobs", daemon=True
            )
            worker.start()
        try:
            yield
        finally:
            stop.set()
            if worker is not None:
                worker.join(timeout=5)

    return lifespan


#: Profiles the worker imports per slice (5 to 10 ms of new profiles), and the longest it
#: defers to requests.
JOB_SLICE = 2000
MAX_DEFER = 0.005


def _job_worker(sandbox: Sandbox, stop: threading.Event) -> None:
    """Run jobs in slices, giving way to requests in flight (they share one GIL).

    A job waits at least one tick in ``queued``. While requests are being served the worker
    still gets a slice every ``MAX_DEFER`` seconds, so jobs always make progress.
    """
    tick = sandbox.config.job_tick or 0.05
    last = time.monotonic()
    while not stop.wait(tick):
        while not stop.is_set():
            if sandbox.inflight and time.monotonic() - last < MAX_DEFER:
                time.sleep(0.002)
                continue
            busy = sandbox.state.work(JOB_SLICE)
            if busy:
                sandbox.settle()
            last = time.monotonic()
            if not busy:
                break


def _not_found(sandbox: Sandbox) -> Any:
    async def handler(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        code = "method_not_allowed" if status == 405 else "not_found"
        detail = (
            "Method not allowed." if status == 405 else "The requested resource does not exist."
        )
        if request.url.path.startswith("/api/"):
            # No operation of the spec (as far as the sandbox serves it) has this path. The
            # path itself is not kept: it could hold an email address.
            what = "No operation with this path and method is served from the spec."
            err = ApiError(status, code, what, violation=True)
            violation = _violation(sandbox, request.method, "(no route)", "(no route)", err)
            sandbox.state.record_violation(violation)
        return _error_response(ApiError(status, code, detail))

    return handler


def _violation(
    sandbox: Sandbox, method: str, path: str, operation: str, err: ApiError
) -> Violation:
    where = err.source.get("pointer") or err.source.get("parameter") or ""
    return Violation(sandbox.config.clock(), method, path, operation, err.status, where, err.detail)


def _error_response(err: ApiError, headers: dict[str, str] | None = None) -> Response:
    return Response(
        err.body(),
        status_code=err.status,
        media_type=JSONAPI,
        headers={**err.headers, **(headers or {})},
    )


def _endpoint(sandbox: Sandbox, ops: dict[str, Operation]) -> Any:
    async def endpoint(request: Request) -> Response:
        op = ops.get(request.method)
        if op is None:
            err = ApiError(405, "method_not_allowed", f'Method "{request.method}" not allowed.')
            path = next(iter(ops.values())).path
            sandbox.state.record_violation(
                _violation(sandbox, request.method, path, "(no operation)", err)
            )
            return _error_response(err)
        decision: Decision | None = None
        try:
            key = _authenticate(sandbox, request)
            if not key.allows(op.scopes):
                detail = "This API key is missing a required scope for this endpoint."
                raise ApiError(403, "permission_denied", detail)
            decision = _rate_limit(sandbox, key, op, request)
            call = await _prepare(sandbox, op, request)
            status, doc = HANDLERS[op.operation_id](call)
        except ApiError as err:
            if err.violation:
                violation = _violation(sandbox, request.method, op.path, op.operation_id, err)
                sandbox.state.record_violation(violation)
            return _error_response(err, _ratelimit_headers(decision) if err.status != 429 else {})
        body = dumps(doc) if doc is not None else b""
        return Response(
            body,
            status_code=status,
            media_type=JSONAPI if doc is not None else None,
            headers=_ratelimit_headers(decision),
        )

    return endpoint


def _authenticate(sandbox: Sandbox, request: Request) -> ApiKey:
    header = request.headers.get("authorization")
    if not header:
        raise ApiError(
            401,
            "not_authenticated",
            "Missing or invalid authorization scheme. Please use Klaviyo-API-Key.",
        )
    scheme, _, secret = header.partition(" ")
    key = sandbox.config.key(secret.strip()) if scheme == "Klaviyo-API-Key" else None
    if key is None:
        raise ApiError(401, "authentication_failed", "Incorrect authentication credentials.")
    return key


def _rate_limit(sandbox: Sandbox, key: ApiKey, op: Operation, request: Request) -> Decision | None:
    if sandbox.scale is None:
        return None
    decision = sandbox.limiter.hit(
        (key.account, op.operation_id), windows_for(op.ratelimit, sandbox.scale)
    )
    # Some query parameters add a stricter limit that counts on top (FACTS.md §2.1).
    for extra in op.limits.get("param_ratelimits", []):
        values = request.query_params.get(extra["parameter"], "").split(",")
        if decision.allowed and extra["value"] in values:
            sub = sandbox.limiter.hit(
                (key.account, op.operation_id, extra["value"]), windows_for(extra, sandbox.scale)
            )
            decision = sub if not sub.allowed else decision
    if not decision.allowed:
        raise throttled(decision.retry_after)
    return decision


def _ratelimit_headers(decision: Decision | None) -> dict[str, str]:
    if decision is None:
        return {}
    return {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(decision.reset),
    }


async def _prepare(sandbox: Sandbox, op: Operation, request: Request) -> Call:
    revision = request.headers.get("revision")
    if not revision:
        raise ApiError(400, "invalid", "The 'revision' header is required.", parameter="revision")
    if not _REVISION_RE.match(revision):
        raise ApiError(
            400, "invalid", "The 'revision' header must look like YYYY-MM-DD.", parameter="revision"
        )
    keys = [k for k, _ in request.query_params.multi_items()]
    query = parse_query(op, request.query_params, keys)
    body, size = await _read_body(sandbox, op, request) if op.request_body else (None, 0)
    resource_id = request.path_params.get("id", "")
    return Call(request, op, sandbox.state, sandbox.faults, query, body, resource_id, size)


async def _read_body(sandbox: Sandbox, op: Operation, request: Request) -> tuple[Any, int]:
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype not in _ACCEPTED_TYPES:
        raise ApiError(
            415, "unsupported_media_type", f"Unsupported media type in request; use {JSONAPI}."
        )
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        detail = f"Unsupported content encoding '{encoding}'; use gzip or none."
        raise ApiError(415, "unsupported_media_type", detail)
    limit = op.limits.get("max_payload_bytes", MAX_PAYLOAD)
    raw = await _read_limited(request, limit)
    if encoding == "gzip":
        raw = _gunzip(raw, limit)
    try:
        body = decode.loads(raw)
    except decode.BodyError as exc:
        raise ApiError(400, "invalid", str(exc), pointer="/") from None
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid", "The request body is not valid JSON.", pointer="/") from None
    if sandbox.config.validate:
        validate_body(op, body)
    if len(raw) > SETTLE_BYTES:
        sandbox.settle()  # a bulk body: its objects live on in a job, then in profiles
    return body, len(raw)


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:
        # The server closed a connection that stalled mid-body (see server.StallGuard);
        # nobody is left to answer, but the request must end without a traceback.
        detail = "The request body was not sent in time."
        raise ApiError(400, "invalid", detail, violation=False) from None
    return b"".join(chunks)


def _gunzip(raw: bytes, limit: int) -> bytes:
    # The 5 MB limit is on the decompressed payload (FACTS.md §1).
    try:
        out = zlib.decompressobj(wbits=31).decompress(raw, limit + 1)
    except zlib.error:
        raise ApiError(400, "invalid", "The gzip body does not decompress.", pointer="/") from None
    if len(out) > limit:
        raise _too_large(limit)
    return out


def _too_large(limit: int) -> ApiError:
    detail = f"The request body is larger than the {limit // 1000} KB allowed for this endpoint."
    return ApiError(413, "payload_too_large", detail, pointer="/")


# --- faults and the request log ---------------------------------------------------------


def _route_table(
    by_route: dict[str, dict[str, Operation]],
) -> list[tuple[re.Pattern[str], dict[str, Operation]]]:
    table = []
    for path, ops in by_route.items():
        pattern = re.escape(path).replace(re.escape("{id}"), "[^/]+")
        table.append((re.compile(f"^{pattern}/?$"), ops))
    return table


class DroppedConnectionError(Exception):
    """Raised after the response headers to make the server close the connection."""


class FaultsAndLog:
    """ASGI middleware: injects the configured faults and logs every API request.

    Args:
        app: the wrapped app.
        sandbox: the sandbox (its faults and state).
        table: path patterns → operations by method, to name the operation.
    """

    def __init__(
        self,
        app: ASGIApp,
        sandbox: Sandbox,
        table: list[tuple[re.Pattern[str], dict[str, Operation]]],
    ) -> None:
        self.app = app
        self.sandbox = sandbox
        self.table = table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(admin.PREFIX):
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        op = next((ops.get(method) for pattern, ops in self.table if pattern.match(path)), None)
        # An unmatched path is not logged as sent: it could hold an email address.
        name = op.operation_id if op else "(no route)"
        plan = self.sandbox.faults.plan(name)
        status = {"code": 0}
        logged = False

        def log(code: int) -> None:
            nonlocal logged
            if not logged:
                logged = True
                record = RequestRecord(self.sandbox.config.clock(), method, name, code, plan.kind)
                self.sandbox.state.log_request(record)

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                if plan.kind not in ("drop", "timeout"):
                    # Log before the headers leave: a client that has its answer (a 204 is
                    # complete with its headers) must find its request in the log.
                    log(status["code"])
            await send(message)

        self.sandbox.inflight += 1
        try:
            if plan.delay:
                await asyncio.sleep(plan.delay)
            if plan.kind is None:
                await self.app(scope, receive, logged_send)
            else:
                await self._inject(plan.kind, plan.status, logged_send)
        finally:
            self.sandbox.inflight -= 1
            log(0 if plan.kind in ("drop", "timeout") else status["code"])

    async def _inject(self, kind: str, status: int, send: Send) -> None:
        if kind == "5xx":
            code = "service_unavailable" if status == 503 else "error"
            doc = error_document(status, code, "The sandbox injected a server error.")
            await _send_json(send, status, doc, {})
        elif kind == "4xx":
            doc = error_document(status, "error", "The sandbox injected a client error.")
            await _send_json(send, status, doc, {})
        elif kind == "429":
            await _send_json(send, 429, throttled(1).document(), {"Retry-After": "1"})
        else:
            if kind == "timeout":
                await asyncio.sleep(self.sandbox.faults.spec.hang)
            # Headers promise a body that never comes: the client sees the connection drop.
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", JSONAPI.encode()), (b"content-length", b"64")],
                }
            )
            raise DroppedConnectionError(kind)


async def _send_json(send: Send, status: int, doc: dict[str, Any], headers: dict[str, str]) -> None:
    body = dumps(doc)
    raw = [(b"content-type", JSONAPI.encode()), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
