"""Settings of one sandbox: API keys and scopes, limits, faults, seed, bounces, clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from herald.exceptions import ConfigError
from herald.sandbox.faults import FaultSpec
from herald.sandbox.spec import all_scopes

#: The key a default sandbox accepts. It is not a secret: the sandbox is local.
DEFAULT_API_KEY = "pk_sandbox_herald_0000000000000000"

Clock = Callable[[], float]


def mask_key(key: str) -> str:
    """Show an API key without revealing it, e.g. ``pk_s…0000``.

    >>> mask_key("pk_sandbox_herald_0000000000000000")
    'pk_s…0000'
    """
    return f"{key[:4]}…{key[-4:]}" if len(key) > 12 else "…"


@dataclass(frozen=True)
class ApiKey:
    """A private API key the sandbox accepts.

    Attributes:
        key: the secret sent as ``Authorization: Klaviyo-API-Key <key>``.
        scopes: what it may do, e.g. ``{"lists:read"}``. A ``:write`` scope implies
            ``:read``, as a Klaviyo key with full access to a category can read it too.
        account: the account it belongs to; rate limits are per account.
    """

    key: str
    scopes: frozenset[str] = field(default_factory=all_scopes)
    account: str = "sandbox"

    def __repr__(self) -> str:
        scopes = sorted(self.scopes)
        return f"ApiKey(key={mask_key(self.key)!r}, scopes={scopes}, account={self.account!r})"

    def allows(self, needed: tuple[str, ...]) -> bool:
        """Whether this key has every scope in ``needed``."""
        granted = set(self.scopes) | {s.replace(":write", ":read") for s in self.scopes}
        return all(s in granted for s in needed)


def parse_limits(value: str | float | None) -> float | None:
    """Parse ``--limits``: ``klaviyo`` (1.0), ``off`` (None) or a multiplier such as ``10``.

    >>> parse_limits("klaviyo"), parse_limits("off"), parse_limits("10")
    (1.0, None, 10.0)

    Raises:
        ConfigError: on anything else.
    """
    if value is None or value == "off":
        return None
    if value == "klaviyo":
        return 1.0
    try:
        scale = float(value)
    except ValueError:
        msg = f"--limits must be 'klaviyo', 'off' or a positive number, not {value!r}"
        raise ConfigError(msg) from None
    if scale <= 0:
        msg = f"--limits must be a positive multiplier, not {value!r}"
        raise ConfigError(msg)
    return scale


@dataclass
class SandboxConfig:
    """How one sandbox behaves.

    Attributes:
        api_keys: the keys it accepts; by default one key with every scope.
        limits: ``"klaviyo"``, ``"off"`` or a multiplier for every rate limit.
        faults: a fault SPEC string (see ``herald.sandbox.faults``) or a parsed FaultSpec.
        seed: seeds ids and faults, so a run can be repeated.
        bounce_share: share of profiles that hard-bounce when added to a list; Klaviyo then
            suppresses them and removes them from every list. 0 turns bounces off.
        job_tick: seconds between steps of the job worker (queued → processing → complete);
            None means no worker: tests step jobs with ``state.advance_jobs()``.
        max_lists: the account's cap on lists (Klaviyo: 1,000 lists and segments).
        validate: check request bodies against the spec (turn off only to measure its cost).
        read_timeout: seconds a request may take to arrive whole (request line, headers and
            body); a connection that stalls longer is closed, so stalled clients cannot take
            every connection slot.
        clock: the time source for rate limits and timestamps.
    """

    api_keys: list[ApiKey] = field(default_factory=lambda: [ApiKey(DEFAULT_API_KEY)])
    limits: str | float = "klaviyo"
    faults: str | FaultSpec = ""
    seed: int = 0
    bounce_share: float = 0.0
    job_tick: float | None = 0.05
    max_lists: int = 1000
    validate: bool = True
    read_timeout: float = 10.0
    clock: Clock = time.time

    @property
    def limit_scale(self) -> float | None:
        """The multiplier for every rate limit, or None when limits are off."""
        return parse_limits(self.limits if isinstance(self.limits, str) else str(self.limits))

    @property
    def fault_spec(self) -> FaultSpec:
        """The parsed faults.

        Raises:
            ConfigError: when the SPEC does not parse.
        """
        if isinstance(self.faults, FaultSpec):
            return self.faults
        try:
            return FaultSpec.parse(self.faults)
        except ValueError as exc:
            msg = f"--faults: {exc}"
            raise ConfigError(msg) from None

    def key(self, secret: str) -> ApiKey | None:
        """The configured key with this secret, if any."""
        return next((k for k in self.api_keys if k.key == secret), None)


class ManualClock:
    """A clock that moves only when told to, for tests of rate limits and jobs.

    >>> clock = ManualClock(100.0)
    >>> clock.advance(1.5)
    >>> clock()
    101.5
    """

    def __init__(self, start: float = 1_780_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds
