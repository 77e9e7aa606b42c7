"""Klaviyo's error documents, without I/O: what went wrong, scrubbed, and the Herald error for it.

A failed response becomes an :class:`ApiProblem` (status, Klaviyo's code and detail, with
emails and phone numbers replaced), and the problem becomes a
:class:`~herald.exceptions.KlaviyoRequestError` typed by how to recover: 429, 5xx and
transport failures are retriable, every other status is fatal. The message names the
operation and says what to do next; the problem rides on the error as ``error.problem``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from herald.core.dates import retry_after_seconds
from herald.destinations.klaviyo_api.limits import OPERATIONS
from herald.exceptions import (
    FatalKlaviyoRequestError,
    KlaviyoRequestError,
    RetriableKlaviyoRequestError,
)
from herald.redact import redact


@dataclass(frozen=True)
class ApiProblem:
    """What went wrong with one response, scrubbed of personal data.

    Attributes:
        operation: the operation id.
        status: the HTTP status (0 for a transport failure).
        code: Klaviyo's error ``code`` (``throttled``, ``invalid``, …), or "".
        title: Klaviyo's error title.
        detail: Klaviyo's detail with emails and phone numbers replaced.
        where: ``source.pointer`` or ``source.parameter``, or "".
        retry_after: the ``Retry-After`` seconds of a 429, or None.
    """

    operation: str
    status: int
    code: str = ""
    title: str = ""
    detail: str = ""
    where: str = ""
    retry_after: float | None = None

    @property
    def retriable(self) -> bool:
        """Whether the same request may succeed later (429, 5xx, transport failures)."""
        return self.status in (0, 429) or self.status >= 500

    def describe(self) -> str:
        """One line such as ``HTTP 400 invalid: 'name' is a required field. (at /data/...)``."""
        what = f"HTTP {self.status}" if self.status else "no response"
        code = f" {self.code}" if self.code else ""
        text = self.detail or self.title
        where = f" (at {self.where})" if self.where else ""
        return f"{what}{code}: {text}{where}" if text else f"{what}{code}"


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """``Retry-After`` in seconds: Klaviyo sends whole seconds; an HTTP date is accepted too.

    >>> parse_retry_after("3"), parse_retry_after(None), parse_retry_after("soon")
    (3.0, None, None)
    """
    return retry_after_seconds(value, now or dt.datetime.now(dt.UTC))


def problem_from_response(
    status: int, body: Any, operation: str, retry_after: float | None = None
) -> ApiProblem:
    """The first error of a Klaviyo error document, scrubbed."""
    errors = body.get("errors") if isinstance(body, Mapping) else None
    first = (
        errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], Mapping) else {}
    )
    source = first.get("source")
    where = ""
    if isinstance(source, Mapping):
        where = source.get("pointer") or source.get("parameter") or ""
    return ApiProblem(
        operation=operation,
        status=status,
        code=str(first.get("code") or ""),
        title=redact(str(first.get("title") or "")),
        detail=redact(str(first.get("detail") or "")),
        where=str(where),
        retry_after=retry_after,
    )


_NEXT_STEP = {
    400: "Klaviyo rejected the request as invalid; this is likely a bug in Herald or bad data",
    401: "Klaviyo rejected the API key; check the destination's api_key_env or api_key_file",
    403: "the API key lacks a scope this needs ({scopes}); create a private key with "
    "lists:write and profiles:write",
    404: "it does not exist (was the list or job deleted in Klaviyo?)",
    409: "Klaviyo reports a conflict",
    410: "the API revision is retired; set a newer revision for the destination",
    413: "the request body is too large (Klaviyo allows 5 MB and 10,000 profiles per job)",
    415: "Klaviyo refused the content type",
}


def error_from_response(
    status: int, body: Any, operation: str, retry_after: float | None = None
) -> KlaviyoRequestError:
    """The Herald error for a failed response, typed by how to recover.

    429 and 5xx give a RetriableKlaviyoRequestError; every other status a
    FatalKlaviyoRequestError. The message names the operation and carries Klaviyo's code and
    detail, scrubbed of emails and phone numbers; the scrubbed :class:`ApiProblem` is the
    error's ``problem``.
    """
    problem = problem_from_response(status, body, operation, retry_after)
    return error_from_problem(problem)


#: What Herald needs each operation for, to say why a missing scope matters.
PURPOSES = {
    "get_lists": "find lists",
    "create_list": "create lists",
    "bulk_import_profiles": "import profiles into lists",
    "get_bulk_import_profiles_job": "follow import jobs",
    "get_bulk_import_profiles_jobs": "follow import jobs",
    "get_errors_for_bulk_import_profiles_job": "read import errors",
    "get_profiles_for_list": "read list members",
    "remove_profiles_from_list": "remove profiles from lists",
    "get_profiles": "look up profiles",
    "update_list": "check the key's scopes",
    "update_profile": "check the key's scopes",
}
_SCOPE_RE = re.compile(r"\b[a-z][a-z-]*:(?:read|write)\b")


def missing_scope(
    destination: str, problem: ApiProblem, granted: Collection[str] = ()
) -> FatalKlaviyoRequestError | None:
    """The error for Klaviyo's 403 ``permission_denied``: the scope the key lacks, named.

    The scope is the operation's (``x-klaviyo-scopes``) that Klaviyo's message names, else
    those not ``granted`` (proved by earlier successes); None for any other response.

    >>> op = ApiProblem("create_list", 403, "permission_denied", detail="You do not have …")
    >>> print(missing_scope("klaviyo", op))
    destination 'klaviyo': the API key lacks the lists:write scope (needed to create lists): \
give the key that scope in Klaviyo
    """
    if problem.status != 403 or problem.code != "permission_denied":
        return None
    op = OPERATIONS.get(problem.operation)
    needed = op.scopes if op else ()
    named = [s for s in needed if s in set(_SCOPE_RE.findall(problem.detail))]
    scopes = named or [s for s in needed if s not in granted] or list(needed)
    what = " or ".join(scopes) if scopes else "a needed"
    why = PURPOSES.get(problem.operation, problem.operation)
    give = "that scope" if len(scopes) == 1 else "those scopes"
    msg = (
        f"destination '{destination}': the API key lacks the {what} scope (needed to {why}): "
        f"give the key {give} in Klaviyo"
    )
    return FatalKlaviyoRequestError(msg, problem=problem)


def error_from_problem(problem: ApiProblem, prefix: str = "") -> KlaviyoRequestError:
    """The Herald error for ``problem``, its message optionally prefixed."""
    op = OPERATIONS.get(problem.operation)
    step = _NEXT_STEP.get(problem.status, "")
    step = step.format(scopes=", ".join(op.scopes) if op else "?")
    msg = f"Klaviyo {problem.operation} failed: {prefix}{problem.describe()}"
    if step:
        msg = f"{msg}. Next: {step}."
    if problem.retriable:
        return RetriableKlaviyoRequestError(msg, problem=problem)
    return FatalKlaviyoRequestError(msg, problem=problem)
