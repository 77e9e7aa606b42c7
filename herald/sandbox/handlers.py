"""One function per Klaviyo operation. Each takes a parsed ``Call`` and returns (status, body).

Authentication, scopes, rate limits, headers, query parsing and body validation have all
happened before a handler runs (see ``app.py``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.requests import Request

from herald.sandbox.errors import ApiError
from herald.sandbox.faults import FaultInjector
from herald.sandbox.filters import Condition, check_allowed, parse_filter
from herald.sandbox.models import Job, KList, Profile
from herald.sandbox.resources import (
    identifier,
    import_error_resource,
    job_resource,
    list_resource,
    profile_resource,
)
from herald.sandbox.spec import Operation
from herald.sandbox.state import SandboxState

T = TypeVar("T")
Result = tuple[int, dict[str, Any] | None]

#: Filter fields the sandbox evaluates, per operation; the spec may allow more.
IMPLEMENTED_FILTERS = {
    "get_lists": frozenset({"id", "name", "created", "updated"}),
    "get_profiles": frozenset({"id", "email", "phone_number", "external_id", "created", "updated"}),
    "get_profiles_for_list": frozenset({"email", "phone_number", "joined_group_at"}),
    "get_profile_ids_for_list": frozenset({"email", "phone_number", "joined_group_at"}),
    "get_bulk_import_profiles_jobs": frozenset({"status"}),
}


@dataclass
class Call:
    """One authenticated, validated request.

    Attributes:
        request: the Starlette request.
        op: the operation.
        state: the account.
        faults: the fault injector (for failed jobs).
        query: parsed query parameters.
        body: the parsed body, or None.
        resource_id: the ``{id}`` in the path, if any.
        body_size: the body's size in bytes (decompressed).
    """

    request: Request
    op: Operation
    state: SandboxState
    faults: FaultInjector
    query: dict[str, Any]
    body: Any
    resource_id: str
    body_size: int = 0

    @property
    def base(self) -> str:
        """The server's base URL, for ``links``."""
        return str(self.request.base_url).rstrip("/")

    def self_link(self) -> dict[str, str]:
        """``{"self": <this request's URL>}``."""
        return {"self": str(self.request.url)}


# --- shared helpers ---------------------------------------------------------------------


def conditions(call: Call) -> list[Condition]:
    """The request's parsed, checked filter (empty when there is none)."""
    text = call.query.get("filter")
    if text is None:
        return []
    parsed = parse_filter(text)
    check_allowed(
        parsed, call.op.filters, IMPLEMENTED_FILTERS.get(call.op.operation_id, frozenset())
    )
    return [_lower_emails(c) for c in parsed]


def _lower_emails(cond: Condition) -> Condition:
    # Emails are stored lower-cased, so a filter on them must be too.
    if cond.field != "email":
        return cond
    if isinstance(cond.value, list):
        return Condition(cond.operator, cond.field, [_lower(v) for v in cond.value])
    return Condition(cond.operator, cond.field, _lower(cond.value))


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def sort(call: Call, items: list[T], keys: dict[str, Callable[[T], Any]]) -> list[T]:
    """Sort by the ``sort`` parameter (``-`` for descending) when the sandbox supports the key."""
    spec = call.query.get("sort")
    if not spec:
        return items
    name = spec.lstrip("-")
    if name not in keys:
        detail = f"The sandbox does not support sorting by '{name}'."
        raise ApiError(400, "invalid", detail, parameter="sort", violation=False)
    return sorted(
        items, key=lambda x: (keys[name](x) is None, keys[name](x)), reverse=spec.startswith("-")
    )


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if raw.startswith("o:") and (offset := int(raw[2:])) >= 0:
            return offset
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise ApiError(400, "invalid", "Invalid page cursor.", parameter="page[cursor]")


def page(call: Call, items: Sequence[T], render: Callable[[T], dict[str, Any]]) -> dict[str, Any]:
    """One page of a collection with cursor ``links``, sized by ``page[size]``."""
    size_param = call.op.parameters.get("page[size]")
    default = size_param["schema"].get("default", 20) if size_param else len(items) or 1
    size = call.query.get("page[size]", default)
    offset = _offset(call.query.get("page[cursor]"))
    url = call.request.url
    links = {"self": str(url)}
    if offset + size < len(items):
        links["next"] = str(url.include_query_params(**{"page[cursor]": _cursor(offset + size)}))
    if offset > 0:
        prev = _cursor(max(0, offset - size))
        links["prev"] = str(url.include_query_params(**{"page[cursor]": prev}))
    return {"data": [render(x) for x in items[offset : offset + size]], "links": links}


def check_count(call: Call, items: list[Any], pointer: str) -> None:
    """Enforce the operation's ``max_items`` (10,000 profiles per job, 1,000 ids per call)."""
    limit = call.op.limits.get("max_items")
    if limit is not None and len(items) > limit:
        detail = f"At most {limit} profiles are allowed per request; got {len(items)}."
        raise ApiError(400, "invalid", detail, pointer=pointer)


