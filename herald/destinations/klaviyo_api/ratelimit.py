"""Client-side pacing: never send more than Klaviyo's burst (1 s) and steady (60 s) limits.

Klaviyo counts requests in fixed windows whose alignment the client cannot know, so the
limiter keeps a sliding-window log of send times: if no interval of ``seconds + margin``
holds more than ``limit`` sends, no fixed window of ``seconds`` can either, whatever its
alignment. ``margin`` absorbs the spread between when a request leaves and when Klaviyo
counts it.

The limiter also learns from responses: a 429's ``Retry-After`` pauses the operation, and a
``RateLimit-Limit`` lower than the table (Klaviyo's L tier says 700/m in the docs and 750/m
in the spec) lowers the steady limit it paces by.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace

from herald.destinations.klaviyo_api.limits import RateLimit
from herald.exceptions import FatalSyncError, RetriableSyncError

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

#: Seconds added to each window, for the time between sending and Klaviyo's counting.
DEFAULT_MARGIN = 0.03
#: Pacing for an operation missing from the table: Klaviyo's strictest common tier (XS).
FALLBACK = RateLimit(burst=1, steady=15)


@dataclass
class _Operation:
    limit: RateLimit
    sent: dict[str, deque[float]] = field(default_factory=dict)
    paused_until: float = float("-inf")


class RateLimiter:
    """Per-operation sliding-window limiter for one Klaviyo account.

    Use one per account and event loop; ``acquire`` is safe for many tasks of one loop
    because it checks and records without awaiting in between.

    Args:
        limits: rate limits by operation id.
        clock: seconds from any fixed origin (``time.monotonic``); injected for tests.
        sleep: awaits a number of seconds (``asyncio.sleep``); injected for tests.
        margin: seconds added to every window.
    """

    def __init__(
        self,
        limits: Mapping[str, RateLimit],
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        margin: float = DEFAULT_MARGIN,
    ) -> None:
        self._limits = dict(limits)
        self._clock = clock
        self._sleep = sleep
        self._margin = margin
        self._ops: dict[str, _Operation] = {}

    def limit(self, operation: str) -> RateLimit:
        """The limits ``operation`` is paced by now (after anything learnt)."""
        return self._op(operation).limit

    def delay(self, operation: str) -> tuple[float, str | None]:
        """Seconds until ``operation`` may be sent, and the window that holds it back
        (``burst``, ``steady``, ``daily``, ``paused``), without sending."""
        return self._delay(self._op(operation), self._clock())

    async def acquire(self, operation: str, max_wait: float | None = None) -> float:
        """Wait until ``operation`` may be sent and count it as sent.

        Args:
            operation: the operation id.
            max_wait: the longest acceptable wait; None waits as long as needed.

        Returns:
            The seconds waited.

        Raises:
            FatalSyncError: when a daily cap needs a longer wait than ``max_wait``.
            RetriableSyncError: when another window needs a longer wait than ``max_wait``.
        """
        op = self._op(operation)
        waited = 0.0
        while True:
            now = self._clock()
            wait, window = self._delay(op, now)
            if wait <= 0:
                self._record(op, now)
                return waited
            if max_wait is not None and waited + wait > max_wait:
                raise _too_long(operation, window, waited + wait, max_wait)
            # Other tasks may take the slot meanwhile: check again after waking.
            await self._sleep(wait)
            waited += wait

    def pause(self, operation: str, seconds: float) -> None:
        """Send nothing for ``operation`` for ``seconds`` (after a 429's ``Retry-After``)."""
        op = self._op(operation)
        op.paused_until = max(op.paused_until, self._clock() + seconds)

    def observe(
        self,
        operation: str,
        *,
        limit: int | None = None,
        remaining: int | None = None,
        reset: float | None = None,
    ) -> None:
        """Learn from ``RateLimit-Limit``/``-Remaining``/``-Reset`` (the steady window).

        A lower limit than the table's is adopted (never a higher one), and an exhausted
        window pauses the operation until it resets: other clients of the same account
        spend the same budget.
        """
        op = self._op(operation)
        if limit is not None and 0 < limit < op.limit.steady:
            op.limit = replace(op.limit, steady=limit)
        if remaining == 0 and reset is not None and reset > 0:
            self.pause(operation, reset)

    def _op(self, operation: str) -> _Operation:
        op = self._ops.get(operation)
        if op is None:
            op = self._ops[operation] = _Operation(self._limits.get(operation, FALLBACK))
        return op

    def _delay(self, op: _Operation, now: float) -> tuple[float, str | None]:
        wait, window = op.paused_until - now, "paused"
        for name, limit, seconds in op.limit.windows():
            sent = self._prune(op, name, seconds, now)
            if len(sent) >= limit:
                # The limit-th most recent send must leave the window before the next one.
                free_at = sent[-limit] + seconds + self._margin
                if free_at - now > wait:
                    wait, window = free_at - now, name
        return (wait, window) if wait > 0 else (0.0, None)

    def _prune(self, op: _Operation, name: str, seconds: float, now: float) -> deque[float]:
        sent = op.sent.setdefault(name, deque())
        while sent and sent[0] <= now - seconds - self._margin:
            sent.popleft()
        return sent

    def _record(self, op: _Operation, now: float) -> None:
        for name, _, _ in op.limit.windows():
            op.sent.setdefault(name, deque()).append(now)


def describe_wait(seconds: float) -> str:
    """A wait for people: ``45 s``, ``12 min``, ``3 h 20 min``.

    >>> describe_wait(45), describe_wait(725), describe_wait(12_000), describe_wait(0.5)
    ('45 s', '12 min', '3 h 20 min', '0.5 s')
    """
    if seconds < 10 and seconds != round(seconds):
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def available_at(seconds: float) -> str:
    """The UTC time ``seconds`` from now, e.g. ``2026-07-16 04:00 UTC``."""
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def _too_long(operation: str, window: str | None, wait: float, max_wait: float) -> Exception:
    if window == "daily":
        msg = (
            f"Klaviyo {operation}: the daily cap is used up; it is possible again in about "
            f"{describe_wait(wait)} (around {available_at(wait)}). Reuse existing lists or "
            "run again then."
        )
        return FatalSyncError(msg)
    msg = (
        f"Klaviyo {operation}: the {window} rate limit needs a wait of {describe_wait(wait)}, "
        f"more than max_wait ({describe_wait(max_wait)}); run the campaign again later"
    )
    return RetriableSyncError(msg)
