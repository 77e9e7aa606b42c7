"""Klaviyo's JSON:API error documents, and the exception the handlers raise to send one."""

from __future__ import annotations

import json
import uuid
from typing import Any

#: Titles Klaviyo sends per code. "invalid", "throttled" and "duplicate_profile" are observed
#: (FACTS.md); the others follow the Django REST framework defaults Klaviyo's API is built on.
TITLES = {
    "invalid": "Invalid input.",
    "not_authenticated": "Authentication credentials were not provided.",
    "authentication_failed": "Incorrect authentication credentials.",
    "permission_denied": "You do not have permission to perform this action.",
    "not_found": "Not found.",
    "method_not_allowed": "Method not allowed.",
    "conflict": "Conflict.",
    "duplicate_profile": "Conflict.",
    "unsupported_media_type": "Unsupported media type.",
    "payload_too_large": "Request entity too large.",
    "throttled": "Request was throttled.",
    "error": "A server error occurred.",
    "service_unavailable": "Service unavailable.",
}

THROTTLED_LINK = "https://developers.klaviyo.com/en/docs/rate_limits_and_error_handling#rate-limits"


class ApiError(Exception):
    """A request failed with a Klaviyo error document.

    Attributes:
        status: the HTTP status.
        code: Klaviyo's error ``code``.
        detail: the human-readable detail; never contains an email, phone or key.
        source: ``{"pointer": …}`` or ``{"parameter": …}``.
        meta: extra fields, e.g. ``duplicate_profile_id``.
        headers: extra response headers, e.g. ``Retry-After``.
        violation: whether the request broke Klaviyo's spec (the sandbox records those, see
            ``SandboxState.violations``). By default 400, 413 and 415 do; a refusal that
            depends on the account's state (the list cap, an unknown id) passes False.
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        pointer: str | None = None,
        parameter: str | None = None,
        meta: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        links: dict[str, str] | None = None,
        violation: bool | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.source: dict[str, str] = {}
        if pointer is not None:
            self.source["pointer"] = pointer
        if parameter is not None:
            self.source["parameter"] = parameter
        self.meta = meta or {}
        self.headers = headers or {}
        self.links = links or {}
        self.violation = status in (400, 413, 415) if violation is None else violation

    def document(self) -> dict[str, Any]:
        """The ``{"errors": [...]}`` body."""
        return error_document(
            self.status,
            self.code,
            self.detail,
            source=self.source,
            meta=self.meta,
            links=self.links,
        )

    def body(self) -> bytes:
        """The encoded body."""
        return json.dumps(self.document()).encode()


def error_document(
    status: int,
    code: str,
    detail: str,
    *,
    source: dict[str, str] | None = None,
    meta: dict[str, Any] | None = None,
    links: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Build one Klaviyo error document with the fields real responses carry."""
    error: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "status": status,
        "code": code,
        "title": TITLES.get(code, "Error."),
        "detail": detail,
        "source": source or {},
        "links": links or {},
        "meta": meta or {},
    }
    return {"errors": [error]}


def throttled(retry_after: int) -> ApiError:
    """Klaviyo's 429 for a request over a rate limit, body as observed (FACTS.md §2.2)."""
    unit = "second" if retry_after == 1 else "seconds"
    return ApiError(
        429,
        "throttled",
        f"Request was throttled. Expected available in {retry_after} {unit}.",
        pointer="/data",
        headers={"Retry-After": str(retry_after)},
        links={"type": THROTTLED_LINK},
    )
