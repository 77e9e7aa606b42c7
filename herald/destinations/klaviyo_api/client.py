"""``KlaviyoApi`` over HTTP: httpx drives the sans-I/O protocol of ``_protocol.py``.

Every request goes through the same path (``_send``): a concurrency slot, the rate limiter,
one HTTP attempt, then the retry policy on 429, 5xx and transport failures. httpx's
exceptions stop here: callers see only :class:`herald.exceptions.SyncError` subclasses, and
a failed response is a :class:`herald.exceptions.KlaviyoRequestError` carrying Klaviyo's
problem document (``error.problem``).

Example, against a local sandbox::

    settings = KlaviyoSettings(name="sandbox", api_key=DEFAULT_API_KEY, base_url=server.url)
    async with KlaviyoClient(settings) as client:
        list_id = await client.find_list("VIP") or await client.create_list("VIP")
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, TypeVar

import httpx

from herald._version import __version__
from herald.destinations.klaviyo_api import _protocol as P
from herald.destinations.klaviyo_api._errors import (
    ApiProblem,
    error_from_problem,
    missing_scope,
    parse_retry_after,
    problem_from_response,
)
from herald.destinations.klaviyo_api.api import (
    ImportError_,
    ImportJob,
    KlaviyoApi,
    Member,
    ScopeCheck,
)
from herald.destinations.klaviyo_api.configuration import KlaviyoSettings
from herald.destinations.klaviyo_api.limits import MAX_IMPORT_BYTES, NEEDED_SCOPES, OPERATIONS
from herald.destinations.klaviyo_api.ratelimit import Clock, RateLimiter, Sleep
from herald.destinations.klaviyo_api.retry import RetryPolicy
from herald.exceptions import FatalSyncError
from herald.redact import install_log_redaction, redact

T = TypeVar("T")

logger = logging.getLogger("herald.klaviyo")

JSONAPI = "application/vnd.api+json"
#: The retry budget of ``check_scopes``: it is interactive, so a wrong base_url must not
#: keep the user waiting for ``max_wait``.
CHECK_MAX_WAIT = 30.0
#: Failures after which the request surely never reached Klaviyo (safe to resend a POST).
_NOT_SENT = frozenset({"ConnectError", "ConnectTimeout", "PoolTimeout"})
_RETRIABLE_TRANSPORT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_AUTH_CODES = frozenset({"not_authenticated", "authentication_failed"})

Recover = Callable[[], Awaitable[Any]]


class KlaviyoClient(KlaviyoApi):
    """Klaviyo's REST API for list sync, paced, retried and counted.

    Args:
        settings: the destination's settings (key, base URL, revision, limits, waits).
        transport: an httpx transport to use instead of the network (tests:
            ``httpx.MockTransport``); connection limits then are the transport's own.
        clock: seconds from any origin, for rate limits (``time.monotonic``).
        sleep: awaits seconds, for rate limits and retries (``asyncio.sleep``).
        limiter: a limiter to share with other clients of the same account.
        retry: the retry policy; by default one bounded by ``settings.max_wait``.
    """

    def __init__(
        self,
        settings: KlaviyoSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._limiter = limiter or RateLimiter(settings.limits, clock=clock, sleep=sleep)
        self._retry = retry or RetryPolicy(max_wait=settings.max_wait)
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._counts: Counter[tuple[str, int]] = Counter()
        # Scopes proved by a successful request, to name the missing one on a 403.
        self._granted: set[str] = set()
        self._http = httpx.AsyncClient(
            base_url=settings.base_url,
            headers=_headers(settings),
            timeout=httpx.Timeout(settings.timeout),
            transport=transport or _transport(settings.concurrency),
        )
        _redact_httpx_logs()

    def __repr__(self) -> str:
        return f"KlaviyoClient(name={self.settings.name!r}, base_url={self.settings.base_url!r})"

    async def __aenter__(self) -> KlaviyoClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def limiter(self) -> RateLimiter:
        """The rate limiter (to inspect, or to share with another client)."""
        return self._limiter

    # --- KlaviyoApi ---------------------------------------------------------------------

    async def check_scopes(self, needed: Sequence[str] = NEEDED_SCOPES) -> ScopeCheck:
        """Check the key and its scopes, one request per scope; nothing is written and every
        request is valid per the spec (see ``_ScopeProbe``). A sync never calls this: it
        learns of a missing scope from the first 403 (see ``_attempt``)."""
        return await _ScopeProbe(self, needed).run()

    async def find_list(self, name: str) -> str | None:
        """The id of the oldest list named exactly ``name``, or None."""
        request: P.Request | None = P.find_list(name)
        while request is not None:
            _, doc = await self._send(request)
            found = P.parse_list_id(doc, name)
            if found is not None:
                return found
            request = P.next_request(doc, request)
        return None

    async def create_list(self, name: str) -> str:
        """Create a list; after a failure that may have created it, look for it first."""

        async def recover() -> Any:
            found = await self.find_list(name)
            return None if found is None else {"data": {"id": found}}

        _, doc = await self._send(P.create_list(name), recover=recover)
        return P.parse_created_id(doc)

    async def start_import(self, profiles: Sequence[Mapping[str, Any]], list_id: str) -> str:
        """Start a bulk import job into ``list_id``.

        Raises:
            ValueError: for more than 10,000 profiles or a body over 5 MB (batch them with
                ``_plan.import_ranges``); this is a bug in the caller, not a sync failure.
        """
        request = P.start_import(profiles, list_id)
        return await self._start_import(request, request.encoded() or b"")

    async def start_import_encoded(self, profiles_json: Sequence[str], list_id: str) -> str:
        """Start a bulk import job from profiles already encoded as JSON attribute objects.

        Raises:
            ValueError: as :meth:`start_import`.
        """
        return await self._start_import(*P.start_import_encoded(profiles_json, list_id))

    async def _start_import(self, request: P.Request, body: bytes) -> str:
        if len(body) > MAX_IMPORT_BYTES:
            msg = (
                f"the bulk import body is {len(body):,} bytes, over {MAX_IMPORT_BYTES:,}; "
                "batch the profiles with _plan.import_ranges"
            )
            raise ValueError(msg)
        _, doc = await self._send(request, body=body)
        return P.parse_created_id(doc)

    async def get_import(self, job_id: str) -> ImportJob:
        """The job's status and counts."""
        _, doc = await self._send(P.get_import(job_id))
        return P.parse_job(doc)

    async def recent_imports(self) -> dict[str, ImportJob]:
        """The account's newest 100 bulk import jobs, by id (the first page only)."""
        request = P.recent_imports()
        _, doc = await self._send(request)
        return {job.id: job for job in P.parse_jobs(doc, request).items}

    def import_errors(self, job_id: str) -> AsyncIterator[ImportError_]:
        """Every import error of a job (all pages)."""
        return self._every_page(P.import_errors(job_id), P.parse_import_errors)

    def list_members(self, list_id: str) -> AsyncIterator[Member]:
        """Every member of a list with its identifiers (100 per page)."""
        return self._every_page(P.list_members(list_id), P.parse_members)

    async def find_profiles(
        self, field: Literal["email", "phone_number", "external_id"], values: Sequence[str]
    ) -> dict[str, str]:
        """Profile ids for ≤ 100 identifiers; every page is read."""
        unique = list(dict.fromkeys(values))

        def parse(doc: Mapping[str, Any], request: P.Request) -> P.Page[tuple[str, str]]:
            return P.parse_profiles(doc, request, field, unique)

        pages = self._every_page(P.find_profiles(field, unique), parse)
        return {value: profile_id async for value, profile_id in pages}

    async def _every_page(
        self,
        request: P.Request | None,
        parse: Callable[[Mapping[str, Any], P.Request], P.Page[T]],
    ) -> AsyncIterator[T]:
        """The items of a collection, following ``links.next`` to the last page."""
        while request is not None:
            _, doc = await self._send(request)
            page = parse(doc, request)
            for item in page.items:
                yield item
            request = page.next

    async def remove_from_list(self, list_id: str, profile_ids: Sequence[str]) -> None:
        """Remove ≤ 1,000 profiles from a list (idempotent, so retries are safe)."""
        await self._send(P.remove_from_list(list_id, list(dict.fromkeys(profile_ids))))

    def request_counts(self) -> dict[tuple[str, int], int]:
        """HTTP attempts so far by (operation id, status); status 0 is a transport failure."""
        return dict(self._counts)

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    # --- one request, paced and retried -------------------------------------------------

    async def _send(
        self,
        request: P.Request,
        *,
        body: bytes | None = None,
        accept: frozenset[int] = frozenset(),
        recover: Recover | None = None,
        max_wait: float | None = None,
    ) -> tuple[int, Any]:
        """Send ``request`` until it succeeds or retrying is hopeless.

        Args:
            request: what to send.
            body: the encoded body, when already encoded.
            accept: error statuses to return instead of raising (for probes).
            recover: called before a retry after a failure that may have been carried
                out (a POST that timed out); a non-None result is returned as the body.
            max_wait: a tighter retry budget than the policy's.

        Returns:
            The status and the decoded body.

        Raises:
            FatalSyncError: for 4xx (other than ``accept``) and daily caps.
            RetriableSyncError: when retries are exhausted.
        """
        content = body if body is not None else request.encoded()
        policy = self._retry
        if max_wait is not None and max_wait < policy.max_wait:
            policy = dataclasses.replace(policy, max_wait=max_wait)
        state = policy.start(request.operation)
        while True:
            status, doc, problem = await self._attempt(request, content, accept, policy.max_wait)
            if problem is None:
                return status, doc
            delay = state.next_delay(problem)
            logger.info(
                "Klaviyo %s: %s; retrying in %.1f s", request.operation, problem.describe(), delay
            )
            await self._sleep(delay)
            if recover is not None and problem.status != 429 and problem.code not in _NOT_SENT:
                recovered = await recover()
                if recovered is not None:
                    return 200, recovered

    async def _attempt(
        self, request: P.Request, content: bytes | None, accept: frozenset[int], max_wait: float
    ) -> tuple[int, Any, ApiProblem | None]:
        op = request.operation
        async with self._slots:
            await self._limiter.acquire(op, max_wait=max_wait)
            try:
                response = await self._http.request(
                    request.method,
                    request.path,
                    params=request.params,
                    content=content,
                    headers={"content-type": JSONAPI} if content is not None else None,
                )
            except _RETRIABLE_TRANSPORT as exc:
                self._counts[(op, 0)] += 1
                if isinstance(exc, httpx.ConnectError) and _is_loopback(self.settings.base_url):
                    # Refused on this machine: a sandbox that is not started. Retrying for
                    # max_wait would only keep the user waiting for the same answer.
                    raise FatalSyncError(_nobody_listens(self.settings)) from None
                return (
                    0,
                    None,
                    ApiProblem(op, 0, type(exc).__name__, detail=_transport_detail(exc)),
                )
            except httpx.HTTPError as exc:
                self._counts[(op, 0)] += 1
                msg = f"Klaviyo {op} failed: {type(exc).__name__}: {_transport_detail(exc)}"
                raise FatalSyncError(msg) from None
        self._counts[(op, response.status_code)] += 1
        self._learn(op, response)
        doc = P.decode(response.content)
        if response.is_success:
            self._granted.update(OPERATIONS[op].scopes if op in OPERATIONS else ())
        if response.is_success or response.status_code in accept:
            return response.status_code, doc, None
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        problem = problem_from_response(response.status_code, doc, op, retry_after)
        if not problem.retriable:
            raise missing_scope(self.settings.name, problem, self._granted) or (
                error_from_problem(problem)
            )
        return response.status_code, doc, problem

    def _learn(self, operation: str, response: httpx.Response) -> None:
        headers = response.headers
        if response.status_code == 429:
            retry_after = parse_retry_after(headers.get("retry-after"))
            self._limiter.pause(operation, 1.0 if retry_after is None else retry_after)
            return
        self._limiter.observe(
            operation,
            limit=_int(headers.get("ratelimit-limit")),
            remaining=_int(headers.get("ratelimit-remaining")),
            reset=_int(headers.get("ratelimit-reset")),
        )