def _profile_doc(call: Call, p: Profile, joined: float | None = None) -> dict[str, Any]:
    return profile_resource(
        p,
        call.base,
        fields=call.query.get("fields[profile]"),
        additional=call.query.get("additional-fields[profile]"),
        joined=joined,
    )


def _list_doc(call: Call, k: KList) -> dict[str, Any]:
    count = "profile_count" in (call.query.get("additional-fields[list]") or [])
    return list_resource(k, call.base, call.query.get("fields[list]"), count)


def _job_doc(call: Call, job: Job) -> dict[str, Any]:
    return job_resource(job, call.base, call.query.get("fields[profile-bulk-import-job]"))


def _with_includes(call: Call, doc: dict[str, Any]) -> dict[str, Any]:
    # The sandbox has no tags, flow triggers, conversations or push tokens to include.
    if call.query.get("include"):
        doc["included"] = []
    return doc


LIST_SORT: dict[str, Callable[[KList], Any]] = {
    "created": lambda k: k.created,
    "updated": lambda k: k.updated,
    "id": lambda k: k.id,
    "name": lambda k: k.name,
}
PROFILE_SORT: dict[str, Callable[[Profile], Any]] = {
    "created": lambda p: p.created,
    "updated": lambda p: p.updated,
    "id": lambda p: p.id,
    "email": lambda p: p.email,
}

# --- lists ------------------------------------------------------------------------------


def get_lists(call: Call) -> Result:
    """``GET /api/lists``."""
    found = sort(call, call.state.query_lists(conditions(call)), LIST_SORT)
    return 200, _with_includes(call, page(call, found, lambda k: _list_doc(call, k)))


def create_list(call: Call) -> Result:
    """``POST /api/lists``."""
    attrs = call.body["data"]["attributes"]
    created = call.state.create_list(attrs["name"], attrs.get("opt_in_process"))
    return 201, {"data": _list_doc(call, created), "links": call.self_link()}


def get_list(call: Call) -> Result:
    """``GET /api/lists/{id}``."""
    doc = {
        "data": _list_doc(call, call.state.get_list(call.resource_id)),
        "links": call.self_link(),
    }
    return 200, _with_includes(call, doc)


def update_list(call: Call) -> Result:
    """``PATCH /api/lists/{id}``."""
    data = call.body["data"]
    if data["id"] != call.resource_id:
        detail = "The id in the body does not match the id in the URL."
        raise ApiError(409, "conflict", detail, pointer="/data/id", violation=True)
    updated = call.state.update_list(call.resource_id, data.get("attributes") or {})
    return 200, {"data": _list_doc(call, updated), "links": call.self_link()}


def delete_list(call: Call) -> Result:
    """``DELETE /api/lists/{id}``."""
    call.state.delete_list(call.resource_id)
    return 204, None


def get_profiles_for_list(call: Call) -> Result:
    """``GET /api/lists/{id}/profiles``."""
    found = call.state.members(call.resource_id, conditions(call))
    found = sort(call, found, {"joined_group_at": lambda m: m[1]})
    return 200, page(call, found, lambda m: _profile_doc(call, m[0], m[1]))


def get_profile_ids_for_list(call: Call) -> Result:
    """``GET /api/lists/{id}/relationships/profiles``."""
    found = call.state.members(call.resource_id, conditions(call))
    found = sort(call, found, {"joined_group_at": lambda m: m[1]})
    return 200, page(call, found, lambda m: identifier("profile", m[0].id))


def _member_ids(call: Call) -> list[str]:
    data = call.body["data"]
    check_count(call, data, "/data")
    return [item["id"] for item in data]


def add_profiles_to_list(call: Call) -> Result:
    """``POST /api/lists/{id}/relationships/profiles``."""
    call.state.add_members(call.resource_id, _member_ids(call))
    return 204, None


def remove_profiles_from_list(call: Call) -> Result:
    """``DELETE /api/lists/{id}/relationships/profiles``."""
    call.state.remove_members(call.resource_id, _member_ids(call))
    return 204, None


# --- bulk import jobs -------------------------------------------------------------------


def get_bulk_import_profiles_jobs(call: Call) -> Result:
    """``GET /api/profile-bulk-import-jobs``."""
    found = sort(
        call, call.state.query_jobs(conditions(call)), {"created_at": lambda j: j.created_at}
    )
    return 200, page(call, found, lambda j: _job_doc(call, j))


def bulk_import_profiles(call: Call) -> Result:
    """``POST /api/profile-bulk-import-jobs``: queue the job and answer 202 at once."""
    data = call.body["data"]
    profiles = data["attributes"]["profiles"]["data"]
    check_count(call, profiles, "/data/attributes/profiles/data")
    lists = ((data.get("relationships") or {}).get("lists") or {}).get("data") or []
    # Only a body bigger than the per-profile cap can hold a profile over it; checking each
    # profile costs a re-encode, so the job does it (as import errors) only then.
    item_cap = call.op.limits.get("max_item_bytes")
    check = item_cap if item_cap is not None and call.body_size > item_cap else None
    job = call.state.create_job(
        profiles,
        [x["id"] for x in lists],
        will_fail=call.faults.job_fails(),
        max_item_bytes=check,
        owned=True,  # parsed from this request's body, which is dropped once it is answered
    )
    return 202, {"data": _job_doc(call, job), "links": call.self_link()}


