"""Baseline for the list-sync benchmark: the straightforward per-profile approach.

For each profile, one create-or-update-profile call (``POST /api/profile-import``) and then one
add-profiles-to-list call (``POST /api/lists/{id}/relationships/profiles``) with that single
profile id, sequentially, made with Klaviyo's official Python SDK (``klaviyo-api``, installed
by the ``bench`` extra).

How the SDK is pointed at the sandbox: ``KlaviyoAPI(api_key, test_host=base_url)``. The
wrapper sets the generated client's ``Configuration.host`` from ``test_host``, and every
operation builds its URL from that host. Nothing else of the SDK is patched.

Revision: klaviyo-api 25.0.0 pins ``revision: 2026-10-15`` (``KlaviyoAPI._REVISION``) in the
client's default headers. Herald and the sandbox follow revision 2026-07-15, so this module
replaces that default header with ``revision`` (default 2026-07-15) through the generated
client's public ``set_default_header``. The sandbox accepts any well-formed revision. Both
operations have the same request and response shapes in both revisions.

Retries: the SDK's own retry (``max_retries=3`` attempts in total, ``max_delay=60`` s), which
retries 429, 503, 504 and 524. After a 429 it sleeps exponential backoff steps
(0.5 s × 1.5^n, ±50 % jitter) until the ``Retry-After`` seconds have passed, then tries once
more. It reads ``Retry-After`` from the urllib3 response headers, which are case-insensitive,
so the sandbox's 429s work with it unchanged and no extra retry is added here. The backoff
keeps growing while it waits, so after a long ``Retry-After`` (up to ~60 s when the
per-minute window of add-to-list is used up) the retry usually comes a few seconds after the
window has reset. That idle time is part of what the baseline measures.

Counting: every HTTP response is counted by status, including the 429s that the SDK retries
internally. The count wraps the generated client's ``rest_client.request`` and does not change
what it does.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

PROFILE_ATTRIBUTES = (
    "email",
    "phone_number",
    "external_id",
    "first_name",
    "last_name",
    "organization",
    "locale",
    "title",
    "image",
    "location",
    "properties",
)


@dataclass
class BaselineResult:
    """The outcome of one per-profile run.

    Attributes:
        seconds: wall time of the whole run.
        profiles: profiles synced (each upserted and added to the list).
        requests: HTTP requests sent, retries included.
        status_counts: HTTP responses by status code, e.g. ``{201: 300, 204: 300, 429: 4}``.
        sdk_version: the ``klaviyo-api`` version used.
        revision: the ``revision`` header sent.
        sdk_revision: the revision the SDK pins by default (replaced by ``revision``).
    """

    seconds: float
    profiles: int
    requests: int
    status_counts: dict[int, int] = field(default_factory=dict)
    sdk_version: str = ""
    revision: str = ""
    sdk_revision: str = ""

    @property
    def profiles_per_second(self) -> float:
        """Profiles synced per second of wall time."""
        return self.profiles / self.seconds if self.seconds > 0 else 0.0


def _upsert_body(profile: dict[str, Any]) -> Any:
    """The SDK's ``ProfileUpsertQuery`` for one profile dict (e.g. ``{"email": ...}``)."""
    from openapi_client.models import ProfileUpsertQuery

    unknown = set(profile) - set(PROFILE_ATTRIBUTES)
    if unknown:
        msg = f"unsupported profile attributes: {sorted(unknown)}"
        raise ValueError(msg)
    return ProfileUpsertQuery.from_dict({"data": {"type": "profile", "attributes": profile}})


def _add_body(profile_id: str) -> Any:
    """The SDK's ``ListMembersAddQuery`` for one profile id."""
    from openapi_client.models import ListMembersAddQuery

    return ListMembersAddQuery.from_dict({"data": [{"type": "profile", "id": profile_id}]})


def per_profile_sync(
    base_url: str,
    api_key: str,
    list_id: str,
    profiles: Sequence[dict[str, Any]],
    *,
    revision: str = "2026-07-15",
) -> BaselineResult:
    """Upsert each profile, then add it to ``list_id``: two SDK calls per profile, in order.

    Args:
        base_url: the API host, e.g. the sandbox's ``server.url`` (no ``/api`` suffix).
        api_key: a private API key.
        list_id: the list to add every profile to.
        profiles: profile attributes, e.g. ``{"email": "a@example.com", "first_name": "A"}``.
        revision: the ``revision`` header to send instead of the SDK's pinned one.

    Raises:
        openapi_client.exceptions.ApiException: when a call fails for good (including a 429
            still throttled after the SDK's last attempt).
    """
    from importlib.metadata import version

    from klaviyo_api import KlaviyoAPI  # type: ignore[import-untyped]

    api = KlaviyoAPI(api_key, test_host=base_url.rstrip("/"))
    sdk_revision = api.api_client.default_headers.get("revision", "")
    api.api_client.set_default_header("revision", revision)

    statuses: Counter[int] = Counter()
    rest = api.api_client.rest_client
    send = rest.request

    def counted(*args: Any, **kwargs: Any) -> Any:
        response = send(*args, **kwargs)
        statuses[response.status] += 1
        return response

    rest.request = counted
    profiles_api = api.Profiles  # each access builds a new wrapped API object: take it once
    lists_api = api.Lists

    done = 0
    start = time.perf_counter()
    for profile in profiles:
        created = profiles_api.create_or_update_profile(_upsert_body(profile))
        lists_api.add_profiles_to_list(list_id, _add_body(created.data.id))
        done += 1
    seconds = time.perf_counter() - start

    return BaselineResult(
        seconds=seconds,
        profiles=done,
        requests=sum(statuses.values()),
        status_counts=dict(sorted(statuses.items())),
        sdk_version=version("klaviyo-api"),
        revision=revision,
        sdk_revision=sdk_revision,
    )


if __name__ == "__main__":
    import argparse

    from herald.sandbox import DEFAULT_API_KEY, SandboxConfig, SandboxServer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=300)
    parser.add_argument("--limits", default="klaviyo")
    args = parser.parse_args()

    with SandboxServer(SandboxConfig(limits=args.limits)) as server:
        with server.client() as http:
            r = http.post(
                "/api/lists", json={"data": {"type": "list", "attributes": {"name": "Baseline"}}}
            )
            r.raise_for_status()
            list_id = r.json()["data"]["id"]
        people = [{"email": f"baseline{i}@example.com"} for i in range(args.profiles)]
        result = per_profile_sync(server.url, DEFAULT_API_KEY, list_id, people)
        members = len(server.state.list_members(list_id))
    print(
        f"{result.profiles} profiles in {result.seconds:.1f} s = "
        f"{result.profiles_per_second:.2f} profiles/s; {result.requests} requests "
        f"{result.status_counts}; {members} list members; klaviyo-api {result.sdk_version}, "
        f"revision sent {result.revision} (SDK pins {result.sdk_revision})"
    )
