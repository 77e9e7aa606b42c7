"""The limiter on a fake clock: no window ever over its limit, exact waits, pauses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.destinations.klaviyo_api.limits import RateLimit
from herald.destinations.klaviyo_api.ratelimit import RateLimiter
from herald.exceptions import FatalSyncError, RetriableSyncError

Run = Callable[[Coroutine[Any, Any, Any]], Any]


def limiter(fake_time: Any, margin: float = 0.0, **limits: RateLimit) -> RateLimiter:
    return RateLimiter(limits, clock=fake_time, sleep=fake_time.sleep, margin=margin)


def max_in_any_window(times: list[float], seconds: float) -> int:
    """The most sends in any half-open interval of ``seconds`` (intervals start at a send)."""
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - seconds + 1e-9:  # float rounding, not a real overlap
            j += 1
        best = max(best, i - j + 1)
    return best


def test_waits_exactly_for_the_burst_window(fake_time: Any, run: Run) -> None:
    lim = limiter(fake_time, op=RateLimit(burst=3, steady=100))

    async def go() -> list[float]:
        return [await lim.acquire("op") for _ in range(7)]

    assert run(go()) == [0, 0, 0, 1.0, 0, 0, 1.0]
    assert fake_time.now == 1_002.0


def test_waits_exactly_for_the_steady_window(fake_time: Any, run: Run) -> None:
    lim = limiter(fake_time, op=RateLimit(burst=10, steady=12))

    async def go() -> list[float]:
        return [await lim.acquire("op") for _ in range(13)]

    waits = run(go())
    # 10 in the first second, 2 after the burst window, then the 13th waits for the
    # first send to leave the 60 s window.
    assert waits[:10] == [0] * 10
    assert waits[10] == 1.0
    assert waits[11] == 0
    assert waits[12] == pytest.approx(59.0)


def test_margin_widens_every_window(fake_time: Any, run: Run) -> None:
    lim = limiter(fake_time, margin=0.1, op=RateLimit(burst=1, steady=100))

    async def go() -> list[float]:
        return [await lim.acquire("op") for _ in range(2)]

    assert run(go()) == [0, pytest.approx(1.1)]


def test_operations_have_separate_budgets(fake_time: Any, run: Run) -> None:
    lim = limiter(fake_time, a=RateLimit(1, 10), b=RateLimit(1, 10))

    async def go() -> list[float]:
        return [await lim.acquire("a"), await lim.acquire("b"), await lim.acquire("a")]

    assert run(go()) == [0, 0, 1.0]


class _Time:
    """A fake clock (hypothesis cannot use function-scoped fixtures)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


@settings(max_examples=40, deadline=None)
@given(
    burst=st.integers(1, 6),
    steady=st.integers(1, 30),
    margin=st.sampled_from([0.0, 0.1]),
    gaps=st.lists(st.floats(0, 3), min_size=1, max_size=60),
    tasks=st.integers(1, 5),
)
def test_no_window_is_ever_over_its_limit(
    burst: int, steady: int, margin: float, gaps: list[float], tasks: int
) -> None:
    clock = _Time()
    lim = RateLimiter(
        {"op": RateLimit(burst, steady)}, clock=clock, sleep=clock.sleep, margin=margin
    )
    sent: list[float] = []

    async def worker(my_gaps: list[float]) -> None:
        for gap in my_gaps:
            await clock.sleep(gap)
            await lim.acquire("op")
            sent.append(clock())

    async def go() -> None:
        await asyncio.gather(*(worker(gaps[k::tasks]) for k in range(tasks)))

    asyncio.run(go())
    assert len(sent) == len(gaps)
    # Every window of `seconds + margin` holds at most `limit` sends, so no fixed window of
    # `seconds` can, wherever Klaviyo aligns it.
    assert max_in_any_window(sent, 1.0 + margin) <= burst
    assert max_in_any_window(sent, 60.0 + margin) <= steady


def test_retry_after_pauses_the_operation(fake_time: Any, run: Run) -> None:
    lim = limiter(fake_time, op=RateLimit(10, 100), other=RateLimit(10, 100))

    async def go() -> tuple[float, float]:
        lim.pause("op", 7.0)
        return await lim.acquire("other"), await lim.acquire("op")

    assert run(go()) == (0, 7.0)
    assert lim.delay("op") == (0.0, None)


def test_headers_lower_the_limit_and_an_empty_window_pauses(fake_time: Any, run: Run) -> None:
    lim = limiter(fake_time, op=RateLimit(75, 750))
    lim.observe("op", limit=700, remaining=5, reset=30)
    assert lim.limit("op") == RateLimit(75, 700)
    lim.observe("op", limit=900)  # never above the table
    assert lim.limit("op") == RateLimit(75, 700)
    lim.observe("op", remaining=0, reset=12)
    assert lim.delay("op") == (12.0, "paused")


def test_waits_longer_than_max_wait_fail_at_once(fake_time: Any, run: Run) -> None:
    lim = limiter(fake_time, create_list=RateLimit(10, 150, daily=2), op=RateLimit(1, 1))

    async def daily() -> None:
        for _ in range(3):
            await lim.acquire("create_list", max_wait=600)

    with pytest.raises(
        FatalSyncError, match="daily cap is used up; it is possible again in about 24 h"
    ):
        run(daily())

    async def steady() -> None:
        for _ in range(2):
            await lim.acquire("op", max_wait=30)

    with pytest.raises(RetriableSyncError, match="steady rate limit needs a wait of 60 s"):
        run(steady())
    assert fake_time.sleeps == []  # it failed without waiting


def test_unknown_operations_get_the_strictest_tier(fake_time: Any, run: Run) -> None:
    lim = limiter(fake_time)
    assert lim.limit("something_new") == RateLimit(1, 15)
