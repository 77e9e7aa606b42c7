"""Rate limits from the spec's x-klaviyo-ratelimit, on an injected clock (no sleeping)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from herald.sandbox import FixedWindowLimiter, ManualClock, SandboxConfig, SandboxServer
from herald.sandbox.ratelimit import parse_rate, windows_for
from herald.sandbox.spec import operations

DAY_START = 20602 * 86400  # a UTC midnight, so every fixed window starts together


# --- the limiter alone ------------------------------------------------------------------


def test_parse_rate_reads_the_spec_format() -> None:
    assert parse_rate("burst", "10/s").seconds == 1
    assert parse_rate("steady", "150/m").limit == 150
    assert parse_rate("daily", "150/d").seconds == 86400
    assert parse_rate("burst", "3/s", scale=0.1).limit == 1  # never below one request
    with pytest.raises(ValueError, match="10 per second"):
        parse_rate("burst", "10 per second")


def test_every_operation_has_burst_and_steady_limits() -> None:
    for op in operations().values():
        names = [w.name for w in windows_for(op.ratelimit)]
        assert names[:2] == ["burst", "steady"], op.operation_id
    assert [w.limit for w in windows_for(operations()["create_list"].ratelimit)] == [10, 150, 150]


def test_burst_window_blocks_then_resets_on_the_second() -> None:
    clock = ManualClock(DAY_START + 0.25)
    limiter = FixedWindowLimiter(clock)
    windows = windows_for({"burst": "3/s", "steady": "60/m"})
    assert all(limiter.hit("k", windows).allowed for _ in range(3))
    blocked = limiter.hit("k", windows)
    assert (blocked.allowed, blocked.window, blocked.retry_after) == (False, "burst", 1)
    clock.advance(0.75)  # the next 1 s window starts at DAY_START + 1
    assert limiter.hit("k", windows).allowed


def test_steady_window_retry_after_counts_to_the_minute_boundary() -> None:
    clock = ManualClock(DAY_START)
    limiter = FixedWindowLimiter(clock)
    windows = windows_for({"burst": "10/s", "steady": "5/m"})
    for _ in range(5):
        decision = limiter.hit("k", windows)
        clock.advance(2)
    assert (decision.limit, decision.remaining, decision.reset) == (5, 0, 52)
    clock.now = DAY_START + 30.5
    blocked = limiter.hit("k", windows)
    assert (blocked.allowed, blocked.window, blocked.retry_after) == (False, "steady", 30)
    clock.now = DAY_START + 60
    assert limiter.hit("k", windows).allowed


def test_throttled_requests_are_not_counted() -> None:
    clock = ManualClock(DAY_START)
    limiter = FixedWindowLimiter(clock)
    windows = windows_for({"burst": "1/s", "steady": "3/m"})
    limiter.hit("k", windows)
    for _ in range(50):
        assert not limiter.hit("k", windows).allowed
    clock.advance(1)
    assert limiter.hit("k", windows).remaining == 1


def test_keys_are_counted_apart() -> None:
    limiter = FixedWindowLimiter(ManualClock(DAY_START))
    windows = windows_for({"burst": "1/s", "steady": "60/m"})
    assert limiter.hit(("acct", "create_list"), windows).allowed
    assert limiter.hit(("acct", "get_lists"), windows).allowed
    assert limiter.hit(("other", "create_list"), windows).allowed
    assert not limiter.hit(("acct", "create_list"), windows).allowed


# --- over HTTP --------------------------------------------------------------------------


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(DAY_START)


def _serve(clock: ManualClock, limits: str = "klaviyo", **kw: Any) -> SandboxServer:
    return SandboxServer(SandboxConfig(limits=limits, clock=clock, job_tick=None, **kw))


@pytest.fixture
def limited(clock: ManualClock) -> Iterator[httpx.Client]:
    with _serve(clock) as s, s.client() as c:
        yield c


def _create(c: httpx.Client, name: str = "L") -> httpx.Response:
    return c.post("/api/lists", json={"data": {"type": "list", "attributes": {"name": name}}})


def test_burst_over_http_is_429_with_klaviyos_throttled_body(
    limited: httpx.Client, clock: ManualClock, openapi: Any, kit: Any
) -> None:
    assert [_create(limited).status_code for _ in range(10)] == [201] * 10
    r = _create(limited)
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "1"
    assert "RateLimit-Limit" not in r.headers
    err = r.json()["errors"][0]
    assert {k: err[k] for k in ("status", "code", "title", "detail", "source", "links")} == {
        "status": 429,
        "code": "throttled",
        "title": "Request was throttled.",
        "detail": "Request was throttled. Expected available in 1 second.",
        "source": {"pointer": "/data"},
        "links": {
            "type": "https://developers.klaviyo.com/en/docs/"
            "rate_limits_and_error_handling#rate-limits"
        },
    }
    kit.assert_matches_spec(openapi, r)
    clock.advance(1)
    assert _create(limited).status_code == 201


def test_ratelimit_headers_describe_the_steady_window(
    limited: httpx.Client, clock: ManualClock
) -> None:
    clock.advance(15)
    first, second = limited.get("/api/lists"), limited.get("/api/lists")
    assert first.headers["RateLimit-Limit"] == "750"  # get_lists is L tier: 75/s, 750/m
    assert first.headers["RateLimit-Remaining"] == "749"
    assert second.headers["RateLimit-Remaining"] == "748"
    assert first.headers["RateLimit-Reset"] == "45"


def test_endpoints_are_limited_separately(limited: httpx.Client) -> None:
    for _ in range(10):
        _create(limited)
    assert _create(limited).status_code == 429
    assert limited.get("/api/lists").status_code == 200
    assert limited.get("/api/profiles").status_code == 200


def test_steady_window_over_http(clock: ManualClock) -> None:
    with _serve(clock, limits="0.1") as s, s.client() as c:
        # x0.1: bulk import jobs allow 1/s and 15/m.
        for _ in range(15):
            assert c.get("/api/profile-bulk-import-jobs").status_code == 200
            clock.advance(1)
        r = c.get("/api/profile-bulk-import-jobs")
        assert r.status_code == 429
        assert r.headers["Retry-After"] == "45"
        assert r.json()["errors"][0]["detail"].endswith("in 45 seconds.")
        clock.advance(45)
        assert c.get("/api/profile-bulk-import-jobs").status_code == 200


def test_daily_list_creation_cap(clock: ManualClock) -> None:
    with _serve(clock) as s, s.client() as c:
        for i in range(150):  # create_list: 10/s, 150/m, 150/d
            assert _create(c, f"L{i}").status_code == 201
            clock.advance(10)
        clock.advance(3600 - 1500)
        r = _create(c)
        assert r.status_code == 429
        assert r.headers["Retry-After"] == str(86400 - 3600)
        clock.now = DAY_START + 86400
        assert _create(c).status_code == 201


def test_stricter_limit_for_profile_count(limited: httpx.Client) -> None:
    list_id = _create(limited).json()["data"]["id"]
    url = f"/api/lists/{list_id}"
    assert limited.get(url, params={"additional-fields[list]": "profile_count"}).status_code == 200
    r = limited.get(url, params={"additional-fields[list]": "profile_count"})
    assert r.status_code == 429
    assert limited.get(url).status_code == 200


def test_limits_scale_and_off(clock: ManualClock) -> None:
    with _serve(clock, limits="10") as s, s.client() as c:
        assert [_create(c).status_code for _ in range(100)] == [201] * 100
        assert _create(c).status_code == 429
    with _serve(clock, limits="off") as s, s.client() as c:
        responses = [_create(c) for _ in range(30)]
        assert {r.status_code for r in responses} == {201}
        assert "RateLimit-Limit" not in responses[0].headers


def test_list_cap(clock: ManualClock, kit: Any) -> None:
    with _serve(clock, limits="off", max_lists=2) as s, s.client() as c:
        assert [_create(c).status_code for _ in range(2)] == [201, 201]
        r = _create(c)
        assert r.status_code == 400
        assert "limit of 2 lists" in kit.error_of(r)["detail"]