def get_bulk_import_profiles_job(call: Call) -> Result:
    """``GET /api/profile-bulk-import-jobs/{job_id}``."""
    job = call.state.job(call.resource_id)
    doc: dict[str, Any] = {"data": _job_doc(call, job), "links": call.self_link()}
    if "lists" in (call.query.get("include") or []):
        doc["included"] = [_list_doc(call, k) for k in call.state.lists() if k.id in job.list_ids]
    return 200, doc


def get_errors_for_bulk_import_profiles_job(call: Call) -> Result:
    """``GET /api/profile-bulk-import-jobs/{id}/import-errors``."""
    job = call.state.job(call.resource_id)
    return 200, page(call, job.errors, import_error_resource)


def _job_profiles(call: Call) -> list[Profile]:
    job = call.state.job(call.resource_id)
    with call.state.lock:
        return [call.state.book.get(pid) for pid in job.profile_ids if pid in call.state.book]


def get_profiles_for_bulk_import_profiles_job(call: Call) -> Result:
    """``GET /api/profile-bulk-import-jobs/{id}/profiles``."""
    return 200, page(call, _job_profiles(call), lambda p: _profile_doc(call, p))


def get_profile_ids_for_bulk_import_profiles_job(call: Call) -> Result:
    """``GET /api/profile-bulk-import-jobs/{id}/relationships/profiles``."""
    return 200, page(call, _job_profiles(call), lambda p: identifier("profile", p.id))


def get_list_for_bulk_import_profiles_job(call: Call) -> Result:
    """``GET /api/profile-bulk-import-jobs/{id}/lists``."""
    job = call.state.job(call.resource_id)
    found = [k for k in call.state.lists() if k.id in job.list_ids]
    return 200, {"data": [_list_doc(call, k) for k in found], "links": call.self_link()}


# --- profiles ---------------------------------------------------------------------------


def get_profiles(call: Call) -> Result:
    """``GET /api/profiles``."""
    found = sort(call, call.state.query_profiles(conditions(call)), PROFILE_SORT)
    return 200, _with_includes(call, page(call, found, lambda p: _profile_doc(call, p)))


def create_profile(call: Call) -> Result:
    """``POST /api/profiles``: 201, or 409 ``duplicate_profile``."""
    created = call.state.create_profile(call.body["data"]["attributes"])
    return 201, {"data": _profile_doc(call, created), "links": call.self_link()}


def create_or_update_profile(call: Call) -> Result:
    """``POST /api/profile-import``: 201 when created, 200 when updated."""
    data = call.body["data"]
    prof, created = call.state.upsert_profile(data.get("id"), data["attributes"])
    return (201 if created else 200), {"data": _profile_doc(call, prof), "links": call.self_link()}


def update_profile(call: Call) -> Result:
    """``PATCH /api/profiles/{id}``: 404 for an unknown id (``destination check`` relies on
    that to probe profiles:write without writing anything)."""
    data = call.body["data"]
    if data["id"] != call.resource_id:
        detail = "The id in the body does not match the id in the URL."
        raise ApiError(409, "conflict", detail, pointer="/data/id", violation=True)
    prof, _ = call.state.upsert_profile(call.resource_id, data.get("attributes") or {})
    return 200, {"data": _profile_doc(call, prof), "links": call.self_link()}


#: The handler of each operation, by operationId.
HANDLERS: dict[str, Callable[[Call], Result]] = {
    "get_lists": get_lists,
    "create_list": create_list,
    "get_list": get_list,
    "update_list": update_list,
    "delete_list": delete_list,
    "get_profiles_for_list": get_profiles_for_list,
    "get_profile_ids_for_list": get_profile_ids_for_list,
    "add_profiles_to_list": add_profiles_to_list,
    "remove_profiles_from_list": remove_profiles_from_list,
    "get_bulk_import_profiles_jobs": get_bulk_import_profiles_jobs,
    "bulk_import_profiles": bulk_import_profiles,
    "get_bulk_import_profiles_job": get_bulk_import_profiles_job,
    "get_errors_for_bulk_import_profiles_job": get_errors_for_bulk_import_profiles_job,
    "get_profiles_for_bulk_import_profiles_job": get_profiles_for_bulk_import_profiles_job,
    "get_profile_ids_for_bulk_import_profiles_job": get_profile_ids_for_bulk_import_profiles_job,
    "get_list_for_bulk_import_profiles_job": get_list_for_bulk_import_profiles_job,
    "get_profiles": get_profiles,
    "create_profile": create_profile,
    "create_or_update_profile": create_or_update_profile,
    "update_profile": update_profile,
}


def dumps(doc: dict[str, Any]) -> bytes:
    """Encode a response body compactly."""
    return json.dumps(doc, separators=(",", ":")).encode()
