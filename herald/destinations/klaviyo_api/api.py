"""The Klaviyo operations Herald's list sync needs, as one async interface.

``client.py`` implements it over HTTP (sans-I/O protocol in ``_protocol.py``, httpx transport,
per-endpoint rate limits, retries). The sync engine (``sync.py``) only sees this interface,
so its logic can be tested against the sandbox and reasoned about apart from HTTP.

Errors: every method raises :class:`herald.exceptions.FatalSyncError` (retrying cannot help:
bad key, missing scope, list cap reached, 4xx), or
:class:`herald.exceptions.RetriableSyncError` after its retries are exhausted (the operation
may succeed later: the next run carries on from what was confirmed). An error Klaviyo answered
is a :class:`herald.exceptions.KlaviyoRequestError` of either kind, whose ``problem`` gives the
status and code (the sync reads a 400 or a 404 from it). Messages never contain an email, a
phone number or the API key.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from herald.destinations.klaviyo_api.limits import NEEDED_SCOPES

JobStatus = Literal["queued", "processing", "complete", "cancelled"]


@dataclass(frozen=True)
class ImportJob:
    """A bulk profile import job as Klaviyo reports it."""

    id: str
    status: JobStatus
    total_count: int = 0
    completed_count: int = 0
    failed_count: int = 0


@dataclass(frozen=True)
class ImportError_:
    """One profile Klaviyo rejected in a bulk import job.

    ``original_payload`` is the profile's attributes as sent, so the caller can map the error
    back to its row (by email, phone or external id).
    """

    code: str
    title: str
    detail: str
    original_payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Member:
    """A profile in a list: its Klaviyo id and identifiers (None when not set)."""

    profile_id: str
    email: str | None = None
    phone_number: str | None = None
    external_id: str | None = None


@dataclass(frozen=True)
class ScopeCheck:
    """What ``check_scopes`` found: the key works, and which needed scopes it lacks."""

    key_valid: bool
    missing: tuple[str, ...]
    detail: str = ""


class KlaviyoApi(abc.ABC):
    """The operations of Klaviyo's REST API used for list sync."""

    @abc.abstractmethod
    async def check_scopes(self, needed: Sequence[str] = NEEDED_SCOPES) -> ScopeCheck:
        """Check that the key is valid and has ``needed`` scopes, writing nothing."""

    @abc.abstractmethod
    async def find_list(self, name: str) -> str | None:
        """The id of the list named exactly ``name`` (``filter=equals(name,"…")``), or None."""

    @abc.abstractmethod
    async def create_list(self, name: str) -> str:
        """Create a list and return its id. The daily creation cap is a FatalSyncError
        whose message says when creation is possible again."""

    @abc.abstractmethod
    async def start_import(self, profiles: Sequence[Mapping[str, Any]], list_id: str) -> str:
        """Start a bulk import job of ≤ 10,000 profile attribute objects (< 5 MB in all),
        adding them to ``list_id``; return the job id."""

    async def start_import_encoded(self, profiles_json: Sequence[str], list_id: str) -> str:
        """:meth:`start_import` for profiles already encoded as compact JSON objects of their
        attributes. Clients override it to send them without decoding them first."""
        return await self.start_import([orjson.loads(p) for p in profiles_json], list_id)

    @abc.abstractmethod
    async def get_import(self, job_id: str) -> ImportJob:
        """The job's status and counts."""

    @abc.abstractmethod
    async def recent_imports(self) -> dict[str, ImportJob]:
        """The account's newest 100 bulk import jobs (status and counts), by id."""

    @abc.abstractmethod
    def import_errors(self, job_id: str) -> AsyncIterator[ImportError_]:
        """Every import error of a job (all pages)."""

    @abc.abstractmethod
    def list_members(self, list_id: str) -> AsyncIterator[Member]:
        """Every member of a list with its identifiers (all pages, 100 per page)."""

    @abc.abstractmethod
    async def find_profiles(
        self, field: Literal["email", "phone_number", "external_id"], values: Sequence[str]
    ) -> dict[str, str]:
        """Profile ids by identifier for ≤ 100 values (``filter=any(field,[…])``):
        ``{value: profile_id}``; values without a profile are absent."""

    @abc.abstractmethod
    async def remove_from_list(self, list_id: str, profile_ids: Sequence[str]) -> None:
        """Remove ≤ 1,000 profiles from a list (consent is unchanged)."""

    @abc.abstractmethod
    def request_counts(self) -> dict[tuple[str, int], int]:
        """Requests made so far, by (operation id, HTTP status) — for progress and benchmarks."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Close connections."""
