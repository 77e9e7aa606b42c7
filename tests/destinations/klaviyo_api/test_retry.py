"""The retry policy: Retry-After, jittered backoff, bounds, giving up."""

from __future__ import annotations

import random

import pytest

from herald.destinations.klaviyo_api._errors import ApiProblem
from herald.destinations.klaviyo_api.retry import RetryPolicy
from herald.exceptions import FatalSyncError, RetriableSyncError


def policy(**kw: float) -> RetryPolicy:
    return RetryPolicy(rng=random.Random(7), **kw)  # type: ignore[arg-type]


def throttled(seconds: float | None, op: str = "get_lists") -> ApiProblem:
    return ApiProblem(op, 429, "throttled", detail="Request was throttled.", retry_after=seconds)


def test_429_waits_retry_after_plus_a_little_jitter() -> None:
    state = policy().start("get_lists")
    delays = [state.next_delay(throttled(3)) for _ in range(20)]
    assert all(3.0 <= d <= 3.3 for d in delays)
    assert len(set(delays)) > 1  # workers throttled together come back apart
    assert 1.0 <= policy().start("get_lists").next_delay(throttled(None)) <= 1.1
    assert 0.0 <= policy().start("get_lists").next_delay(throttled(0)) <= 0.1


def test_server_errors_back_off_exponentially_with_full_jitter() -> None:
    p = policy(base=0.5, cap=30, max_wait=10_000)
    for attempt in range(1, 12):
        bound = min(30.0, 0.5 * 2 ** (attempt - 1))
        samples = []
        for seed in range(30):
            state = RetryPolicy(rng=random.Random(seed), base=0.5, cap=30, max_wait=10_000).start(
                "op"
            )
            for _ in range(attempt - 1):
                state.next_delay(ApiProblem("op", 503))
            samples.append(state.next_delay(ApiProblem("op", 503)))
        assert all(0 <= s <= bound for s in samples)
        assert max(samples) > bound / 2  # full jitter spreads over the whole range
    assert p.start("op").next_delay(ApiProblem("op", 0, "ReadError")) <= 0.5


def test_gives_up_when_total_waiting_would_pass_max_wait() -> None:
    state = policy(max_wait=20, base=1, cap=8).start("bulk_import_profiles")
    problem = ApiProblem("bulk_import_profiles", 502, "error", detail="Bad gateway.")
    for _ in range(100):
        try:
            state.next_delay(problem)
        except RetriableSyncError as exc:
            info = exc
            break
    else:
        raise AssertionError("never gave up")
    assert state.waited <= 20
    message = str(info)
    assert "bulk_import_profiles" in message
    assert "HTTP 502" in message
    assert f"after {state.attempts} attempts" in message
    assert "Run the campaign again later." in message


def test_a_retry_after_beyond_max_wait_gives_up_at_once() -> None:
    state = policy(max_wait=30).start("get_lists")
    with pytest.raises(RetriableSyncError, match="asks to wait 45 s, more than max_wait"):
        state.next_delay(throttled(45))
    assert state.waited == 0


def test_the_daily_list_cap_is_fatal_and_says_when() -> None:
    state = policy().start("create_list")
    with pytest.raises(FatalSyncError, match=r"daily cap is reached .* again in about 3 h 0 min"):
        state.next_delay(throttled(10_800, "create_list"))


def test_client_errors_are_not_retried() -> None:
    with pytest.raises(FatalSyncError, match="HTTP 404"):
        policy().start("get_bulk_import_profiles_job").next_delay(
            ApiProblem("get_bulk_import_profiles_job", 404, "not_found")
        )
