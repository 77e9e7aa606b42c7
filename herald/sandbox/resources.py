"""JSON:API documents for the sandbox's records, in the shapes of the spec's responses."""

from __future__ import annotations

from typing import Any

from herald.sandbox.models import ImportErrorRecord, Job, KList, Profile, iso

_LOCATION_KEYS = (
    "address1",
    "address2",
    "city",
    "country",
    "latitude",
    "longitude",
    "region",
    "zip",
    "timezone",
    "ip",
)


def sparse(attributes: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    """Keep only the requested attributes (JSON:API sparse fieldsets)."""
    if not fields:
        return attributes
    wanted = {f.split(".", 1)[0] for f in fields}
    return {k: v for k, v in attributes.items() if k in wanted}


def list_resource(
    k: KList, base: str, fields: list[str] | None = None, profile_count: bool = False
) -> dict[str, Any]:
    """A ``list`` resource."""
    attributes: dict[str, Any] = {
        "name": k.name,
        "created": iso(k.created),
        "updated": iso(k.updated),
        "opt_in_process": k.opt_in_process,
    }
    if profile_count:
        attributes["profile_count"] = len(k.members)
    return {
        "type": "list",
        "id": k.id,
        "attributes": sparse(attributes, fields),
        "links": {"self": f"{base}/api/lists/{k.id}/"},
    }


def subscriptions(p: Profile) -> dict[str, Any]:
    """The ``subscriptions`` block. List membership never changes it, as in Klaviyo."""
    suppressed = bool(p.suppressions)
    return {
        "email": {
            "marketing": {
                "can_receive_email_marketing": False,
                "consent": "NEVER_SUBSCRIBED",
                "suppression": list(p.suppressions) if suppressed else [],
                "list_suppressions": [],
            }
        },
        "sms": {"marketing": {"can_receive_sms_marketing": False, "consent": "NEVER_SUBSCRIBED"}},
    }


def profile_resource(
    p: Profile,
    base: str,
    *,
    fields: list[str] | None = None,
    additional: list[str] | None = None,
    joined: float | None = None,
) -> dict[str, Any]:
    """A ``profile`` resource; ``joined`` adds ``joined_group_at`` for list members."""
    a = p.attributes
    attributes: dict[str, Any] = {
        "email": p.email,
        "phone_number": p.phone_number,
        "external_id": p.external_id,
        **{
            k: a.get(k)
            for k in ("first_name", "last_name", "organization", "locale", "title", "image")
        },
        "created": iso(p.created),
        "updated": iso(p.updated),
        "last_event_date": None,
        "location": _location(a.get("location") or {}),
        "properties": a.get("properties") or {},
    }
    if joined is not None:
        attributes["joined_group_at"] = iso(joined)
    if additional and "subscriptions" in additional:
        attributes["subscriptions"] = subscriptions(p)
    if additional and "predictive_analytics" in additional:
        attributes["predictive_analytics"] = {}
    return {
        "type": "profile",
        "id": p.id,
        "attributes": sparse(attributes, fields),
        "links": {"self": f"{base}/api/profiles/{p.id}/"},
    }


def _location(location: dict[str, Any]) -> dict[str, Any]:
    # latitude/longitude are a nullable oneOf in the spec, which validators reject as null:
    # leave them out when unset rather than send a value the spec's validators refuse.
    out = {k: location.get(k) for k in _LOCATION_KEYS}
    for key in ("latitude", "longitude"):
        if out[key] is None:
            del out[key]
    return out


def job_resource(job: Job, base: str, fields: list[str] | None = None) -> dict[str, Any]:
    """A ``profile-bulk-import-job`` resource."""
    attributes = {
        "status": job.status,
        "created_at": iso(job.created_at),
        "total_count": job.total_count,
        "completed_count": job.completed_count,
        "failed_count": job.failed_count,
        "completed_at": iso(job.completed_at),
        "expires_at": None,
        "started_at": iso(job.started_at),
    }
    url = f"{base}/api/profile-bulk-import-jobs/{job.id}"
    return {
        "type": "profile-bulk-import-job",
        "id": job.id,
        "attributes": sparse(attributes, fields),
        "relationships": {
            "lists": {
                "data": [{"type": "list", "id": i} for i in job.list_ids],
                "links": {"self": f"{url}/relationships/lists/", "related": f"{url}/lists/"},
            },
        },
        "links": {"self": f"{url}/"},
    }


def import_error_resource(e: ImportErrorRecord) -> dict[str, Any]:
    """An ``import-error`` resource; ``original_payload`` is the profile as sent."""
    return {
        "type": "import-error",
        "id": e.id,
        "attributes": {
            "code": e.code,
            "title": e.title,
            "detail": e.detail,
            "source": {"pointer": e.pointer},
            "original_payload": e.original_payload,
        },
    }


def identifier(kind: str, resource_id: str) -> dict[str, str]:
    """A resource identifier object, e.g. ``{"type": "profile", "id": "01…"}``."""
    return {"type": kind, "id": resource_id}
