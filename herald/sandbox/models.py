"""The sandbox's records (profiles, lists, jobs, import errors) and Klaviyo-like ids."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

JobStatus = Literal["queued", "processing", "complete", "cancelled"]

#: Profile attributes besides the identifiers, as the spec's profile resource lists them.
PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "organization",
    "locale",
    "title",
    "image",
    "location",
    "properties",
)
IDENTIFIERS = ("email", "phone_number", "external_id")

# Klaviyo's server-side email rules are not published (FACTS.md §4); this is the pattern
# integrations use to pre-filter, so whatever passes it here passes their checks too.
EMAIL_RE = re.compile(r"^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$")
E164_RE = re.compile(r"^\+[1-9]\d{1,14}$")

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def hashed_dict() -> dict[Any, Any]:
    """An empty dict that keeps each key's hash beside it, for dicts of a million entries.

    CPython keeps a dict whose keys are all strings without the hashes (they are in the
    strings), so each probe of a taken slot also reads the key string: one more cache miss per
    probe once the dict outgrows the CPU's caches. A dict that once held another kind of key
    keeps its hashes, even empty again, and takes look-ups and inserts of new keys about a
    third faster at a million entries (measured). It is an ordinary dict in every other way.
    """
    d: dict[Any, Any] = {0: None}
    del d[0]
    return d


def iso(t: float | None) -> str | None:
    """Format epoch seconds as Klaviyo does, e.g. ``2026-07-15T10:00:00+00:00``."""
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


class IdMaker:
    """Makes Klaviyo-shaped ids from a seeded RNG: the same seed gives the same ids.

    Args:
        seed: the RNG seed.
    """

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._head_ms = -1
        self._head = ""
        self._latest_ms: int | None = None

    def ulid(self, now: float) -> str:
        """A 26-character ULID-style id (profiles, jobs), e.g. ``01J2…``."""
        # 10 characters of milliseconds, as in a ULID, then 16 random ones. The random part is
        # 64 bits in hex (a subset of Crockford's alphabet): bulk jobs make 10,000 ids at a
        # time and full base32 in pure Python costs more than the rest of an upsert.
        return f"{self._head_for(now)}{self._rng.getrandbits(64):016X}"

    def ulids(self, now: float, n: int) -> list[str]:
        """``n`` ids, the same as ``n`` calls of ``ulid(now)`` would give, made in one go."""
        if n <= 0:
            return []
        head = self._head_for(now)
        # getrandbits(64 * n) draws the same 32-bit words as n calls of getrandbits(64), and
        # the i-th call's 64 bits are its i-th 64 bits from the least significant end.
        digits = f"{self._rng.getrandbits(64 * n):0{16 * n}X}"
        return [head + digits[i - 16 : i] for i in range(16 * n, 0, -16)]

    def first_in(self, now: float) -> bool:
        """Whether no ``ulid`` yet was made in this millisecond or a later one.

        Then no id made so far starts as ids made at ``now`` do, so none can clash with them.
        """
        return self._latest_ms is None or int(now * 1000) > self._latest_ms

    def state(self) -> object:
        """The RNG's state, to ``restore`` it (and redo ids one by one)."""
        return self._rng.getstate()

    def restore(self, state: object) -> None:
        """Put the RNG back to a ``state``."""
        self._rng.setstate(state)  # type: ignore[arg-type]

    def _head_for(self, now: float) -> str:
        ms = int(now * 1000)
        if self._latest_ms is None or ms > self._latest_ms:
            self._latest_ms = ms
        if ms != self._head_ms:
            self._head_ms = ms
            self._head = "".join(_CROCKFORD[(ms >> (5 * i)) & 31] for i in range(9, -1, -1))
        return self._head

    def short(self) -> str:
        """A 6-character alphanumeric id (lists), e.g. ``Y6nRLr``."""
        return "".join(self._rng.choice(_ALNUM) for _ in range(6))


@dataclass(slots=True)
class Profile:
    """A profile. Identifiers are unique across profiles (email case-insensitively).

    Attributes:
        id: the 26-character id.
        created: epoch seconds.
        updated: epoch seconds.
        email: the email address, as sent.
        phone_number: E.164 phone number.
        external_id: the caller's id.
        attributes: the other attributes (``PROFILE_FIELDS``).
        suppressions: global email suppressions, e.g. ``[{"reason": "HARD_BOUNCE", …}]``.
    """

    id: str
    created: float
    updated: float
    email: str | None = None
    phone_number: str | None = None
    external_id: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    suppressions: list[dict[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class KList:
    """A list and its members.

    Attributes:
        id: the 6-character id.
        name: the list's name (not unique, as in Klaviyo).
        opt_in_process: ``double_opt_in`` or ``single_opt_in``.
        created: epoch seconds.
        updated: epoch seconds.
        members: profile id → when it joined (epoch seconds), in joining order.
    """

    id: str
    name: str
    opt_in_process: str
    created: float
    updated: float
    members: dict[str, float] = field(default_factory=hashed_dict)


@dataclass(slots=True)
class ImportErrorRecord:
    """One profile a bulk import job could not import.

    Attributes:
        id: the error's id.
        code: e.g. ``invalid``.
        title: e.g. ``Invalid input.``.
        detail: what was wrong, without the value itself.
        pointer: JSON pointer into the job's request body.
        original_payload: the profile as it was sent.
    """

    id: str
    code: str
    title: str
    detail: str
    pointer: str
    original_payload: dict[str, Any]


@dataclass(slots=True)
class Job:
    """A bulk profile import job.

    Attributes:
        id: the 26-character id.
        status: queued → processing → complete (or cancelled).
        created_at: epoch seconds.
        total_count: profiles in the request.
        list_ids: lists to add the imported profiles to.
        will_fail: set by the ``job_fail`` fault when the job is created.
        payload: the profiles still to import (emptied once processed).
        started_at: when processing began.
        completed_at: when it ended.
        completed_count: profiles imported.
        failed_count: profiles not imported.
        profile_ids: the imported profiles, in request order, without repeats.
        errors: one record per profile that failed.
        cursor: how many profiles of ``payload`` are processed (jobs run in slices).
        imported: the ids imported so far, in order, without repeats.
        max_item_bytes: the per-profile size cap to check, or None when the body was too
            small for any profile to pass it.
        owned: nothing but the job holds ``payload`` (see ``SandboxState.create_job``).
    """

    id: str
    status: JobStatus
    created_at: float
    total_count: int
    list_ids: list[str]
    will_fail: bool = False
    payload: list[dict[str, Any]] = field(default_factory=list, repr=False)
    started_at: float | None = None
    completed_at: float | None = None
    completed_count: int = 0
    failed_count: int = 0
    profile_ids: list[str] = field(default_factory=list, repr=False)
    errors: list[ImportErrorRecord] = field(default_factory=list, repr=False)
    cursor: int = 0
    imported: dict[str, None] = field(default_factory=dict, repr=False)
    max_item_bytes: int | None = None
    owned: bool = False
