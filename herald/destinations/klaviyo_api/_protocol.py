"""Klaviyo's JSON:API, without I/O: request builders and response parsers.

Nothing here sends or awaits anything (no httpx import), in the manner of httpx's own
``auth_flow``: ``client.py`` sends the ``Request`` objects built here and hands the decoded
responses back. That keeps every rule about Klaviyo's wire format testable in microseconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import parse_qsl, quote, urlsplit

import orjson

from herald.destinations.klaviyo_api.api import ImportError_, ImportJob, Member
from herald.destinations.klaviyo_api.limits import (
    LISTS_PAGE_SIZE,
    MAX_FILTER_VALUES,
    MAX_IMPORT_PROFILES,
    MAX_REMOVE_IDS,
    PAGE_SIZE,
)
from herald.redact import redact

T = TypeVar("T")
IdentifierField = Literal["email", "phone_number", "external_id"]

IDENTIFIER_FIELDS = "email,phone_number,external_id"


@dataclass(frozen=True)
class Request:
    """One HTTP request to Klaviyo, before it is sent.

    Attributes:
        operation: the spec's operation id; rate limits and request counts are kept by it.
        method: HTTP method.
        path: the path under the base URL, e.g. ``/api/lists``.
        params: query parameters in order.
        json: the body to encode as JSON:API, or None.
    """

    operation: str
    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    json: Any = field(default=None, compare=False)

    def encoded(self) -> bytes | None:
        """The body as compact UTF-8 JSON (the encoding whose sizes ``_plan.import_ranges``
        budgets)."""
        return None if self.json is None else orjson.dumps(self.json)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a collection and the request for the next page, if any."""

    items: list[T]
    next: Request | None


# --- filters --------------------------------------------------------------------------------


def quote_value(value: str) -> str:
    """A filter string literal: double quotes, with ``\\`` and ``"`` escaped.

    >>> print(quote_value('VIP "gold" \\\\ list'))
    "VIP \\"gold\\" \\\\ list"
    """
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def equals_filter(field_name: str, value: str) -> str:
    """``equals(field,"value")``.

    >>> print(equals_filter("name", 'Spring "A"'))
    equals(name,"Spring \\"A\\"")
    """
    return f"equals({field_name},{quote_value(value)})"


def any_filter(field_name: str, values: Sequence[str]) -> str:
    """``any(field,["a","b"])``.

    >>> print(any_filter("email", ["a@x.io", "b@x.io"]))
    any(email,["a@x.io","b@x.io"])
    """
    if not values:
        msg = "any() needs at least one value"
        raise ValueError(msg)
    return f"any({field_name},[{','.join(quote_value(v) for v in values)}])"


# --- request builders -----------------------------------------------------------------------


def _id(value: str) -> str:
    # Ids come from Klaviyo, but a path segment must never be able to change the path.
    return quote(value, safe="")


def find_list(name: str) -> Request:
    """``GET /api/lists`` for lists named exactly ``name``, oldest first."""
    params = (
        ("filter", equals_filter("name", name)),
        ("fields[list]", "name"),
        ("sort", "created"),
        ("page[size]", str(LISTS_PAGE_SIZE)),
    )
    return Request("get_lists", "GET", "/api/lists", params)


def create_list(name: str) -> Request:
    """``POST /api/lists`` (the account's default opt-in process applies)."""
    body = {"data": {"type": "list", "attributes": {"name": name}}}
    return Request("create_list", "POST", "/api/lists", json=body)


def import_body(profiles: Sequence[Mapping[str, Any]], list_id: str) -> dict[str, Any]:
    """The bulk import job body: the profiles, added to one list."""
    return {
        "data": {
            "type": "profile-bulk-import-job",
            "attributes": {
                "profiles": {"data": [{"type": "profile", "attributes": p} for p in profiles]}
            },
            "relationships": {"lists": {"data": [{"type": "list", "id": list_id}]}},
        }
    }


def import_body_bytes(profiles_json: Sequence[str], list_id: str) -> bytes:
    """The body of :func:`import_body`, encoded, from profiles already encoded as compact
    JSON objects of their attributes: the same bytes, without decoding and re-encoding
    10,000 profiles per request.

    >>> import_body_bytes(['{"email":"a@x.io"}'], "L1") == orjson.dumps(
    ...     import_body([{"email": "a@x.io"}], "L1"))
    True
    """
    _check_import_count(len(profiles_json))
    head = '{"data":{"type":"profile-bulk-import-job","attributes":{"profiles":{"data":['
    items = ",".join(f'{{"type":"profile","attributes":{p}}}' for p in profiles_json)
    lists = orjson.dumps([{"type": "list", "id": list_id}]).decode()
    return f'{head}{items}]}}}},"relationships":{{"lists":{{"data":{lists}}}}}}}}}'.encode()


