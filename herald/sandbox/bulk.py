"""The bulk import job's fast path: a slice of new, valid profiles taken in one go.

``SandboxState._import_one`` takes profiles one at a time through the size, identifier, email
and phone checks and then ``ProfileBook.bulk_upsert`` (about 10 µs a profile). In a sync's first
run nearly every profile is new and valid, and for such a slice the outcome is simple: one new
profile per item, in order. ``new_rows`` checks that a slice is like that with a few C-level
passes over it (``map``, ``set``, ``itemgetter``) and returns what the new profiles need;
``ProfileBook.add_new`` then checks that no identifier is taken or repeated and creates them.
Anything else (an ``id``, an invalid email or phone, a missing identifier, an unexpected type)
makes the whole slice take the per-profile path, which remains the reference behaviour.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import repeat
from operator import delitem, itemgetter, methodcaller
from typing import Any

import orjson

from herald.sandbox.batch import column
from herald.sandbox.models import E164_RE, EMAIL_RE, IDENTIFIERS, PROFILE_FIELDS

#: Attributes a new profile keeps (the identifiers are fields of ``Profile``).
_FIELDS = frozenset(PROFILE_FIELDS)
#: Attributes ``_update`` merges into the stored ones (so they must be dicts).
_MERGED = frozenset({"properties", "location"})
#: Profiles per size check: far under the 100 KB cap for profiles of usual size.
_SIZE_CHUNK = 64
_IDENTIFIER_SET = frozenset(IDENTIFIERS)
_KNOWN = _FIELDS | _IDENTIFIER_SET
_NONE = type(None)
_get_id = methodcaller("get", "id")
#: Runs an iterator to its end, keeping nothing (a C-level loop over a ``map``).
consume: Callable[[Iterable[Any]], None] = deque(maxlen=0).extend


@dataclass(slots=True)
class NewRows:
    """What ``ProfileBook.add_new`` needs, one entry per profile, in payload order.

    Attributes:
        emails: lower-cased emails, or None.
        phone_numbers: E.164 phone numbers, or None.
        external_ids: external ids, or None (an empty one too, as ``_update`` stores it).
        attributes: the other attributes as ``ProfileBook._update`` stores them, once
            ``detach_identifiers`` has run.
        in_place: identifier keys still in ``attributes``: the payload's own attribute dicts
            are reused (see ``_reusable``) and lose them in ``detach_identifiers``.
    """

    emails: list[str | None]
    phone_numbers: list[str | None]
    external_ids: list[str | None]
    attributes: list[dict[str, Any]]
    in_place: tuple[str, ...] = ()

    def identifiers(self) -> tuple[list[str | None], ...]:
        """The identifier columns, in the order of ``IDENTIFIERS``."""
        return self.emails, self.phone_numbers, self.external_ids

    def detach_identifiers(self) -> None:
        """Leave only profile fields in ``attributes`` (once the profiles are created)."""
        for name in self.in_place:
            _drop(self.attributes, name)


def new_rows(items: list[Any], *, reuse: bool = False) -> NewRows | None:
    """The rows of a slice whose every profile passes the job's checks with no ``id``.

    Args:
        items: the slice of the job's payload.
        reuse: the job owns its payload: keep its attribute dicts when they can be kept.

    Returns:
        The rows, or None when any profile may fail a check, has an ``id`` (which is looked
        up, not created) or carries a type the per-profile path would treat differently.
    """
    if not items or set(map(type, items)) != {dict}:
        return None
    keys = set().union(*items)
    if "id" in keys and any(map(_get_id, items)):
        return None
    attrs = get_all(items, "attributes", keys)
    if set(map(type, attrs)) != {dict}:
        return None
    keys = set().union(*attrs)
    emails, phones, externals = (get_all(attrs, name, keys) for name in IDENTIFIERS)
    if not (
        _strings(emails, allow_empty=False)
        and _strings(phones, allow_empty=False)
        and _strings(externals, allow_empty=True)
        and all(map(EMAIL_RE.match, filter(None, emails)))
        and all(map(E164_RE.match, filter(None, phones)))
        and all(map(any, zip(emails, phones, externals, strict=True)))  # each has one
        and all(_merged_ok(attrs, name) for name in keys & _MERGED)
    ):
        return None
    lowered = [e.lower() if e is not None else None for e in emails]
    externals = [x or None for x in externals]
    if reuse and _reusable(attrs, keys):
        return NewRows(lowered, phones, externals, attrs, tuple(keys & _IDENTIFIER_SET))
    return NewRows(lowered, phones, externals, list(map(_attributes, attrs)))


def get_all(dicts: list[dict[str, Any]], name: str, keys: set[str]) -> list[Any]:
    """``d.get(name)`` for each dict; ``keys`` holds every key any of them has."""
    if name not in keys:
        return [None] * len(dicts)
    try:
        return list(map(itemgetter(name), dicts))  # itemgetter is twice as fast as .get
    except KeyError:
        return list(map(methodcaller("get", name), dicts))


def _strings(values: list[Any], *, allow_empty: bool) -> bool:
    """Every value is a string or None (and, unless allowed, no string is empty)."""
    # An empty email or phone fails its pattern, but ``filter(None, …)`` in ``new_rows`` would
    # skip it: it is refused here.
    return set(map(type, values)) <= {str, _NONE} and (allow_empty or "" not in values)


def _merged_ok(attrs: list[dict[str, Any]], name: str) -> bool:
    # ``_update`` merges these with ``{**old, **value}``: only a dict (or None) is safe.
    return set(map(type, column(attrs, name))) <= {dict, _NONE}


def _reusable(attrs: list[dict[str, Any]], keys: set[str]) -> bool:
    """Whether each attribute dict, bar its identifiers, is what ``_update`` would store.

    It is when it holds only identifiers and profile fields, none of them null. When the job
    owns its payload (``SandboxState.create_job``) such dicts become the profiles' attributes
    instead of being copied: a copy, the payload's later release and the garbage collector's
    look at both cost more than the rest of creating the profile.
    """
    return keys <= _KNOWN and not any(None in column(attrs, name) for name in keys & _FIELDS)


def _drop(dicts: list[dict[str, Any]], name: str) -> None:
    try:
        consume(map(delitem, dicts, repeat(name)))
    except KeyError:  # not in every dict: pop (which tolerates the ones already done)
        consume(map(methodcaller("pop", name, None), dicts))


def _attributes(attrs: dict[str, Any]) -> dict[str, Any]:
    """What ``ProfileBook._update`` stores for a new profile: known fields, nulls dropped."""
    return {
        k: (dict(v) if k in _MERGED else v)
        for k, v in attrs.items()
        if k in _FIELDS and v is not None
    }


def all_within(items: list[Any], max_bytes: int) -> bool:
    """Whether every item's compact JSON is at most ``max_bytes`` (as ``encoded_size`` says).

    An item's encoding is a substring of its chunk's, so a chunk within the cap clears all its
    items with one ``orjson.dumps``; only a chunk over it is measured item by item.
    """
    try:
        for start in range(0, len(items), _SIZE_CHUNK):
            chunk = items[start : start + _SIZE_CHUNK]
            if len(orjson.dumps(chunk)) > max_bytes and any(
                map(max_bytes.__lt__, map(len, map(orjson.dumps, chunk)))
            ):
                return False
    except orjson.JSONEncodeError:
        return False  # the per-profile path meets the same error where it always did
    return True