class _ScopeProbe:
    """``check_scopes``: prove the key with one read, then probe each needed scope once with
    a request that is valid per the spec and changes nothing (``_protocol.scope_probe``):
    403 means the scope is missing."""

    def __init__(self, client: KlaviyoClient, needed: Sequence[str]) -> None:
        self.client = client
        self.needed = tuple(needed)

    async def run(self) -> ScopeCheck:
        status, doc = await self._probe(P.key_probe())
        if status == 401 or (
            status == 400 and problem_from_response(400, doc, "").code in _AUTH_CODES
        ):
            detail = (
                "Klaviyo rejected the API key (HTTP 401): check the destination's "
                "api_key_env or api_key_file"
            )
            return ScopeCheck(False, self.needed, detail)
        known = {"lists:read": status != 403}
        unchecked = []
        for scope in self.needed:
            if scope in known:
                continue
            request = P.scope_probe(scope)
            if request is None:
                unchecked.append(scope)
                continue
            probed, _ = await self._probe(request)
            known[scope] = probed != 403
        missing = tuple(s for s in self.needed if known.get(s) is False)
        return ScopeCheck(True, missing, self._detail(missing, unchecked))

    async def _probe(self, request: P.Request) -> tuple[int, Any]:
        accept = frozenset({400, 401, 403, 404, 409, 422})
        return await self.client._send(request, accept=accept, max_wait=CHECK_MAX_WAIT)

    def _detail(self, missing: tuple[str, ...], unchecked: list[str]) -> str:
        parts = []
        if missing:
            parts.append(
                f"the API key lacks {', '.join(missing)}: create a private key with "
                "lists:write and profiles:write (Klaviyo: Settings → API keys) and set it in "
                "the destination's api_key_env or api_key_file"
            )
        else:
            parts.append("the API key is valid and has every needed scope")
        if unchecked:
            parts.append(f"not checked (no probe for them): {', '.join(unchecked)}")
        return "; ".join(parts)