def start_import_encoded(profiles_json: Sequence[str], list_id: str) -> tuple[Request, bytes]:
    """``POST /api/profile-bulk-import-jobs`` with its body encoded (see
    :func:`import_body_bytes`)."""
    body = import_body_bytes(profiles_json, list_id)
    return Request("bulk_import_profiles", "POST", "/api/profile-bulk-import-jobs"), body


def _check_import_count(count: int) -> None:
    if not 0 < count <= MAX_IMPORT_PROFILES:
        msg = f"a bulk import job takes 1 to {MAX_IMPORT_PROFILES:,} profiles, not {count:,}"
        raise ValueError(msg)


def start_import(profiles: Sequence[Mapping[str, Any]], list_id: str) -> Request:
    """``POST /api/profile-bulk-import-jobs``.

    Raises:
        ValueError: for more than 10,000 profiles or none (batch them with
            ``_plan.import_ranges``).
    """
    _check_import_count(len(profiles))
    body = import_body(profiles, list_id)
    return Request("bulk_import_profiles", "POST", "/api/profile-bulk-import-jobs", json=body)


def get_import(job_id: str) -> Request:
    """``GET /api/profile-bulk-import-jobs/{job_id}``."""
    path = f"/api/profile-bulk-import-jobs/{_id(job_id)}"
    return Request("get_bulk_import_profiles_job", "GET", path)


def recent_imports() -> Request:
    """The first page of the account's bulk import jobs, newest first, with their status and
    counts.

    One call covers up to 100 jobs: polling this instead of each job keeps polling to about
    one call per round however many jobs are in flight.
    """
    params = (("sort", "-created_at"), ("page[size]", str(PAGE_SIZE)))
    return Request("get_bulk_import_profiles_jobs", "GET", "/api/profile-bulk-import-jobs", params)


def import_errors(job_id: str) -> Request:
    """The first page of a job's import errors."""
    path = f"/api/profile-bulk-import-jobs/{_id(job_id)}/import-errors"
    params = (("page[size]", str(PAGE_SIZE)),)
    return Request("get_errors_for_bulk_import_profiles_job", "GET", path, params)


def list_members(list_id: str) -> Request:
    """The first page of a list's members with their identifiers."""
    params = (("fields[profile]", IDENTIFIER_FIELDS), ("page[size]", str(PAGE_SIZE)))
    path = f"/api/lists/{_id(list_id)}/profiles"
    return Request("get_profiles_for_list", "GET", path, params)


def find_profiles(field_name: IdentifierField, values: Sequence[str]) -> Request:
    """``GET /api/profiles?filter=any(field,[…])`` for ≤ 100 values.

    Raises:
        ValueError: for no values or more than 100.
    """
    if not 0 < len(values) <= MAX_FILTER_VALUES:
        msg = f"find_profiles takes 1 to {MAX_FILTER_VALUES} values, not {len(values)}"
        raise ValueError(msg)
    params = (
        ("filter", any_filter(field_name, values)),
        ("fields[profile]", IDENTIFIER_FIELDS),
        ("page[size]", str(PAGE_SIZE)),
    )
    return Request("get_profiles", "GET", "/api/profiles", params)


def remove_from_list(list_id: str, profile_ids: Sequence[str]) -> Request:
    """``DELETE /api/lists/{id}/relationships/profiles`` for ≤ 1,000 profile ids.

    Raises:
        ValueError: for no ids or more than 1,000.
    """
    if not 0 < len(profile_ids) <= MAX_REMOVE_IDS:
        msg = (
            f"remove_from_list takes 1 to {MAX_REMOVE_IDS:,} profile ids, not {len(profile_ids):,}"
        )
        raise ValueError(msg)
    body = {"data": [{"type": "profile", "id": pid} for pid in profile_ids]}
    path = f"/api/lists/{_id(list_id)}/relationships/profiles"
    return Request("remove_profiles_from_list", "DELETE", path, json=body)


def key_probe() -> Request:
    """The cheapest authenticated read: one list (proves the key and lists:read)."""
    return Request("get_lists", "GET", "/api/lists", (("page[size]", "1"),))


#: An id no Klaviyo list or profile has (theirs are letters and digits only).
PROBE_ID = "herald-scope-check"


