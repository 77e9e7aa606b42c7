"""Settings of a ``type = "klaviyo_api"`` destination, read from ``[destinations.NAME]``.

Example ``herald.toml``::

    [destinations.klaviyo]
    type = "klaviyo_api"
    api_key_env = "KLAVIYO_API_KEY"      # or api_key_file = "~/.config/klaviyo.key"
    # base_url = "http://127.0.0.1:8700" # the sandbox (`herald sandbox klaviyo`)
    # revision = "2026-07-15"
    # concurrency = 4
    # timeout = 30
    # max_wait = 600
    # poll_interval = 2                 # most seconds between polls of import jobs
    # limits_scale = 10                  # for a sandbox run with --limits 10
    # limits = { create_list = { burst = 5, steady = 100 } }

:class:`KlaviyoDestinationSettings` is the table as written (any other key is an error);
:class:`KlaviyoSettings` is what a client needs, with the API key read through
``herald.destinations.settings.read_secret``, checked, registered with the redactor and never
shown by ``repr``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from pydantic import Field, ValidationInfo, field_validator

from herald.destinations.klaviyo_api.limits import OPERATIONS, RateLimit, limits_for
from herald.destinations.registry import parse_destination
from herald.destinations.settings import (
    DestinationSettings,
    SecretSettings,
    check_secret,
    read_secret,
)
from herald.exceptions import ConfigError
from herald.redact import register_secret

DESTINATION_TYPE = "klaviyo_api"
DEFAULT_BASE_URL = "https://a.klaviyo.com"
DEFAULT_REVISION = "2026-07-15"
_REVISION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[A-Za-z0-9]+)?$")


class KlaviyoDestinationSettings(SecretSettings):
    """A ``[destinations.NAME]`` table of ``type = "klaviyo_api"``, as written in herald.toml."""

    base_url: str = DEFAULT_BASE_URL
    """Klaviyo's API host, or a sandbox's URL such as ``http://127.0.0.1:8700``."""
    revision: str = DEFAULT_REVISION
    """The pinned API revision."""
    concurrency: int = 4
    """Requests in flight at once."""
    timeout: float = 30.0
    """Seconds before one HTTP request times out."""
    max_wait: float = 600.0
    """The longest single wait and total retry time of one request, in seconds."""
    poll_interval: float = 2.0
    """The most seconds between two rounds of polling import jobs."""
    limits_scale: float = 1.0
    """The multiplier applied to the spec's rate limits (10 for a sandbox run with --limits 10)."""
    limits: dict[str, RateLimit] = Field(default_factory=dict)
    """Per-operation overrides such as ``{ create_list = { burst = 5, steady = 100 } }``."""

    @field_validator("concurrency", mode="before")
    @classmethod
    def _count(cls, value: Any) -> int:
        return int(_positive("concurrency", value, int))

    @field_validator("timeout", "max_wait", "poll_interval", "limits_scale", mode="before")
    @classmethod
    def _seconds(cls, value: Any, info: ValidationInfo) -> float:
        return float(_positive(str(info.field_name), value, float))

    @field_validator("base_url", mode="before")
    @classmethod
    def _url(cls, value: Any) -> str:
        return _base_url(value)

    @field_validator("revision", mode="before")
    @classmethod
    def _pinned(cls, value: Any) -> str:
        return _revision(value)

    @field_validator("limits", mode="before")
    @classmethod
    def _limits(cls, value: Any) -> dict[str, RateLimit]:
        return _overrides(value)