# --- helpers ------------------------------------------------------------------------------


def _headers(settings: KlaviyoSettings) -> dict[str, str]:
    return {
        "Authorization": f"Klaviyo-API-Key {settings.api_key}",
        "revision": settings.revision,
        "accept": JSONAPI,
        "user-agent": f"herald/{__version__} httpx/{httpx.__version__}",
    }


def _transport(concurrency: int) -> httpx.AsyncHTTPTransport:
    # Keep-alive connections, one per concurrent request. TCP_NODELAY: httpx writes a POST's
    # headers and body separately, and Nagle plus delayed ACKs would add ~40 ms to each.
    return httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
    )


def _is_loopback(base_url: str) -> bool:
    host = httpx.URL(base_url).host
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _nobody_listens(settings: KlaviyoSettings) -> str:
    port = httpx.URL(settings.base_url).port or 80
    return (
        f"nothing answers on this machine's port {port} (destination '{settings.name}'): "
        f"start the Klaviyo sandbox with `herald sandbox klaviyo --port {port}`, or fix "
        "base_url in herald.toml"
    )


def _transport_detail(exc: Exception) -> str:
    # httpx messages do not carry URLs or headers, but scrub anyway: a filter holds emails.
    return redact(str(exc)) or "the connection failed"


def _int(value: str | None) -> int | None:
    try:
        return None if value is None else int(float(value))
    except ValueError:
        return None


class _DropQuery(logging.Filter):
    """Logs httpx's request lines without their query strings, which can hold emails
    (``filter=any(email,[…])``), percent-encoded beyond the reach of ``redact``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                a.copy_with(query=None) if isinstance(a, httpx.URL) else a for a in record.args
            )
        return True


def _redact_httpx_logs() -> None:
    install_log_redaction()  # every record (httpx, httpcore, Herald) through herald.redact
    target = logging.getLogger("httpx")
    if not any(isinstance(f, _DropQuery) for f in target.filters):
        target.addFilter(_DropQuery())
