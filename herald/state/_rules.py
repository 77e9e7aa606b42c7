"""Pure helpers of the state store: names, canonical content, and helpful messages."""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import secrets
import shlex
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from herald.core.names import description_problem, name_problem
from herald.exceptions import DefinitionError, NotFoundError

KINDS = frozenset({"segment", "campaign"})
"""The kinds of versioned definitions the store keeps; one mechanism serves them all."""


def check_kind(kind: str) -> None:
    """Refuse a kind the store does not know (a programming error, hence ValueError).

    >>> check_kind("segmnt")
    Traceback (most recent call last):
    ...
    ValueError: unknown definition kind 'segmnt'; did you mean 'segment'?
    """
    if kind not in KINDS:
        msg = f"unknown definition kind {kind!r}{did_you_mean(kind, KINDS)}"
        raise ValueError(msg)


def check_limit(limit: int | None) -> None:
    """Refuse a negative ``limit`` (None means no limit).

    >>> check_limit(-1)
    Traceback (most recent call last):
    ...
    ValueError: limit must be 0 or more, not -1
    """
    if limit is not None and limit < 0:
        msg = f"limit must be 0 or more, not {limit}"
        raise ValueError(msg)


def check_name(kind: str, name: object) -> str:
    """Return ``name`` if it is a valid definition name, else raise DefinitionError.

    >>> check_name("segment", "x" * 201)
    Traceback (most recent call last):
    ...
    herald.exceptions.DefinitionError: at name: segment name is 201 characters long; ...
    """
    if not isinstance(name, str):
        problem = f"{kind} name must be a string, not {type(name).__name__}"
    elif not name:
        problem = f"{kind} name must not be empty"
    elif name != name.strip():
        problem = f"{kind} name {name!r} must not start or end with whitespace"
    else:
        found = name_problem(kind, name)
        if found is None:
            return name
        problem = found
    raise DefinitionError(problem, location="name")


def check_description(kind: str, name: str, description: object) -> str | None:
    """Return ``description`` if it is None or a string, else raise DefinitionError."""
    if description is None:
        return description
    if isinstance(description, str):
        problem = description_problem(description)
        if problem is None:
            return description
        msg = f"{kind} {name!r}: {problem}"
        raise DefinitionError(msg, location="description")
    msg = f"{kind} {name!r}: description must be a string, not {type(description).__name__}"
    raise DefinitionError(msg, location="description")