def scope_probe(scope: str) -> Request | None:
    """A request that needs exactly ``scope`` and changes nothing, or None when there is none.

    Each is valid per the spec. Reads fetch one item. Writes ``PATCH`` a list or profile
    that cannot exist with no attributes to change: Klaviyo checks the key's scopes before
    it looks the resource up, so 403 means the scope is missing and 404 that it is there,
    and even if the id existed an empty update would change nothing.
    """
    if scope == "lists:read":
        return key_probe()
    if scope == "profiles:read":
        return Request("get_profiles", "GET", "/api/profiles", (("page[size]", "1"),))
    kind = {"lists:write": "list", "profiles:write": "profile"}.get(scope)
    if kind is None:
        return None
    body = {"data": {"type": kind, "id": PROBE_ID, "attributes": {}}}
    return Request(f"update_{kind}", "PATCH", f"/api/{kind}s/{PROBE_ID}", json=body)


# --- response parsers -----------------------------------------------------------------------


def next_request(doc: Mapping[str, Any], current: Request) -> Request | None:
    """The request for ``links.next``, or None on the last page.

    Only the path and query of the link are kept, so the base URL (and the key's host) stay
    those of the client.
    """
    link = (doc.get("links") or {}).get("next")
    if not link:
        return None
    parts = urlsplit(str(link))
    params = tuple(parse_qsl(parts.query, keep_blank_values=True))
    return Request(current.operation, current.method, parts.path or current.path, params)


def _data(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    data = doc.get("data")
    return data if isinstance(data, list) else []


def parse_list_id(doc: Mapping[str, Any], name: str) -> str | None:
    """The id of the first list named exactly ``name`` in a ``get_lists`` page, or None.

    The name is compared again here: the filter's case and whitespace rules are Klaviyo's.
    """
    for item in _data(doc):
        if (item.get("attributes") or {}).get("name") == name:
            return str(item["id"])
    return None


def parse_created_id(doc: Mapping[str, Any]) -> str:
    """The ``data.id`` of a created resource (list or job)."""
    return str(doc["data"]["id"])


def parse_job(doc: Mapping[str, Any]) -> ImportJob:
    """A bulk import job resource."""
    return _job(doc["data"])


def _job(data: Mapping[str, Any]) -> ImportJob:
    attrs = data.get("attributes") or {}
    return ImportJob(
        id=str(data["id"]),
        status=attrs["status"],
        total_count=int(attrs.get("total_count") or 0),
        completed_count=int(attrs.get("completed_count") or 0),
        failed_count=int(attrs.get("failed_count") or 0),
    )


def parse_jobs(doc: Mapping[str, Any], current: Request) -> Page[ImportJob]:
    """A page of bulk import jobs (``get_bulk_import_profiles_jobs``)."""
    return Page([_job(item) for item in _data(doc)], next_request(doc, current))


def parse_import_errors(doc: Mapping[str, Any], current: Request) -> Page[ImportError_]:
    """A page of import errors.

    ``original_payload`` is reduced to the profile's attributes when Klaviyo returns the whole
    profile resource (``{"type": "profile", "attributes": …}``), as the sandbox does.
    """
    items = []
    for item in _data(doc):
        attrs = item.get("attributes") or {}
        payload = attrs.get("original_payload") or {}
        if isinstance(payload, Mapping) and isinstance(payload.get("attributes"), Mapping):
            payload = payload["attributes"]
        items.append(
            ImportError_(
                code=str(attrs.get("code") or ""),
                title=redact(str(attrs.get("title") or "")),
                detail=redact(str(attrs.get("detail") or "")),
                original_payload=payload if isinstance(payload, Mapping) else {},
            )
        )
    return Page(items, next_request(doc, current))


def parse_members(doc: Mapping[str, Any], current: Request) -> Page[Member]:
    """A page of list members."""
    items = []
    for item in _data(doc):
        attrs = item.get("attributes") or {}
        items.append(
            Member(
                profile_id=str(item["id"]),
                email=attrs.get("email"),
                phone_number=attrs.get("phone_number"),
                external_id=attrs.get("external_id"),
            )
        )
    return Page(items, next_request(doc, current))


def identifier_key(field_name: IdentifierField, value: str) -> str:
    """How Klaviyo matches an identifier: emails without case (it stores them lower-cased)."""
    return value.strip().lower() if field_name == "email" else value


def parse_profiles(
    doc: Mapping[str, Any],
    current: Request,
    field_name: IdentifierField,
    values: Sequence[str],
) -> Page[tuple[str, str]]:
    """A page of a profile filter as ``(value asked for, profile id)`` pairs."""
    asked = {identifier_key(field_name, v): v for v in values}
    items = []
    for item in _data(doc):
        found = (item.get("attributes") or {}).get(field_name)
        if isinstance(found, str) and identifier_key(field_name, found) in asked:
            items.append((asked[identifier_key(field_name, found)], str(item["id"])))
    return Page(items, next_request(doc, current))


def decode(content: bytes) -> Any:
    """A response body, or {} when it is empty or not JSON (a proxy's HTML error page)."""
    if not content:
        return {}
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return {}
