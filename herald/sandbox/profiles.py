"""Profiles and their identity: lookups by email, phone number and external id, and Klaviyo's
create, upsert and bulk-upsert rules, including the ``duplicate_profile`` conflicts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from itertools import compress, repeat
from operator import eq, is_not
from typing import Any

from herald.sandbox.bulk import NewRows, consume
from herald.sandbox.errors import ApiError
from herald.sandbox.filters import Condition, matches
from herald.sandbox.models import (
    E164_RE,
    EMAIL_RE,
    IDENTIFIERS,
    PROFILE_FIELDS,
    IdMaker,
    Profile,
    hashed_dict,
)

_INDEXED = ("id", *IDENTIFIERS)
_IDENTIFIER_SET = frozenset(IDENTIFIERS)
_FIELD_SET = frozenset(PROFILE_FIELDS)


def _key(name: str, value: str) -> str:
    # Klaviyo treats email addresses case-insensitively (and stores them lower-cased).
    return value.lower() if name == "email" else value


class ProfileBook:
    """Profiles by id with a unique index per identifier. Not locked: the caller holds the lock.

    Args:
        ids: makes profile ids.
        clock: time source.
    """

    def __init__(self, ids: IdMaker, clock: Callable[[], float]) -> None:
        self._ids = ids
        self._clock = clock
        self._profiles: dict[str, Profile] = hashed_dict()
        self._index: dict[str, dict[str, str]] = {name: hashed_dict() for name in IDENTIFIERS}

    def __len__(self) -> int:
        return len(self._profiles)

    def __contains__(self, profile_id: object) -> bool:
        return profile_id in self._profiles

    def all(self) -> list[Profile]:
        """Every profile, oldest first."""
        return list(self._profiles.values())

    def get(self, profile_id: str) -> Profile:
        """One profile.

        Raises:
            ApiError: 404 when it does not exist.
        """
        found = self._profiles.get(profile_id)
        if found is None:
            raise ApiError(404, "not_found", f"A profile with id {profile_id} does not exist.")
        return found

    def find(self, **identifiers: str | None) -> Profile | None:
        """The first profile that has any of the given identifiers."""
        for name, value in identifiers.items():
            if value is not None and (pid := self._index[name].get(_key(name, value))):
                return self._profiles[pid]
        return None

    def may_update(self, item: Any) -> bool:
        """Whether a bulk import item may update a profile rather than create one.

        True when it has an ``id``, no attributes object, or an identifier an existing profile
        has: one look-up per identifier, to spare ``add_new`` a slice it would refuse.
        """
        attrs = item.get("attributes") if isinstance(item, dict) else None
        if not isinstance(attrs, dict) or item.get("id"):
            return True
        return any(
            isinstance(value := attrs.get(name), str) and _key(name, value) in self._index[name]
            for name in IDENTIFIERS
        )

    def _owners(self, attrs: dict[str, Any]) -> dict[str, str]:
        """Identifier name → id of the profile that already has the value given in ``attrs``."""
        owners = {}
        for name in IDENTIFIERS:
            value = attrs.get(name)
            if value and (pid := self._index[name].get(_key(name, value))):
                owners[name] = pid
        return owners

    # --- the three ways in -----------------------------------------------------------------

    def create(self, attrs: dict[str, Any]) -> Profile:
        """``POST /api/profiles``: a new profile, 409 when an identifier is taken.

        Raises:
            ApiError: 400 for a missing or invalid identifier; 409 ``duplicate_profile`` with
                ``meta.duplicate_profile_id``.
        """
        check_identifiers(attrs, require=True)
        if owners := self._owners(attrs):
            raise _duplicate(
                next(iter(owners.values())),
                "A profile already exists with one of these identifiers.",
            )
        return self._new(attrs)

    def upsert(self, profile_id: str | None, attrs: dict[str, Any]) -> tuple[Profile, bool]:
        """``POST /api/profile-import``: update the one matching profile or create one.

        Returns:
            The profile and whether it was created.

        Raises:
            ApiError: 400 for invalid identifiers; 404 for an unknown ``id``; 409
                ``duplicate_profile`` when the identifiers belong to different profiles.
        """
        check_identifiers(attrs, require=profile_id is None)
        owners = set(self._owners(attrs).values())
        if profile_id is not None:
            target = self.get(profile_id)
            owners.discard(profile_id)
            if owners:
                raise _duplicate(owners.pop(), "An identifier belongs to another profile.")
            return self._update(target, attrs), False
        if len(owners) > 1:
            raise _duplicate(sorted(owners)[0], "The identifiers belong to different profiles.")
        if owners:
            return self._update(self._profiles[owners.pop()], attrs), False
        return self._new(attrs), True

    def bulk_upsert(self, profile_id: str | None, attrs: dict[str, Any]) -> Profile:
        """One profile of a bulk import: matched by id, then email, then phone, then external id.

        Raises:
            ApiError: 404 for an unknown ``id``; 409 ``duplicate_profile`` when another
                identifier belongs to a different profile than the one matched.
        """
        # The hot path of a 10,000-profile job: index lookups are inlined on purpose.
        email, phone, external = (
            attrs.get("email"),
            attrs.get("phone_number"),
            attrs.get("external_id"),
        )
        index = self._index
        owners = [
            pid
            for pid in (
                index["email"].get(email.lower()) if email else None,
                index["phone_number"].get(phone) if phone else None,
                index["external_id"].get(external) if external else None,
            )
            if pid is not None
        ]
        if profile_id:
            target = self.get(profile_id)
        elif owners:
            target = self._profiles[owners[0]]
        else:
            return self._new(attrs)
        if any(pid != target.id for pid in owners):
            raise _duplicate(target.id, "The identifiers belong to different profiles.")
        return self._update(target, attrs)

    def add_new(self, rows: NewRows) -> list[str] | None:
        """Create one profile per row, as ``bulk_upsert`` would, when every row is new.

        Returns:
            The new ids in row order; None (and nothing changed) when an identifier is taken
            or given twice, so that rows must go through ``bulk_upsert`` one by one.
        """
        now = self._clock()
        before = self._ids.state()
        ids = self._new_ids(now, len(rows.attributes))
        claimed: list[tuple[dict[str, str], list[str | None]]] = []
        for name, values in zip(IDENTIFIERS, rows.identifiers(), strict=True):
            index = self._index[name]
            if not _claim(index, values, ids):
                for done, keys in claimed:
                    consume(map(done.pop, filter(None, keys)))
                self._ids.restore(before)  # as if the ids had not been drawn
                return None
            claimed.append((index, values))
        created = map(Profile, ids, repeat(now), repeat(now), *rows.identifiers(), rows.attributes)
        self._profiles.update(zip(ids, created, strict=True))
        rows.detach_identifiers()
        return ids

    def _new_ids(self, now: float, n: int) -> list[str]:
        """``n`` ids not in use, drawn exactly as ``n`` calls of ``_new`` would draw them."""
        # Ids start with their millisecond: in a new one no existing profile can clash, which
        # saves a look-up per id in a dict of a million profiles (a cache miss each).
        first = self._ids.first_in(now)
        before = self._ids.state()
        ids = self._ids.ulids(now, n)
        if len(set(ids)) == n and (first or self._profiles.keys().isdisjoint(ids)):
            return ids
        self._ids.restore(before)  # a clash (about one in 2**64): redraw as ``_new`` does
        ids, taken = [], set()
        for _ in range(n):
            pid = self._ids.ulid(now)
            while pid in self._profiles or pid in taken:
                pid = self._ids.ulid(now)
            taken.add(pid)
            ids.append(pid)
        return ids

    # --- writes ----------------------------------------------------------------------------

    def _new(self, attrs: dict[str, Any]) -> Profile:
        now = self._clock()
        prof = Profile(self._ids.ulid(now), now, now)
        while prof.id in self._profiles:
            prof.id = self._ids.ulid(now)
        self._profiles[prof.id] = prof
        return self._update(prof, attrs)

    def _update(self, prof: Profile, attrs: dict[str, Any]) -> Profile:
        # A key that is absent leaves the field alone; null clears it (spec, profile-import).
        for name, value in attrs.items():
            if name in _IDENTIFIER_SET:
                if value and name == "email":
                    value = value.lower()
                if value != getattr(prof, name):
                    self._set_identifier(prof, name, value)
            elif name not in _FIELD_SET:
                continue
            elif value is None:
                prof.attributes.pop(name, None)
            elif name in ("properties", "location"):
                prof.attributes[name] = {**prof.attributes.get(name, {}), **value}
            else:
                prof.attributes[name] = value
        prof.updated = self._clock()
        return prof

    def restore(self, prof: Profile, identifiers: dict[str, str | None]) -> None:
        """Put back a saved profile with its identifiers (``herald.sandbox.persist``)."""
        self._profiles[prof.id] = prof
        for name, value in identifiers.items():
            if value:
                self._set_identifier(prof, name, value)

    def _set_identifier(self, prof: Profile, name: str, value: str | None) -> None:
        index = self._index[name]
        old = getattr(prof, name)
        if old is not None:
            index.pop(_key(name, old), None)
        setattr(prof, name, value or None)
        if value:
            index[_key(name, value)] = prof.id

    # --- reads -----------------------------------------------------------------------------

    def query(self, conditions: list[Condition]) -> list[Profile]:
        """Profiles matching every condition; ``equals``/``any`` on an identifier use the index."""
        candidates = self._candidates(conditions)
        return [
            p for p in candidates if all(matches(c, profile_value(c.field, p)) for c in conditions)
        ]

    def _candidates(self, conditions: list[Condition]) -> list[Profile]:
        for cond in conditions:
            if cond.field in _INDEXED and cond.operator in ("equals", "any"):
                values = cond.value if cond.operator == "any" else [cond.value]
                if cond.field == "id":
                    ids = [v for v in values if v in self._profiles]
                else:
                    index = self._index[cond.field]
                    ids = [
                        index[k]
                        for v in values
                        if isinstance(v, str) and (k := _key(cond.field, v)) in index
                    ]
                unique = dict.fromkeys(ids)
                return sorted((self._profiles[i] for i in unique), key=lambda p: p.created)
        return list(self._profiles.values())


def _claim(index: dict[str, str], values: list[Any], ids: list[str]) -> bool:
    """Index each value (None aside) to its id if none is taken or repeated; else change nothing.

    ``setdefault`` looks each value up and inserts it in one go: one visit to a dict of a
    million entries (a cache miss) per value instead of a look-up and then an insert.
    """
    if None in values:
        given = list(map(is_not, values, repeat(None)))
        values, ids = list(compress(values, given)), list(compress(ids, given))
    owners = list(map(index.setdefault, values, ids))
    if owners == ids:
        return True
    # Undo the inserts: a value this call inserted is owned by its own (new, unique) id.
    consume(map(index.pop, compress(values, map(eq, owners, ids))))
    return False


def profile_value(name: str, prof: Profile) -> Any:
    """A profile's value for a filter field (emails lower-cased, times as datetimes)."""
    if name in ("created", "updated"):
        return datetime.fromtimestamp(getattr(prof, name), UTC)
    value = getattr(prof, name)
    return _key(name, value) if name == "email" and value else value


def check_identifiers(attrs: dict[str, Any], *, require: bool) -> None:
    """Klaviyo's synchronous identifier checks for the single-profile endpoints.

    Raises:
        ApiError: 400 with a pointer at the bad attribute; the value is never echoed. The
            spec's schema allows any string, so these are not recorded as violations.
    """
    email, phone = attrs.get("email"), attrs.get("phone_number")
    if email is not None and not EMAIL_RE.match(email):
        detail = "Invalid email address."
        raise _semantic(detail, "/data/attributes/email")
    if phone is not None and not E164_RE.match(phone):
        detail = "Invalid phone number; it must be in E.164 format."
        raise _semantic(detail, "/data/attributes/phone_number")
    if require and not any(attrs.get(k) for k in IDENTIFIERS):
        detail = "One of 'email', 'phone_number' or 'external_id' is required."
        raise _semantic(detail, "/data/attributes")


def _semantic(detail: str, pointer: str) -> ApiError:
    return ApiError(400, "invalid", detail, pointer=pointer, violation=False)


def _duplicate(profile_id: str, detail: str) -> ApiError:
    return ApiError(409, "duplicate_profile", detail, meta={"duplicate_profile_id": profile_id})
