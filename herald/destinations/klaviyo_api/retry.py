"""When to retry a failed Klaviyo request, and how long to wait first.

- 429: wait ``Retry-After`` (Klaviyo: "immediate retries will always receive a 429") plus a
  little jitter, so workers throttled together do not all come back in the same instant.
- 5xx, timeouts, connection resets, ``RemoteProtocolError``: exponential backoff with full
  jitter (AWS's "full jitter": uniform in ``[0, min(cap, base * 2**n)]``).
- Any single wait and the total wait of one request are bounded by ``max_wait``. A
  ``Retry-After`` beyond a steady window on an operation with a daily cap means the daily
  cap: that is fatal for this run, and the message says when it is possible again.

The policy holds no I/O: the client asks it for a delay and does the sleeping.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from herald.destinations.klaviyo_api._errors import ApiProblem, error_from_problem
from herald.destinations.klaviyo_api.limits import OPERATIONS
from herald.destinations.klaviyo_api.ratelimit import available_at, describe_wait
from herald.exceptions import (
    FatalKlaviyoRequestError,
    KlaviyoRequestError,
    RetriableSyncError,
)

#: Seconds of a steady window: a longer Retry-After can only come from a daily cap.
STEADY_WINDOW = 60.0


@dataclass(frozen=True)
class RetryPolicy:
    """How a client retries.

    Attributes:
        max_wait: the longest single wait and the longest total wait per request (seconds).
        base: the first backoff bound (seconds).
        cap: the largest backoff bound (seconds).
        throttle_jitter: share of ``Retry-After`` added at random (at least 0.1 s, at most 1 s).
        rng: the random source; seed it in tests.
    """

    max_wait: float = 600.0
    base: float = 0.5
    cap: float = 30.0
    throttle_jitter: float = 0.1
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def start(self, operation: str) -> RetryState:
        """The retry state of one request."""
        return RetryState(self, operation)


class RetryState:
    """The retries of one request so far.

    Args:
        policy: the policy.
        operation: the operation id, for messages.
    """

    def __init__(self, policy: RetryPolicy, operation: str) -> None:
        self.policy = policy
        self.operation = operation
        self.attempts = 0
        self.waited = 0.0

    def next_delay(self, problem: ApiProblem) -> float:
        """The seconds to wait before retrying after ``problem``, counted as waited.

        Raises:
            FatalSyncError: for a non-retriable problem, or a daily cap.
            RetriableSyncError: when waiting would pass ``max_wait`` (single or total).
        """
        self.attempts += 1
        if not problem.retriable:
            raise error_from_problem(problem)
        delay = self._throttled(problem) if problem.status == 429 else self._backoff()
        if self.waited + delay > self.policy.max_wait:
            raise self._give_up(problem, delay)
        self.waited += delay
        return delay

    def _throttled(self, problem: ApiProblem) -> float:
        retry_after = problem.retry_after if problem.retry_after is not None else 1.0
        op = OPERATIONS.get(self.operation)
        if retry_after > STEADY_WINDOW and op is not None and op.limit.daily is not None:
            raise _daily_cap(self.operation, problem, retry_after)
        spread = min(1.0, max(0.1, retry_after * self.policy.throttle_jitter))
        return retry_after + self.policy.rng.uniform(0.0, spread)

    def _backoff(self) -> float:
        bound = min(self.policy.cap, self.policy.base * 2 ** (self.attempts - 1))
        return self.policy.rng.uniform(0.0, bound)

    def _give_up(self, problem: ApiProblem, delay: float) -> KlaviyoRequestError:
        p = self.policy
        if problem.status == 429 and delay > p.max_wait:
            prefix = (
                f"Klaviyo asks to wait {describe_wait(delay)}, more than max_wait "
                f"({describe_wait(p.max_wait)}); last: "
            )
        else:
            prefix = (
                f"still failing after {self.attempts} attempts and {describe_wait(self.waited)} "
                f"of retries (max_wait {describe_wait(p.max_wait)}); last: "
            )
        error = error_from_problem(problem, prefix)
        if isinstance(error, RetriableSyncError):
            # The delivery ends failed (the run too); its next run carries on from what
            # was confirmed.
            error.args = (f"{error.args[0].rstrip('.')}. Run the campaign again later.",)
        return error


def _daily_cap(operation: str, problem: ApiProblem, retry_after: float) -> FatalKlaviyoRequestError:
    msg = (
        f"Klaviyo {operation} failed: the daily cap is reached (HTTP 429); it is possible again "
        f"in about {describe_wait(retry_after)} (around {available_at(retry_after)}). "
        "Reuse existing lists or run again then."
    )
    return FatalKlaviyoRequestError(msg, problem=problem)
