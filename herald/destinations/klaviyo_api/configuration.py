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

The API key is read through ``herald.config.read_secret`` and never shown by ``repr``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from herald.config import DestinationSettings, read_secret
from herald.destinations.klaviyo_api.limits import OPERATIONS, RateLimit, limits_for
from herald.exceptions import ConfigError

DESTINATION_TYPE = "klaviyo_api"
DEFAULT_BASE_URL = "https://a.klaviyo.com"
DEFAULT_REVISION = "2026-07-15"
_REVISION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[A-Za-z0-9]+)?$")
_NUMBERS = {"concurrency": int, "timeout": float, "max_wait": float, "poll_interval": float}


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

    @classmethod
    def from_destination(
        cls, name: str, settings: DestinationSettings, *, load_key: bool = True
    ) -> KlaviyoSettings:
        """Read a ``[destinations.NAME]`` table.

        Args:
            name: the destination's name.
            settings: its table.
            load_key: read the API key now; False leaves it empty (for listing destinations).

        Raises:
            ConfigError: naming the destination and the key to fix; never showing the secret.
        """
        if settings.type != DESTINATION_TYPE:
            msg = f"destination '{name}' has type '{settings.type}', not '{DESTINATION_TYPE}'"
            raise ConfigError(msg)
        extra = dict(settings.model_extra or {})
        key = read_secret(settings, "api_key", name) if load_key else ""
        scale = _positive(name, "limits_scale", extra.get("limits_scale", 1.0), float)
        numbers = {
            k: _positive(name, k, extra[k], kind) for k, kind in _NUMBERS.items() if k in extra
        }
        return cls(
            name=name,
            api_key=key,
            base_url=_base_url(name, extra.get("base_url", DEFAULT_BASE_URL)),
            revision=_revision(name, extra.get("revision", DEFAULT_REVISION)),
            limits=limits_for(_overrides(name, extra.get("limits") or {}), scale),
            limits_scale=scale,
            **numbers,
        )


def key_source(settings: DestinationSettings) -> str:
    """Where a destination's key comes from, e.g. ``env KLAVIYO_API_KEY`` (never the key)."""
    extra = settings.model_extra or {}
    if extra.get("api_key_env"):
        return f"env {extra['api_key_env']}"
    if extra.get("api_key_file"):
        return f"file {extra['api_key_file']}"
    return "(not set)"


def _positive(name: str, key: str, value: Any, kind: type[int] | type[float]) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        number = 0
    if isinstance(value, bool) or number <= 0:
        msg = f"destination '{name}': {key} must be a positive number, not {value!r}"
        raise ConfigError(msg)
    return number


def _base_url(name: str, value: Any) -> str:
    url = str(value).rstrip("/")
    if not re.match(r"^https?://[^/\s]+", url):
        msg = f"destination '{name}': base_url must look like https://a.klaviyo.com, not {value!r}"
        raise ConfigError(msg)
    return url


def _revision(name: str, value: Any) -> str:
    if not isinstance(value, str) or not _REVISION_RE.match(value):
        msg = f"destination '{name}': revision must look like 2026-07-15, not {value!r}"
        raise ConfigError(msg)
    return value


def _overrides(name: str, table: Any) -> dict[str, RateLimit]:
    if not isinstance(table, Mapping):
        msg = (
            f"destination '{name}': limits must be a table such as "
            "{ create_list = { burst = 5 } }"
        )
        raise ConfigError(msg)
    out = {}
    for op_id, values in table.items():
        if op_id not in OPERATIONS:
            close = difflib.get_close_matches(op_id, list(OPERATIONS), n=1)
            hint = (
                f" Did you mean {close[0]}?"
                if close
                else f" Known: {', '.join(sorted(OPERATIONS))}."
            )
            msg = f"destination '{name}': limits.{op_id} is not an operation Herald calls.{hint}"
            raise ConfigError(msg)
        out[op_id] = _override(name, op_id, values, OPERATIONS[op_id].limit)
    return out


def _override(name: str, op_id: str, values: Any, default: RateLimit) -> RateLimit:
    if not isinstance(values, Mapping) or not set(values) <= {"burst", "steady", "daily"}:
        msg = (
            f"destination '{name}': limits.{op_id} takes burst, steady and daily, "
            "e.g. { burst = 5, steady = 100 }"
        )
        raise ConfigError(msg)
    where = f"limits.{op_id}"
    burst = _positive(name, f"{where}.burst", values.get("burst", default.burst), int)
    steady = _positive(name, f"{where}.steady", values.get("steady", default.steady), int)
    daily = values.get("daily", default.daily)
    daily = None if daily is None else _positive(name, f"{where}.daily", daily, int)
    return RateLimit(burst, steady, daily)
