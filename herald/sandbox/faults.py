"""Fault injection: a seeded, deterministic share of 5xx, 429 storms, unexpected 4xx, latency,
drops, timeouts and failed jobs.

A SPEC is comma-separated ``name=value`` pairs::

    5xx=0.1,429=0.05,storm=3,latency=50ms,drop=0.01,timeout=0.01,hang=10s,job_fail=0.02

- ``5xx``: share of requests answered 500, 502, 503 or 504 (drawn evenly).
- ``429``: share of requests that start a 429 storm; ``storm``: its length in requests
  (default 1), so the next ``storm - 1`` requests to the same operation are throttled too.
- ``latency``: added delay per request, fixed (``50ms``) or uniform in a range (``10-50ms``).
- ``drop``: share of connections closed after the response headers, before the body.
- ``timeout``: share of requests held for ``hang`` (default ``30s``), then dropped.
- ``job_fail``: share of bulk import jobs that end ``cancelled`` with every profile failed.
- ``4xx``: share of requests answered with the client error ``status`` (default ``418``),
  which no client expects.
- ``only``: the operations the request faults apply to, ``+``-separated operation ids
  (default: every operation); ``after``: how many of their requests pass before any fault.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass
from typing import Literal

FaultKind = Literal["5xx", "429", "4xx", "drop", "timeout"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s)")


def _seconds(text: str) -> float:
    m = _DURATION.fullmatch(text.strip())
    if not m:
        msg = f"cannot read the duration {text!r}; expected e.g. '50ms' or '2s'"
        raise ValueError(msg)
    value = float(m.group(1))
    return value / 1000 if m.group(2) == "ms" else value


def _share(name: str, text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        msg = f"the fault share {name}={text} must be between 0 and 1"
        raise ValueError(msg)
    return value


@dataclass(frozen=True)
class FaultSpec:
    """What to inject, parsed from ``--faults``.

    Attributes:
        error_5xx: share of requests answered with a 5xx.
        throttle: share of requests that start a 429 storm.
        storm: requests per 429 storm (the first included).
        latency: (min, max) added seconds per request.
        drop: share of connections dropped after the headers.
        timeout: share of requests held for ``hang`` seconds, then dropped.
        hang: how long a timed-out request is held.
        job_fail: share of bulk import jobs that fail.
        error_4xx: share of requests answered with ``status``.
        status: the status of a ``4xx`` fault.
        only: the operation ids request faults apply to (empty: every operation).
        after: requests to those operations that pass before any fault is drawn.
    """

    error_5xx: float = 0.0
    throttle: float = 0.0
    storm: int = 1
    latency: tuple[float, float] = (0.0, 0.0)
    drop: float = 0.0
    timeout: float = 0.0
    hang: float = 30.0
    job_fail: float = 0.0
    error_4xx: float = 0.0
    status: int = 418
    only: frozenset[str] = frozenset()
    after: int = 0

    @classmethod
    def parse(cls, spec: str | None) -> FaultSpec:
        """Parse a SPEC string; an empty one injects nothing.

        >>> FaultSpec.parse("5xx=0.1,latency=10-50ms").latency
        (0.01, 0.05)

        Raises:
            ValueError: on an unknown name or a bad value; the message names the pair.
        """
        fields: dict[str, object] = {}
        for pair in filter(None, (p.strip() for p in (spec or "").split(","))):
            name, _, value = pair.partition("=")
            try:
                fields.update(_parse_pair(name.strip(), value.strip()))
            except ValueError as exc:
                msg = f"{pair}: {exc}"
                raise ValueError(msg) from None
        return cls(**fields)  # type: ignore[arg-type]

    @property
    def active(self) -> bool:
        """Whether any fault is configured."""
        return self != FaultSpec()


def _parse_pair(name: str, value: str) -> dict[str, object]:
    shares = {
        "5xx": "error_5xx",
        "429": "throttle",
        "drop": "drop",
        "timeout": "timeout",
        "job_fail": "job_fail",
        "4xx": "error_4xx",
    }
    if name in shares:
        return {shares[name]: _share(name, value)}
    if name == "storm":
        return {"storm": max(1, int(value))}
    if name == "status":
        status = int(value)
        if not 400 <= status <= 499:
            msg = f"the fault status {value} must be a 4xx"
            raise ValueError(msg)
        return {"status": status}
    if name == "only":
        return {"only": frozenset(filter(None, value.split("+")))}
    if name == "after":
        return {"after": max(0, int(value))}
    if name == "hang":
        return {"hang": _seconds(value)}
    if name == "latency":
        low, _, high = value.partition("-")
        if high:
            unit = _DURATION.fullmatch(high)
            low = low + (unit.group(2) if unit and not _DURATION.fullmatch(low) else "")
            return {"latency": (_seconds(low), _seconds(high))}
        return {"latency": (_seconds(value), _seconds(value))}
    known = ", ".join([*shares, "storm", "hang", "latency", "status", "only", "after"])
    msg = f"unknown fault {name!r}; known faults: {known}"
    raise ValueError(msg)


@dataclass(frozen=True)
class FaultPlan:
    """What happens to one request.

    Attributes:
        delay: seconds to wait before handling it.
        kind: the fault to inject instead of handling it, or None.
        status: the status for a ``5xx`` fault.
    """

    delay: float = 0.0
    kind: FaultKind | None = None
    status: int = 0


class FaultInjector:
    """Draws faults from one seeded RNG, so a seed gives the same faults in the same order.

    Args:
        spec: what to inject.
        seed: the RNG seed.
    """

    def __init__(self, spec: FaultSpec, seed: int = 0) -> None:
        self.spec = spec
        self._rng = random.Random(seed)
        self._jobs_rng = random.Random(seed + 1)
        self._storms: dict[str, int] = {}
        self._passed = 0
        self._lock = threading.Lock()

    def plan(self, operation: str) -> FaultPlan:
        """Decide the fault (if any) for the next request to ``operation``."""
        spec = self.spec
        if not spec.active or (spec.only and operation not in spec.only):
            return FaultPlan()
        with self._lock:
            if self._passed < spec.after:
                self._passed += 1
                return FaultPlan()
            low, high = spec.latency
            delay = low if low == high else self._rng.uniform(low, high)
            if self._storms.get(operation, 0) > 0:
                self._storms[operation] -= 1
                return FaultPlan(delay, "429")
            draw = self._rng.random()
            for kind, share in (
                ("5xx", spec.error_5xx),
                ("429", spec.throttle),
                ("4xx", spec.error_4xx),
                ("drop", spec.drop),
                ("timeout", spec.timeout),
            ):
                if draw < share:
                    return self._fault(operation, delay, kind)  # type: ignore[arg-type]
                draw -= share
            return FaultPlan(delay)

    def _fault(self, operation: str, delay: float, kind: FaultKind) -> FaultPlan:
        if kind == "429":
            self._storms[operation] = self.spec.storm - 1
        status = self._rng.choice((500, 502, 503, 504)) if kind == "5xx" else 0
        status = self.spec.status if kind == "4xx" else status
        return FaultPlan(delay, kind, status)

    def job_fails(self) -> bool:
        """Whether the next bulk import job fails (its own RNG, so requests do not shift it)."""
        if self.spec.job_fail <= 0:
            return False
        with self._lock:
            return self._jobs_rng.random() < self.spec.job_fail