def encode_definition(kind: str, name: str, definition: object) -> tuple[str, str]:
    """Return ``(stored JSON, content hash)`` of a definition.

    The stored JSON keeps the author's key order (it is what they see again); the hash is
    over the canonical form, so key order and whitespace never count as a change.

    >>> encode_definition("segment", "a", {"b": 1, "a": "é"})[0]
    '{"b":1,"a":"é"}'
    >>> encode_definition("segment", "a", {"b": 1, "a": "é"})[1] == content_hash({"a": "é", "b": 1})
    True
    """
    if not isinstance(definition, Mapping):
        msg = f"{kind} {name!r}: definition must be a mapping, not {type(definition).__name__}"
        raise DefinitionError(msg)
    try:
        stored = json.dumps(definition, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as err:
        msg = f"{kind} {name!r}: definition cannot be stored as JSON: {err}"
        raise DefinitionError(msg) from err
    return stored, content_hash(json.loads(stored))


def content_hash(definition: Mapping[str, Any]) -> str:
    """The canonical content hash of a definition: sha256 of its sorted, compact JSON.

    >>> content_hash({"b": 2, "a": 1}) == content_hash({"a": 1, "b": 2})
    True
    """
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def encode_metrics(name: str, metrics: Mapping[str, float | int | None]) -> str:
    """Return the JSON text of an insights metrics mapping, refusing NaN and infinities."""
    for key, value in metrics.items():
        bad_type = value is not None and not isinstance(value, int | float)
        if not isinstance(key, str) or bad_type or isinstance(value, bool):
            msg = f"segment {name!r}: insights metric {key!r} must map a name to a number or None"
            raise ValueError(msg)
        if isinstance(value, float) and not math.isfinite(value):
            msg = f"segment {name!r}: insights metric {key!r} is {value}; store None instead"
            raise ValueError(msg)
    return json.dumps(dict(metrics), sort_keys=True, separators=(",", ":"))


def check_choice(label: str, value: object, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ValueError (a programming error).

    >>> check_choice("run status", "delivred", ["running", "delivered"])
    Traceback (most recent call last):
    ...
    ValueError: unknown run status 'delivred'; did you mean 'delivered'?
    """
    choices = list(choices)
    if isinstance(value, str) and value in choices:
        return value
    hint = did_you_mean(value, choices) if isinstance(value, str) else ""
    msg = f"unknown {label} {value!r}{hint or '; expected ' + ', '.join(map(repr, choices))}"
    raise ValueError(msg)


def check_aware(what: str, label: str, value: datetime | None) -> None:
    """Refuse a naive datetime (the store keeps UTC and cannot guess the zone)."""
    if value is not None and value.utcoffset() is None:
        msg = f"{what}: {label} must be timezone-aware, got {value.isoformat()}"
        raise ValueError(msg)


def new_run_id(at: datetime) -> str:
    """A new run id: ``run_``, the UTC start time to the second, and 6 random hex digits.

    Ids sort by start time (to the second) and are unique with overwhelming probability;
    the store retries with a fresh id on the rare collision.

    >>> new_run_id(datetime(2026, 12, 1, 10, 15, tzinfo=UTC))  # doctest: +ELLIPSIS
    'run_20261201T101500_...'
    >>> len(new_run_id(datetime.now(UTC)))
    26
    """
    return f"run_{at.astimezone(UTC):%Y%m%dT%H%M%S}_{secrets.token_hex(3)}"


def encode_pins(campaign: str, pins: object) -> str:
    """Return the JSON text of a run's pins: segment name to a version number (1 or more).

    >>> encode_pins("spring", {"vip": 3, "lapsed": 1})
    '{"lapsed":1,"vip":3}'
    >>> encode_pins("spring", {"vip": "3"})
    Traceback (most recent call last):
    ...
    ValueError: campaign 'spring': pin 'vip' must map a segment name to a version number ...
    """
    if not isinstance(pins, Mapping):
        msg = f"campaign {campaign!r}: pins must be a mapping, not {type(pins).__name__}"
        raise ValueError(msg)
    for key, value in pins.items():
        if (
            not isinstance(key, str)
            or not isinstance(value, int)
            or isinstance(value, bool)
            or value < 1
        ):
            msg = (
                f"campaign {campaign!r}: pin {key!r} must map a segment name to a version "
                f"number of 1 or more, not {value!r}"
            )
            raise ValueError(msg)
    return json.dumps(dict(pins), sort_keys=True, separators=(",", ":"))


def encode_stats(run_id: str, stats: object) -> str | None:
    """Return the JSON text of a run's stats (None stays None), refusing NaN and infinities."""
    if stats is None:
        return None
    if not isinstance(stats, Mapping):
        msg = f"run {run_id!r}: stats must be a mapping, not {type(stats).__name__}"
        raise ValueError(msg)
    try:
        return json.dumps(stats, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as err:
        msg = f"run {run_id!r}: stats cannot be stored as JSON: {err}"
        raise ValueError(msg) from err


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A "; did you mean …?" suffix naming the closest candidates, or an empty string.

    >>> did_you_mean("hig_value", ["high_value", "lapsed"])
    "; did you mean 'high_value'?"
    """
    matches = difflib.get_close_matches(word, list(candidates), n=3)
    if not matches:
        return ""
    return "; did you mean " + " or ".join(repr(m) for m in matches) + "?"


def command(kind: str, verb: str, name: str | None = None) -> str:
    """The CLI command that does ``verb`` to a definition, quoted for a shell.

    >>> command("segment", "activate", "high value")
    "`herald segment activate 'high value'`"
    """
    words = ["herald", kind, verb] + ([name] if name is not None else [])
    return "`" + shlex.join(words) + "`"


def unknown_name(kind: str, name: str, existing: Iterable[str]) -> NotFoundError:
    """The error for a name that does not exist, with the closest existing names."""
    existing = list(existing)
    if not existing:
        hint = f"; no {kind}s exist yet"
    else:
        hint = did_you_mean(name, existing) or f"; {command(kind, 'list')} shows the existing ones"
    return NotFoundError(f"{kind} {name!r} not found{hint}")
