"""The lifecycle rules of versioned definitions, each run inside the caller's transaction.

At most one draft and one active version per name; activation freezes a version and retires
the previous one; nothing is written when nothing changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import sqlalchemy as sa

from herald.exceptions import HeraldError, NotFoundError, StateError
from herald.state import _queries as q
from herald.state._rules import command, unknown_name
from herald.state.models import ApplyAction, ApplyResult, DefinitionVersion, SaveResult, Which


class LostRace(HeraldError):
    """Another writer changed the same name first; the whole transaction may be retried."""


def require(conn: sa.Connection, kind: str, name: str, *, lock: bool = False) -> q.Row:
    """The definitions row of a name, or NotFoundError with the closest existing names."""
    definition = q.find_definition(conn, kind, name, lock=lock)
    if definition is None:
        raise unknown_name(kind, name, q.definition_names(conn, kind))
    return definition


def standing_versions(conn: sa.Connection, definition_id: int) -> dict[str, q.Row]:
    """The draft and active versions of a name, by status, plus ``"latest"``."""
    rows = q.version_rows(conn, definition_id)
    standing = {row.status: row for row in rows if row.status in ("draft", "active")}
    standing["latest"] = rows[-1]
    return standing


def version_by_number(
    conn: sa.Connection, kind: str, name: str, definition_id: int, number: int
) -> q.Row:
    """One version by number, or NotFoundError listing the numbers that exist."""
    rows = q.version_rows(conn, definition_id)
    for row in rows:
        if row.version == number:
            return row
    numbers = [row.version for row in rows]
    have = f"version {numbers[0]}" if len(numbers) == 1 else f"versions {numbers[0]}–{numbers[-1]}"
    msg = f"{kind} {name!r} has no version {number}; it has {have}"
    raise NotFoundError(msg)


def get_version(conn: sa.Connection, kind: str, name: str, which: Which) -> DefinitionVersion:
    """The version selected by ``which`` (see `StateStore.get`)."""
    definition = require(conn, kind, name)
    if isinstance(which, int) and not isinstance(which, bool):
        row = version_by_number(conn, kind, name, definition.id, which)
        return q.to_version(kind, name, row)
    if which not in ("active", "draft", "latest"):
        msg = f"which must be 'active', 'draft', 'latest' or a version number, not {which!r}"
        raise ValueError(msg)
    standing = standing_versions(conn, definition.id)
    if which not in standing:
        raise _missing_status(kind, name, which, standing)
    return q.to_version(kind, name, standing[which])


def _missing_status(
    kind: str, name: str, which: str, standing: Mapping[str, q.Row]
) -> NotFoundError:
    if which == "active":
        draft = standing["draft"].version
        hint = f"activate the draft (version {draft}) with {command(kind, 'activate', name)}"
        return NotFoundError(f"{kind} {name!r} has no active version; {hint}")
    active = standing["active"].version
    msg = (
        f"{kind} {name!r} has no draft; it is active at version {active}. "
        "Saving a change makes a new draft beside it"
    )
    return NotFoundError(msg)


def _same(row: q.Row, content: tuple[str, str], description: str | None) -> bool:
    """Whether a version already holds this content, and this description when one is given."""
    return row.content_hash == content[1] and description in (None, row.description)


def save_draft(
    conn: sa.Connection,
    kind: str,
    name: str,
    content: tuple[str, str],
    description: str | None,
    *,
    new: bool = False,
) -> SaveResult:
    """Save a draft: new name → version 1; draft → rewritten in place; else a new version.

    ``new``: the caller found no such name; one created since (another writer's, committed
    in between on PostgreSQL) is a `LostRace`, so the whole transaction is retried and the
    caller decides again, seeing it.
    """
    at = q.now()
    definition = q.find_definition(conn, kind, name, lock=True)
    if new and definition is not None:
        msg = f"{kind} {name!r} was created by another writer meanwhile"
        raise LostRace(msg)
    if definition is None:
        definition_id = q.insert_definition(conn, kind, name, description, at)
        version_id = q.insert_version(conn, definition_id, 1, content, description, at)
        return SaveResult(q.to_version(kind, name, q.version_row(conn, version_id)), True)
    standing = standing_versions(conn, definition.id)
    draft = standing.get("draft")
    if draft is not None and _same(draft, content, description):
        return SaveResult(q.to_version(kind, name, draft), False)
    # None means "keep the description the name has", for a rewritten or a new draft alike.
    kept = definition.description if description is None else description
    if draft is not None:
        version_id = draft.id
        if q.update_draft(conn, version_id, content, kept) != 1:
            msg = f"the draft of {kind} {name!r} changed while it was being saved"
            raise LostRace(msg)
    else:
        number = standing["latest"].version + 1
        version_id = q.insert_version(conn, definition.id, number, content, kept, at)
    q.touch_definition(conn, definition.id, kept, at)
    return SaveResult(q.to_version(kind, name, q.version_row(conn, version_id)), True)


def activate_draft(conn: sa.Connection, kind: str, name: str) -> DefinitionVersion:
    """Make the draft active and retire the previous active version."""
    definition = require(conn, kind, name, lock=True)
    standing = standing_versions(conn, definition.id)
    draft = standing.get("draft")
    if draft is None:
        active = standing.get("active")
        already = f"; it is already active at version {active.version}" if active else ""
        msg = f"{kind} {name!r} has no draft to activate{already}; edit it first to make a draft"
        raise StateError(msg)
    at = q.now()
    active = standing.get("active")
    # Retire first: the partial unique index allows one active version at any moment.
    retired = active is None or q.set_status(conn, active.id, old="active", new="retired") == 1
    if not retired or q.set_status(conn, draft.id, old="draft", new="active", at=at) != 1:
        msg = f"{kind} {name!r} changed while it was being activated"
        raise LostRace(msg)
    q.touch_definition(conn, definition.id, draft.description, at)
    return q.to_version(kind, name, q.version_row(conn, draft.id))


def apply(
    conn: sa.Connection,
    kind: str,
    name: str,
    content: tuple[str, str],
    description: str | None,
    status: Literal["draft", "active"],
) -> ApplyResult:
    """Make the content stand in ``status``, writing nothing when it already does."""
    definition = q.find_definition(conn, kind, name, lock=True)
    if definition is not None:
        standing = standing_versions(conn, definition.id)
        target = standing.get(status)
        if status == "draft" and target is None:
            # With no draft, the active version is what a draft would start from.
            target = standing.get("active")
        if target is not None and _same(target, content, description):
            return ApplyResult(q.to_version(kind, name, target), "unchanged")
    saved = save_draft(conn, kind, name, content, description, new=definition is None)
    if status == "active":
        saved = SaveResult(activate_draft(conn, kind, name), True)
    action: ApplyAction = "activated" if status == "active" else "updated"
    return ApplyResult(saved.version, "created" if definition is None else action)


def delete(conn: sa.Connection, kind: str, name: str) -> None:
    """Delete a never-activated name with everything it owns."""
    definition = require(conn, kind, name, lock=True)
    active = standing_versions(conn, definition.id).get("active")
    if active is not None:
        msg = (
            f"{kind} {name!r} cannot be deleted: version {active.version} is active and may be "
            "in use by campaigns; archive it instead"
        )
        raise StateError(msg)
    q.delete_definition(conn, definition.id)
