"""The client over ``httpx.MockTransport``: headers, retries, recovery, error translation."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from herald.destinations.klaviyo_api.client import KlaviyoClient
from herald.destinations.klaviyo_api.retry import RetryPolicy
from herald.exceptions import FatalSyncError, RetriableSyncError

KEY = "pk_secret_1234567890abcdef"
Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, fake_time: Any, settings: Any, **kw: Any) -> KlaviyoClient:
    return KlaviyoClient(
        settings(key=KEY, **kw),
        transport=httpx.MockTransport(handler),
        clock=fake_time,
        sleep=fake_time.sleep,
    )


def created(kind: str, ident: str, status: int = 201) -> httpx.Response:
    return httpx.Response(status, json={"data": {"type": kind, "id": ident, "attributes": {}}})


def error(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    doc = {
        "errors": [
            {
                "id": "e",
                "status": status,
                "code": code,
                "title": "T.",
                "detail": detail,
                "source": {},
            }
        ]
    }
    return httpx.Response(status, json=doc, headers=headers)


def test_headers_and_body(fake_time: Any, settings: Any, run: Any) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return created("list", "L1")

    async def go() -> str:
        async with client(handler, fake_time, settings) as c:
            return await c.create_list("VIP")

    assert run(go()) == "L1"
    [req] = seen
    assert req.headers["authorization"] == f"Klaviyo-API-Key {KEY}"
    assert req.headers["revision"] == "2026-07-15"
    assert req.headers["accept"] == req.headers["content-type"] == "application/vnd.api+json"
    assert req.headers["user-agent"].startswith("herald/")
    assert json.loads(req.content) == {"data": {"type": "list", "attributes": {"name": "VIP"}}}


def test_429_waits_retry_after_and_pauses_the_operation(
    fake_time: Any, settings: Any, run: Any
) -> None:
    replies = [
        error(429, "throttled", "Expected available in 4 seconds.", {"Retry-After": "4"}),
        httpx.Response(200, json={"data": [], "links": {}}),
    ]

    async def go() -> Any:
        async with client(lambda r: replies.pop(0), fake_time, settings) as c:
            assert await c.find_list("VIP") is None
            return c.request_counts()

    assert run(go()) == {("get_lists", 429): 1, ("get_lists", 200): 1}
    assert 4.0 <= sum(fake_time.sleeps) <= 4.5


def test_transport_failures_and_5xx_are_retried(fake_time: Any, settings: Any, run: Any) -> None:
    replies: list[Any] = [
        httpx.RemoteProtocolError("Server disconnected"),
        httpx.ReadTimeout("slow"),
        error(503, "service_unavailable", "down"),
        httpx.ConnectError("refused"),
        httpx.Response(
            200, json={"data": {"id": "J1", "attributes": {"status": "complete", "total_count": 1}}}
        ),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        reply = replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply  # type: ignore[no-any-return]

    async def go() -> Any:
        async with client(handler, fake_time, settings) as c:
            job = await c.get_import("J1")
            return job.status, c.request_counts()

    status, counts = run(go())
    assert status == "complete"
    assert counts == {
        ("get_bulk_import_profiles_job", 0): 3,
        ("get_bulk_import_profiles_job", 503): 1,
        ("get_bulk_import_profiles_job", 200): 1,
    }


def test_create_list_finds_the_list_a_lost_response_created(
    fake_time: Any, settings: Any, run: Any
) -> None:
    lists: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            lists.append("VIP")  # Klaviyo created it, then the connection dropped
            raise httpx.ReadError("connection reset by peer")
        data = [{"id": f"L{i}", "attributes": {"name": n}} for i, n in enumerate(lists)]
        return httpx.Response(200, json={"data": data, "links": {}})

    async def go() -> str:
        async with client(handler, fake_time, settings) as c:
            return await c.create_list("VIP")

    assert run(go()) == "L0"
    assert lists == ["VIP"]  # not created twice


def test_errors_name_the_operation_and_hide_personal_data_and_the_key(
    fake_time: Any, settings: Any, run: Any
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return error(400, "invalid", "Invalid filter value ann@example.com or +15005550006.")

    async def go() -> None:
        async with client(handler, fake_time, settings) as c:
            await c.find_profiles("email", ["ann@example.com"])

    with pytest.raises(FatalSyncError) as info:
        run(go())
    message = str(info.value)
    assert "get_profiles" in message
    assert "HTTP 400 invalid" in message
    assert "ann@example.com" not in message
    assert "5005550006" not in message
    assert KEY not in message


def test_retries_stop_at_max_wait(fake_time: Any, settings: Any, run: Any) -> None:
    async def go() -> None:
        async with client(
            lambda r: error(500, "error", "boom"), fake_time, settings, max_wait=20
        ) as c:
            await c.get_import("J1")

    with pytest.raises(
        RetriableSyncError, match="get_bulk_import_profiles_job failed: still failing"
    ):
        run(go())
    assert sum(fake_time.sleeps) <= 20


def test_an_oversized_import_is_refused_before_sending(
    fake_time: Any, settings: Any, run: Any
) -> None:
    async def go() -> None:
        async with client(lambda r: created("x", "y"), fake_time, settings) as c:
            await c.start_import([{"email": "a@x.io", "properties": {"b": "x" * 5_000_000}}], "L1")

    with pytest.raises(
        ValueError, match=r"over 5,000,000; batch the profiles with _plan\.import_ranges"
    ):
        run(go())


def test_paging_follows_next_links_and_matches_values(
    fake_time: Any, settings: Any, run: Any
) -> None:
    pages = {
        None: {
            "data": [{"id": "p1", "attributes": {"email": "a@x.io"}}],
            "links": {"next": "https://a.klaviyo.com/api/profiles/?page%5Bcursor%5D=2"},
        },
        "2": {"data": [{"id": "p2", "attributes": {"email": "b@x.io"}}], "links": {}},
    }
    queries: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        queries.append(dict(request.url.params))
        return httpx.Response(200, json=pages[request.url.params.get("page[cursor]")])

    async def go() -> dict[str, str]:
        async with client(handler, fake_time, settings) as c:
            return await c.find_profiles("email", ["A@x.io", "b@x.io", "b@x.io", "c@x.io"])

    assert run(go()) == {"A@x.io": "p1", "b@x.io": "p2"}
    assert queries[0]["filter"] == 'any(email,["A@x.io","b@x.io","c@x.io"])'


def test_retry_policy_can_be_injected_and_repr_hides_the_key(
    fake_time: Any, settings: Any, run: Any
) -> None:
    async def go() -> None:
        async with KlaviyoClient(
            settings(key=KEY),
            transport=httpx.MockTransport(lambda r: error(502, "error", "x")),
            retry=RetryPolicy(max_wait=1),
            clock=fake_time,
            sleep=fake_time.sleep,
        ) as c:
            assert KEY not in repr(c)
            await c.get_import("J")

    with pytest.raises(RetriableSyncError, match="max_wait 1 s"):
        run(go())