@dataclass(frozen=True)
class KlaviyoSettings:
    """How to reach one Klaviyo account.

    Attributes:
        name: the destination's name in ``herald.toml``.
        api_key: the private API key; empty when read with ``load_key=False``. Not in ``repr``.
        base_url: Klaviyo's API host, or a sandbox's URL.
        revision: the pinned API revision, sent as the ``revision`` header.
        concurrency: requests in flight at once (and HTTP connections kept alive).
        timeout: seconds before one HTTP request times out.
        max_wait: the longest single wait (Retry-After, backoff or rate-limit pause) and the
            longest total retry time of one request, in seconds.
        poll_interval: the most seconds between two rounds of polling bulk import jobs.
        limits: per-operation rate limits to pace by (the spec's, scaled and overridden).
        limits_scale: the multiplier applied to the spec's limits.
    """

    name: str
    api_key: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    revision: str = DEFAULT_REVISION
    concurrency: int = 4
    timeout: float = 30.0
    max_wait: float = 600.0
    poll_interval: float = 2.0
    limits: Mapping[str, RateLimit] = field(default_factory=limits_for, repr=False)
    limits_scale: float = 1.0

    def __post_init__(self) -> None:
        # A key with a line break or an invisible character would make httpx refuse the
        # header and put the key in its error; refuse it here, by name, without showing it.
        register_secret(self.api_key)
        if self.api_key:
            check_secret(self.api_key, f"destination '{self.name}': the api_key")

    @classmethod
    def from_destination(
        cls, name: str, settings: DestinationSettings, *, load_key: bool = True
    ) -> KlaviyoSettings:
        """Read a ``[destinations.NAME]`` table.

        Args:
            name: the destination's name.
            settings: its table (a :class:`KlaviyoDestinationSettings` from herald.toml).
            load_key: read the API key now; False leaves it empty (for listing destinations).

        Raises:
            ConfigError: naming the destination and the key to fix; never showing the secret.
        """
        if settings.type != DESTINATION_TYPE:
            msg = f"destination '{name}' has type '{settings.type}', not '{DESTINATION_TYPE}'"
            raise ConfigError(msg)
        table = (
            settings
            if isinstance(settings, KlaviyoDestinationSettings)
            else cast(KlaviyoDestinationSettings, parse_destination(name, settings.model_dump()))
        )
        key = read_secret(table, "api_key", name) if load_key else ""
        return cls(
            name=name,
            api_key=key,
            base_url=table.base_url,
            revision=table.revision,
            concurrency=table.concurrency,
            timeout=table.timeout,
            max_wait=table.max_wait,
            poll_interval=table.poll_interval,
            limits=limits_for(table.limits, table.limits_scale),
            limits_scale=table.limits_scale,
        )


def key_source(settings: DestinationSettings) -> str:
    """Where a destination's key comes from, e.g. ``env KLAVIYO_API_KEY`` (never the key)."""
    if getattr(settings, "api_key_env", None):
        return f"env {settings.api_key_env}"  # type: ignore[attr-defined]
    if getattr(settings, "api_key_file", None):
        return f"file {settings.api_key_file}"  # type: ignore[attr-defined]
    return "(not set)"


def _positive(key: str, value: Any, kind: type[int] | type[float]) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        number = 0
    if isinstance(value, bool) or number <= 0:
        msg = f"{key} must be a positive number, not {value!r}"
        raise ValueError(msg)
    return number


def _base_url(value: Any) -> str:
    url = str(value).rstrip("/")
    if not re.match(r"^https?://[^/\s]+", url):
        msg = f"base_url must look like https://a.klaviyo.com, not {value!r}"
        raise ValueError(msg)
    return url


def _revision(value: Any) -> str:
    if not isinstance(value, str) or not _REVISION_RE.match(value):
        msg = f"revision must look like 2026-07-15, not {value!r}"
        raise ValueError(msg)
    return value


def _overrides(table: Any) -> dict[str, RateLimit]:
    if not isinstance(table, Mapping):
        msg = "limits must be a table such as { create_list = { burst = 5 } }"
        raise ValueError(msg)
    out = {}
    for op_id, values in table.items():
        if isinstance(values, RateLimit):
            out[op_id] = values
            continue
        if op_id not in OPERATIONS:
            close = difflib.get_close_matches(op_id, list(OPERATIONS), n=1)
            hint = (
                f" Did you mean {close[0]}?"
                if close
                else f" Known: {', '.join(sorted(OPERATIONS))}."
            )
            msg = f"limits.{op_id} is not an operation Herald calls.{hint}"
            raise ValueError(msg)
        out[op_id] = _override(op_id, values, OPERATIONS[op_id].limit)
    return out


def _override(op_id: str, values: Any, default: RateLimit) -> RateLimit:
    if not isinstance(values, Mapping) or not set(values) <= {"burst", "steady", "daily"}:
        msg = f"limits.{op_id} takes burst, steady and daily, e.g. {{ burst = 5, steady = 100 }}"
        raise ValueError(msg)
    where = f"limits.{op_id}"
    burst = _positive(f"{where}.burst", values.get("burst", default.burst), int)
    steady = _positive(f"{where}.steady", values.get("steady", default.steady), int)
    daily = values.get("daily", default.daily)
    daily = None if daily is None else _positive(f"{where}.daily", daily, int)
    return RateLimit(burst, steady, daily)
