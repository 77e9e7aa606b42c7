"""Klaviyo over its REST API: lists, bulk profile imports, list members.

``api.py`` is the interface the sync engine uses; ``client.py`` implements it over HTTP with
``configuration.py`` (settings), ``_protocol.py`` (sans-I/O requests and responses),
``_errors.py`` (error documents to typed errors), ``limits.py`` (the spec's rate limits and
caps), ``ratelimit.py`` (pacing) and ``retry.py``; ``_plan.py`` cuts a delivery into batches.
The client is imported lazily, so importing the interface does not import httpx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from herald.destinations.klaviyo_api.client import KlaviyoClient
    from herald.destinations.klaviyo_api.configuration import KlaviyoSettings

__all__ = ["KlaviyoClient", "KlaviyoSettings"]


def __getattr__(name: str) -> Any:
    if name == "KlaviyoClient":
        from herald.destinations.klaviyo_api.client import KlaviyoClient

        return KlaviyoClient
    if name == "KlaviyoSettings":
        from herald.destinations.klaviyo_api.configuration import KlaviyoSettings

        return KlaviyoSettings
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
