"""Klaviyo's fixed-window rate limits: burst (1 s), steady (60 s) and daily, per key.

Windows are aligned to the clock (window n covers ``[n*size, (n+1)*size)``), the way a fixed
window counter is usually kept, and the clock is injected so tests never sleep.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Window:
    """One limit: at most ``limit`` requests per fixed window of ``seconds``.

    Attributes:
        name: ``burst``, ``steady`` or ``daily``.
        limit: requests allowed per window (at least 1).
        seconds: the window length.
    """

    name: str
    limit: int
    seconds: int


def parse_rate(name: str, text: str, scale: float = 1.0) -> Window:
    """Parse a spec rate such as ``10/s`` or ``150/d``, multiplied by ``scale``.

    >>> parse_rate("steady", "150/m", scale=2)
    Window(name='steady', limit=300, seconds=60)
    """
    m = re.fullmatch(r"(\d+)/([smhd])", text.strip())
    if not m:
        msg = f"cannot read the rate {text!r}; expected e.g. '10/s'"
        raise ValueError(msg)
    return Window(name, max(1, int(int(m.group(1)) * scale)), _UNITS[m.group(2)])


def windows_for(ratelimit: dict[str, str], scale: float = 1.0) -> tuple[Window, ...]:
    """The windows of an ``x-klaviyo-ratelimit`` entry, burst first."""
    order = ("burst", "steady", "daily")
    return tuple(parse_rate(n, ratelimit[n], scale) for n in order if n in ratelimit)


@dataclass(frozen=True)
class Decision:
    """The outcome of one check.

    Attributes:
        allowed: whether the request may proceed.
        retry_after: whole seconds until the blocking window resets (429 only).
        limit: the steady window's limit, for ``RateLimit-Limit``.
        remaining: requests left in the steady window, for ``RateLimit-Remaining``.
        reset: whole seconds until the steady window resets, for ``RateLimit-Reset``.
        window: the name of the blocking window, if any.
    """

    allowed: bool
    retry_after: int
    limit: int
    remaining: int
    reset: int
    window: str | None = None


class FixedWindowLimiter:
    """Counts requests per key in fixed windows. Thread-safe.

    Args:
        clock: returns the current time in seconds (``time.time`` in production).
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._counts: dict[tuple[Hashable, str], tuple[int, int]] = {}
        self._lock = threading.Lock()

    def hit(self, key: Hashable, windows: tuple[Window, ...]) -> Decision:
        """Count one request for ``key`` unless a window is full.

        A throttled request is not counted: in a fixed window it changes nothing, since the
        window stays full until it resets.
        """
        now = self._clock()
        with self._lock:
            state = []
            for w in windows:
                index = math.floor(now / w.seconds)
                idx, count = self._counts.get((key, w.name), (index, 0))
                state.append((w, index, count if idx == index else 0))
            blocked = [(w, i) for w, i, c in state if c >= w.limit]
            if not blocked:
                for w, i, c in state:
                    self._counts[(key, w.name)] = (i, c + 1)
        return self._decide(now, state, blocked)

    @staticmethod
    def _decide(
        now: float, state: list[tuple[Window, int, int]], blocked: list[tuple[Window, int]]
    ) -> Decision:
        def until_reset(w: Window, index: int) -> int:
            return max(1, math.ceil((index + 1) * w.seconds - now))

        steady = next((s for s in state if s[0].name == "steady"), state[-1])
        w, index, count = steady
        used = count if blocked else count + 1
        if blocked:
            worst = max(blocked, key=lambda b: until_reset(*b))
            return Decision(
                False,
                until_reset(*worst),
                w.limit,
                max(0, w.limit - used),
                until_reset(w, index),
                worst[0].name,
            )
        return Decision(True, 0, w.limit, max(0, w.limit - used), until_reset(w, index))
