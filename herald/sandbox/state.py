"""The sandbox's in-memory account: profiles with identity indexes, lists, jobs, request log.

Every public method takes the state's lock, so HTTP handlers, the job worker and tests may call
it from different threads. Methods raise ``ApiError`` with Klaviyo's status and code; messages
never contain an email address or a phone number.
"""

from __future__ import annotations

import json
import sys
import threading
import uuid
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from typing import Any

import orjson

from herald.sandbox.bulk import all_within, consume, new_rows
from herald.sandbox.errors import ApiError
from herald.sandbox.filters import Condition, matches
from herald.sandbox.models import (
    E164_RE,
    EMAIL_RE,
    IdMaker,
    ImportErrorRecord,
    Job,
    KList,
    Profile,
    iso,
)
from herald.sandbox.profiles import ProfileBook

#: Violations kept; a client that breaks the spec once usually does so on every request.
MAX_VIOLATIONS = 10_000


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the sandbox saw it (no query string: filters may hold emails).

    Attributes:
        time: epoch seconds.
        method: the HTTP method.
        operation: the ``operationId``, or ``(no route)`` when no operation matched.
        status: the status sent (0 when the connection was dropped).
        fault: the injected fault, if any.
    """

    time: float
    method: str
    operation: str
    status: int
    fault: str | None = None


@dataclass(frozen=True, slots=True)
class Violation:
    """A request that broke Klaviyo's spec, as the sandbox refused it.

    Attributes:
        time: epoch seconds.
        method: the HTTP method.
        path: the operation's path in the spec (``/api/lists/{id}``), or ``(no route)``.
        operation: the ``operationId``, or ``(no route)``.
        status: the status sent (400, 413, 415, or 404/405 for a path the spec lacks).
        pointer: the JSON pointer into the body (``/data/attributes``) or the query
            parameter or header at fault; "" when the whole request is.
        message: what is wrong, as the error response says.
    """

    time: float
    method: str
    path: str
    operation: str
    status: int
    pointer: str
    message: str


class SandboxState:
    """One Klaviyo account held in memory, plus the request log. The inspection API.

    Args:
        clock: time source (epoch seconds).
        seed: seeds ids and bounces.
        bounce_share: share of profiles that hard-bounce when added to a list.
        max_lists: the account's list cap.
    """

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        seed: int = 0,
        bounce_share: float = 0.0,
        max_lists: int = 1000,
    ) -> None:
        self.clock = clock
        self.seed = seed
        self.bounce_share = bounce_share
        self.max_lists = max_lists
        self.lock = threading.RLock()
        self.ids = IdMaker(seed)
        self.book = ProfileBook(self.ids, clock)
        self._lists: dict[str, KList] = {}
        self._jobs: dict[str, Job] = {}
        self._log: deque[RequestRecord] = deque(maxlen=100_000)
        self._counts: Counter[tuple[str, int]] = Counter()
        self._violations: list[Violation] = []

    # --- inspection ------------------------------------------------------------------------

    def lists(self) -> list[KList]:
        """Every list, oldest first."""
        with self.lock:
            return list(self._lists.values())

    def get_list(self, list_id: str) -> KList:
        """One list.

        Raises:
            ApiError: 404 when it does not exist.
        """
        with self.lock:
            found = self._lists.get(list_id)
            if found is None:
                raise ApiError(404, "not_found", f"A list with id {list_id} does not exist.")
            return found

    def list_members(self, list_id: str) -> list[str]:
        """The profile ids on a list, in joining order."""
        with self.lock:
            return list(self.get_list(list_id).members)

    def profiles(self) -> list[Profile]:
        """Every profile, oldest first."""
        with self.lock:
            return self.book.all()

    def profile(self, profile_id: str) -> Profile:
        """One profile by id.

        Raises:
            ApiError: 404 when it does not exist.
        """
        with self.lock:
            return self.book.get(profile_id)

    def find_profile(
        self,
        *,
        email: str | None = None,
        phone_number: str | None = None,
        external_id: str | None = None,
    ) -> Profile | None:
        """The profile with this identifier, if any (email matched case-insensitively)."""
        with self.lock:
            return self.book.find(email=email, phone_number=phone_number, external_id=external_id)

    def jobs(self) -> list[Job]:
        """Every bulk import job, oldest first."""
        with self.lock:
            return list(self._jobs.values())

    def job(self, job_id: str) -> Job:
        """One job.

        Raises:
            ApiError: 404 when it does not exist.
        """
        with self.lock:
            found = self._jobs.get(job_id)
            if found is None:
                raise ApiError(404, "not_found", f"A job with id {job_id} does not exist.")
            return found

    def requests(self) -> list[RequestRecord]:
        """The request log, oldest first (the last 100,000 requests)."""
        with self.lock:
            return list(self._log)

    def request_counts(self) -> dict[tuple[str, int], int]:
        """Requests per (operation, status) since the start (not capped like the log)."""
        with self.lock:
            return dict(self._counts)

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready summary: counts of everything and requests per endpoint and status."""
        with self.lock:
            by_status: dict[str, dict[str, int]] = {}
            for (op, status), n in sorted(self._counts.items()):
                by_status.setdefault(op, {})[str(status)] = n
            return {
                "profiles": len(self.book),
                "lists": {
                    k.id: {"name": k.name, "members": len(k.members)} for k in self._lists.values()
                },
                "jobs": dict(Counter(j.status for j in self._jobs.values())),
                "requests": by_status,
                "violations": len(self._violations),
            }

    def violations(self) -> list[Violation]:
        """Every request that broke the spec, oldest first (the first 10,000).

        A client that follows Klaviyo's spec causes none; Herald's tests assert that.
        """
        with self.lock:
            return list(self._violations)

    def record_violation(self, violation: Violation) -> None:
        """Add one violation (kept up to the first 10,000)."""
        with self.lock:
            if len(self._violations) < MAX_VIOLATIONS:
                self._violations.append(violation)

    def log_request(self, record: RequestRecord) -> None:
        """Add one request to the log."""
        with self.lock:
            self._log.append(record)
            self._counts[(record.operation, record.status)] += 1

    # --- profiles --------------------------------------------------------------------------

    def create_profile(self, attrs: dict[str, Any]) -> Profile:
        """``POST /api/profiles`` (see ``ProfileBook.create``)."""
        with self.lock:
            return self.book.create(attrs)

    def upsert_profile(self, profile_id: str | None, attrs: dict[str, Any]) -> tuple[Profile, bool]:
        """``POST /api/profile-import`` (see ``ProfileBook.upsert``)."""
        with self.lock:
            return self.book.upsert(profile_id, attrs)

    def query_profiles(self, conditions: list[Condition]) -> list[Profile]:
        """Profiles matching every condition."""
        with self.lock:
            return self.book.query(conditions)

    # --- lists -----------------------------------------------------------------------------

    def restore_list(self, klist: KList) -> None:
        """Put back a saved list with its members (``herald.sandbox.persist``)."""
        with self.lock:
            self._lists[klist.id] = klist

    def create_list(self, name: str, opt_in_process: str | None) -> KList:
        """Create a list (names need not be unique).

        Raises:
            ApiError: 400 when the account already has ``max_lists`` lists.
        """
        with self.lock:
            if len(self._lists) >= self.max_lists:
                msg = f"This account has reached its limit of {self.max_lists} lists and segments."
                raise ApiError(400, "invalid", msg, pointer="/data", violation=False)
            now = self.clock()
            new = KList(self._new_list_id(), name, opt_in_process or "double_opt_in", now, now)
            self._lists[new.id] = new
            return new

    def _new_list_id(self) -> str:
        while (list_id := self.ids.short()) in self._lists:
            pass
        return list_id

    def update_list(self, list_id: str, attributes: dict[str, Any]) -> KList:
        """Rename a list or change its opt-in process."""
        with self.lock:
            found = self.get_list(list_id)
            if attributes.get("name") is not None:
                found.name = attributes["name"]
            if attributes.get("opt_in_process") is not None:
                found.opt_in_process = attributes["opt_in_process"]
            found.updated = self.clock()
            return found

    def delete_list(self, list_id: str) -> None:
        """Delete a list; its profiles stay."""
        with self.lock:
            self.get_list(list_id)
            del self._lists[list_id]

    def query_lists(self, conditions: list[Condition]) -> list[KList]:
        """Lists matching every condition (fields ``id``, ``name``, ``created``, ``updated``)."""
        with self.lock:
            return [k for k in self._lists.values() if _all(conditions, _list_value, k)]

    def add_members(self, list_id: str, profile_ids: list[str]) -> None:
        """Add profiles to a list. Consent is untouched, as in Klaviyo.

        Raises:
            ApiError: 404 for a missing list; 400 pointing at the first unknown profile id.
        """
        with self.lock:
            target = self.get_list(list_id)
            for i, pid in enumerate(profile_ids):
                if pid not in self.book:
                    msg = f"A profile with id {pid} does not exist."
                    raise ApiError(400, "invalid", msg, pointer=f"/data/{i}/id", violation=False)
            self._join(target, profile_ids)

    def remove_members(self, list_id: str, profile_ids: list[str]) -> None:
        """Remove profiles from a list; ids not on it are ignored. Consent is untouched."""
        with self.lock:
            target = self.get_list(list_id)
            for pid in profile_ids:
                target.members.pop(pid, None)

    def members(self, list_id: str, conditions: list[Condition]) -> list[tuple[Profile, float]]:
        """A list's members matching every condition, with when they joined."""
        with self.lock:
            target = self.get_list(list_id)
            out = []
            for pid, joined in target.members.items():
                prof = self.book.get(pid)
                if all(matches(c, _member_value(c.field, prof, joined)) for c in conditions):
                    out.append((prof, joined))
            return out

    def _join(self, target: KList, profile_ids: Iterable[str]) -> None:
        now = self.clock()
        members = target.members
        consume(map(members.setdefault, profile_ids, repeat(now)))  # members keep their time
        if self.bounce_share > 0:
            self.bounce([pid for pid in profile_ids if self._bounces(pid)])

    # --- bounces ---------------------------------------------------------------------------

    def _bounces(self, profile_id: str) -> bool:
        # A hash, not the RNG: a profile bounces or not whatever order it is added in.
        draw = zlib.crc32(f"{self.seed}:{profile_id}".encode()) / 2**32
        return draw < self.bounce_share

    def bounce(self, profile_ids: Iterable[str]) -> None:
        """Hard-bounce profiles: suppress their email and remove them from every list.

        Klaviyo does this on a hard bounce or 7 consecutive soft bounces (FACTS.md §4).
        """
        with self.lock:
            ts = self.clock()
            for pid in profile_ids:
                prof = self.book.get(pid)
                if not any(s["reason"] == "HARD_BOUNCE" for s in prof.suppressions):
                    prof.suppressions.append({"reason": "HARD_BOUNCE", "timestamp": iso(ts) or ""})
                for k in self._lists.values():
                    k.members.pop(pid, None)

    # --- jobs ------------------------------------------------------------------------------

    def create_job(
        self,
        profiles: list[dict[str, Any]],
        list_ids: list[str],
        *,
        will_fail: bool = False,
        max_item_bytes: int | None = None,
        owned: bool = False,
    ) -> Job:
        """Queue a bulk import job.

        Args:
            profiles: the profile resources as sent.
            list_ids: lists to add the imported profiles to.
            will_fail: end the job ``cancelled`` (the ``job_fail`` fault).
            max_item_bytes: reject profiles whose JSON is larger (None: do not check).
            owned: ``profiles`` were parsed for this job alone (nothing else holds them), so
                new profiles may keep their attribute dicts instead of copies.

        Raises:
            ApiError: 404 when a list does not exist.
        """
        with self.lock:
            for list_id in list_ids:
                self.get_list(list_id)
            now = self.clock()
            job = Job(
                self.ids.ulid(now), "queued", now, len(profiles), list_ids, will_fail, profiles
            )
            job.max_item_bytes, job.owned = max_item_bytes, owned
            self._jobs[job.id] = job
            return job

    def query_jobs(self, conditions: list[Condition]) -> list[Job]:
        """Jobs matching every condition (field ``status``)."""
        with self.lock:
            return [j for j in self._jobs.values() if _all(conditions, _job_value, j)]

    def advance_jobs(self) -> int:
        """Move every job one step: queued → processing, processing → complete (or cancelled).

        Tests call this to step jobs deterministically (``job_tick=None``).

        Returns:
            How many jobs changed state.
        """
        with self.lock:
            started = [j for j in self._jobs.values() if j.status == "queued"]
            running = [j for j in self._jobs.values() if j.status == "processing"]
            for job in running:
                self._work_on(job, len(job.payload))
            self._start(started)
            return len(started) + len(running)

    def work(self, max_profiles: int) -> bool:
        """Process up to ``max_profiles`` of the oldest processing job, or start queued jobs.

        The background worker calls this in small slices so that a 10,000-profile job never
        holds the lock (or the GIL) long enough to stall requests. New, valid profiles go in
        bulk (``_import_new``); when a slice cannot, a quarter of it goes one by one, which
        takes about as long.

        Returns:
            Whether there was anything to do.
        """
        with self.lock:
            running = next((j for j in self._jobs.values() if j.status == "processing"), None)
            if running is not None:
                self._work_on(running, max_profiles, max(1, max_profiles // 4))
                return True
            return self._start([j for j in self._jobs.values() if j.status == "queued"]) > 0

    def run_jobs(self) -> None:
        """Advance every job until none is queued or processing."""
        while self.advance_jobs():
            pass

    def _start(self, jobs: list[Job]) -> int:
        now = self.clock()
        for job in jobs:
            job.status, job.started_at = "processing", now
        return len(jobs)

    def _work_on(self, job: Job, max_profiles: int, one_by_one: int | None = None) -> None:
        if job.will_fail:
            job.status, job.failed_count = "cancelled", job.total_count
        else:
            end = min(len(job.payload), job.cursor + max_profiles)
            if not self._import_new(job, end):
                end = min(end, job.cursor + (one_by_one or max_profiles))
                for i in range(job.cursor, end):
                    problem = self._import_one(job.payload[i], i, job.imported, job.max_item_bytes)
                    if problem is not None:
                        job.errors.append(problem)
            job.cursor = end
            if end < len(job.payload):
                return
            self._complete(job)
        job.payload = []
        job.completed_at = self.clock()

    def _complete(self, job: Job) -> None:
        job.profile_ids = list(job.imported)
        job.imported = {}
        job.failed_count = len(job.errors)
        job.completed_count = job.total_count - job.failed_count
        for list_id in job.list_ids:
            if list_id in self._lists:  # the list may have been deleted meanwhile
                self._join(self._lists[list_id], job.profile_ids)
        job.status = "complete"

    def _import_new(self, job: Job, end: int) -> bool:
        """Import ``payload[cursor:end]`` in one go if every profile in it is new and valid.

        Returns:
            False, with nothing changed, when the slice must go profile by profile.
        """
        items = job.payload[job.cursor : end]
        if not items or self.book.may_update(items[0]):
            return False  # likely a slice of updates: the checks below would be wasted
        if job.max_item_bytes is not None and not all_within(items, job.max_item_bytes):
            return False
        rows = new_rows(items, reuse=job.owned)
        ids = self.book.add_new(rows) if rows is not None else None
        if ids is None:
            return False
        job.imported.update(dict.fromkeys(ids))
        return True

    def _import_one(
        self, item: dict[str, Any], index: int, imported: dict[str, None], max_bytes: int | None
    ) -> ImportErrorRecord | None:
        pointer = f"/data/attributes/profiles/data/{index}"
        if max_bytes is not None and encoded_size(item) > max_bytes:
            detail = f"The profile is larger than the {max_bytes // 1000} KB allowed per profile."
            return _import_error(detail, pointer, item)
        attrs = item.get("attributes") or {}
        email, phone = attrs.get("email"), attrs.get("phone_number")
        if not (email or phone or attrs.get("external_id") or item.get("id")):
            detail = "A profile needs an email, a phone_number, an external_id or an id."
            return _import_error(detail, f"{pointer}/attributes", item)
        if email is not None and not EMAIL_RE.match(email):
            return _import_error("Invalid email address.", f"{pointer}/attributes/email", item)
        if phone is not None and not E164_RE.match(phone):
            detail = "Invalid phone number; it must be in E.164 format."
            return _import_error(detail, f"{pointer}/attributes/phone_number", item)
        try:
            prof = self.book.bulk_upsert(item.get("id"), attrs)
        except ApiError as exc:
            return _import_error(exc.detail, f"{pointer}/attributes", item, code=exc.code)
        imported[prof.id] = None
        return None


def encoded_size(item: Any) -> int:
    """The size of ``item`` as compact JSON, in bytes (``bulk.all_within`` measures alike).

    orjson refuses integers beyond 64 bits and nesting over 255 levels, which a body may hold
    (it was parsed by ``json.loads``); ``json.dumps`` then measures it, so the job worker
    never meets an exception. Nesting too deep for that too counts as too large.
    """
    try:
        return len(orjson.dumps(item))
    except orjson.JSONEncodeError:
        pass
    try:
        text = json.dumps(item, ensure_ascii=False, separators=(",", ":"))
    except (RecursionError, ValueError):
        return sys.maxsize
    return len(text.encode())


def _import_error(
    detail: str, pointer: str, item: dict[str, Any], *, code: str = "invalid"
) -> ImportErrorRecord:
    title = "Conflict." if code == "duplicate_profile" else "Invalid input."
    return ImportErrorRecord(str(uuid.uuid4()), code, title, detail, pointer, item)


def _all(conditions: list[Condition], value: Callable[[str, Any], Any], obj: Any) -> bool:
    return all(matches(c, value(c.field, obj)) for c in conditions)


def _as_datetime(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _list_value(name: str, k: KList) -> Any:
    if name in ("created", "updated"):
        return _as_datetime(getattr(k, name))
    return getattr(k, name)


def _job_value(name: str, job: Job) -> Any:
    return getattr(job, name)


def _member_value(name: str, prof: Profile, joined: float) -> Any:
    if name == "joined_group_at":
        return _as_datetime(joined)
    value = getattr(prof, name)
    return value.lower() if name == "email" and value else value
