"""Row-level reads and writes of the state tables, each on a connection the caller owns.

Functions here do no lifecycle reasoning; `herald.state.store` decides what to write.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from herald.actor import current_actor
from herald.state._schema import campaign_state as campaign_state_t
from herald.state._schema import definition_versions as versions_t
from herald.state._schema import definitions as definitions_t
from herald.state._schema import insights as insights_t
from herald.state._schema import runs as runs_t
from herald.state._schema import schedules as schedules_t
from herald.state.models import (
    CampaignState,
    DefinitionSummary,
    DefinitionVersion,
    InsightsRecord,
    Run,
)

Row = sa.Row[Any]


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


# --- definitions ----------------------------------------------------------------------------


def find_definition(conn: sa.Connection, kind: str, name: str, *, lock: bool = False) -> Row | None:
    """The definitions row of a name, locked against concurrent writers when ``lock``.

    SQLite ignores FOR UPDATE; there the whole write transaction holds the database lock.
    """
    query = sa.select(definitions_t).where(
        definitions_t.c.kind == kind, definitions_t.c.name == name
    )
    if lock:
        query = query.with_for_update()
    return conn.execute(query).one_or_none()


def definition_names(conn: sa.Connection, kind: str) -> list[str]:
    """All names of one kind, sorted."""
    query = sa.select(definitions_t.c.name).where(definitions_t.c.kind == kind)
    return sorted(conn.execute(query).scalars())


def insert_definition(
    conn: sa.Connection, kind: str, name: str, description: str | None, at: datetime
) -> int:
    """Insert a new name and return its id."""
    values = {"kind": kind, "name": name, "description": description}
    result = conn.execute(definitions_t.insert().values(created_at=at, updated_at=at, **values))
    (definition_id,) = result.inserted_primary_key or (None,)
    assert definition_id is not None
    return int(definition_id)


def touch_definition(
    conn: sa.Connection, definition_id: int, description: str | None, at: datetime
) -> None:
    """Record that a name changed, with its latest description."""
    conn.execute(
        definitions_t.update()
        .where(definitions_t.c.id == definition_id)
        .values(updated_at=at, description=description)
    )


def delete_definition(conn: sa.Connection, definition_id: int) -> None:
    """Delete a name with its versions, insights and campaign state (runs are kept).

    Children are deleted explicitly rather than through ON DELETE CASCADE alone, so the
    outcome does not depend on a connection having foreign keys switched on.
    """
    conn.execute(insights_t.delete().where(insights_t.c.definition_id == definition_id))
    conn.execute(campaign_state_t.delete().where(campaign_state_t.c.definition_id == definition_id))
    conn.execute(versions_t.delete().where(versions_t.c.definition_id == definition_id))
    conn.execute(definitions_t.delete().where(definitions_t.c.id == definition_id))


def summaries(conn: sa.Connection, kind: str) -> list[DefinitionSummary]:
    """Every name of one kind with its draft and active version numbers, sorted by name."""
    standing = (
        sa.select(versions_t.c.definition_id, versions_t.c.status, versions_t.c.version)
        .join(definitions_t, definitions_t.c.id == versions_t.c.definition_id)
        .where(definitions_t.c.kind == kind, versions_t.c.status.in_(["draft", "active"]))
    )
    numbers: dict[tuple[int, str], int] = {
        (row.definition_id, row.status): row.version for row in conn.execute(standing)
    }
    rows = conn.execute(
        sa.select(definitions_t).where(definitions_t.c.kind == kind).order_by(definitions_t.c.name)
    )
    return [
        DefinitionSummary(
            kind=row.kind,
            name=row.name,
            active_version=numbers.get((row.id, "active")),
            draft_version=numbers.get((row.id, "draft")),
            updated_at=row.updated_at,
            description=row.description,
        )
        for row in rows
    ]


# --- versions -------------------------------------------------------------------------------


def version_rows(conn: sa.Connection, definition_id: int) -> Sequence[Row]:
    """All versions of a name, oldest first."""
    query = (
        sa.select(versions_t)
        .where(versions_t.c.definition_id == definition_id)
        .order_by(versions_t.c.version)
    )
    return conn.execute(query).all()


def version_row(conn: sa.Connection, version_id: int) -> Row:
    """One version by its row id."""
    return conn.execute(sa.select(versions_t).where(versions_t.c.id == version_id)).one()


def insert_version(
    conn: sa.Connection,
    definition_id: int,
    version: int,
    content: tuple[str, str],
    description: str | None,
    at: datetime,
) -> int:
    """Insert a draft version; ``content`` is ``(stored JSON, content hash)``. Returns its id."""
    stored, digest = content
    result = conn.execute(
        versions_t.insert().values(
            definition_id=definition_id,
            version=version,
            status="draft",
            definition_json=stored,
            content_hash=digest,
            description=description,
            created_at=at,
            saved_by=current_actor(),
        )
    )
    (version_id,) = result.inserted_primary_key or (None,)
    assert version_id is not None
    return int(version_id)


def update_draft(
    conn: sa.Connection, version_id: int, content: tuple[str, str], description: str | None
) -> int:
    """Rewrite a draft in place; returns the number of rows changed (0 if it is no draft)."""
    stored, digest = content
    result = conn.execute(
        versions_t.update()
        .where(versions_t.c.id == version_id, versions_t.c.status == "draft")
        .values(
            definition_json=stored,
            content_hash=digest,
            description=description,
            saved_by=current_actor(),
        )
    )
    return result.rowcount


def set_status(
    conn: sa.Connection, version_id: int, *, old: str, new: str, at: datetime | None = None
) -> int:
    """Move a version from status ``old`` to ``new``; returns the number of rows changed."""
    values: dict[str, Any] = {"status": new}
    if at is not None:
        values["activated_at"] = at
        values["activated_by"] = current_actor()
    result = conn.execute(
        versions_t.update()
        .where(versions_t.c.id == version_id, versions_t.c.status == old)
        .values(**values)
    )
    return result.rowcount


def to_version(kind: str, name: str, row: Row) -> DefinitionVersion:
    """Turn a definition_versions row into the public dataclass."""
    return DefinitionVersion(
        kind=kind,
        name=name,
        version=row.version,
        status=row.status,
        definition=json.loads(row.definition_json),
        content_hash=row.content_hash,
        description=row.description,
        created_at=row.created_at,
        activated_at=row.activated_at,
        saved_by=row.saved_by,
        activated_by=row.activated_by,
    )


# --- insights -------------------------------------------------------------------------------


def insert_insights(
    conn: sa.Connection,
    definition_id: int,
    version: int,
    metrics_json: str,
    computed_at: datetime,
    as_of: datetime | None,
) -> None:
    """Append one insights record."""
    conn.execute(
        insights_t.insert().values(
            definition_id=definition_id,
            version=version,
            metrics_json=metrics_json,
            computed_at=computed_at,
            as_of=as_of,
        )
    )


def insights_rows(
    conn: sa.Connection, name: str, definition_id: int, limit: int | None
) -> list[InsightsRecord]:
    """The newest ``limit`` insights records (all when None), returned oldest first."""
    query = (
        sa.select(insights_t)
        .where(insights_t.c.definition_id == definition_id)
        .order_by(insights_t.c.computed_at.desc(), insights_t.c.id.desc())
        .limit(limit)
    )
    records = [
        InsightsRecord(
            name=name,
            version=row.version,
            metrics=json.loads(row.metrics_json),
            computed_at=row.computed_at,
            as_of=row.as_of,
        )
        for row in conn.execute(query)
    ]
    records.reverse()
    return records


# --- campaign state -------------------------------------------------------------------------


def campaign_state_row(conn: sa.Connection, definition_id: int) -> Row | None:
    """The campaign_state row of a campaign, None when it was never created."""
    query = sa.select(campaign_state_t).where(campaign_state_t.c.definition_id == definition_id)
    return conn.execute(query).one_or_none()


def insert_campaign_state(conn: sa.Connection, definition_id: int, uid: str, at: datetime) -> None:
    """Create the state of a campaign: its uid, in status draft."""
    conn.execute(
        campaign_state_t.insert().values(
            definition_id=definition_id, uid=uid, status="draft", updated_at=at
        )
    )


def set_campaign_status(
    conn: sa.Connection, definition_id: int, *, old: str, new: str, at: datetime
) -> int:
    """Move a campaign from status ``old`` to ``new``; returns the number of rows changed."""
    result = conn.execute(
        campaign_state_t.update()
        .where(campaign_state_t.c.definition_id == definition_id, campaign_state_t.c.status == old)
        .values(status=new, updated_at=at)
    )
    return result.rowcount


def schedule_next_at(conn: sa.Connection, definition_id: int) -> datetime | None:
    """The next slot of a campaign's schedule; None when it has none, or it ended."""
    query = sa.select(schedules_t.c.next_at).where(schedules_t.c.definition_id == definition_id)
    return conn.execute(query).scalar_one_or_none()


def to_campaign_state(name: str, row: Row) -> CampaignState:
    """Turn a campaign_state row into the public dataclass."""
    return CampaignState(name=name, uid=row.uid, status=row.status, updated_at=row.updated_at)


# --- runs -----------------------------------------------------------------------------------


def insert_run(conn: sa.Connection, **values: Any) -> None:
    """Insert a run, started by the current actor; ``values`` are its columns."""
    conn.execute(runs_t.insert().values(started_by=current_actor(), **values))


def run_row(conn: sa.Connection, run_id: str) -> Row | None:
    """One run by id, None when there is no such run."""
    return conn.execute(sa.select(runs_t).where(runs_t.c.id == run_id)).one_or_none()


def finish_run(conn: sa.Connection, run_id: str, **values: Any) -> int:
    """Update a run that is still running; returns the number of rows changed (0 or 1)."""
    result = conn.execute(
        runs_t.update().where(runs_t.c.id == run_id, runs_t.c.status == "running").values(**values)
    )
    return result.rowcount


def running_run_id(conn: sa.Connection, campaign: str) -> str | None:
    """The id of a real run of ``campaign`` still running (the newest), if any."""
    query = (
        sa.select(runs_t.c.id)
        .where(runs_t.c.campaign == campaign, runs_t.c.status == "running", runs_t.c.kind == "run")
        .order_by(runs_t.c.started_at.desc(), runs_t.c.id.desc())
        .limit(1)
    )
    return conn.execute(query).scalar_one_or_none()


def run_rows(
    conn: sa.Connection,
    *,
    campaign: str | None = None,
    status: str | None = None,
    kind: str | None = None,
    limit: int | None = None,
) -> list[Run]:
    """Runs matching the filters that are given, newest first."""
    query = sa.select(runs_t)
    if campaign is not None:
        query = query.where(runs_t.c.campaign == campaign)
    if status is not None:
        query = query.where(runs_t.c.status == status)
    if kind is not None:
        query = query.where(runs_t.c.kind == kind)
    query = query.order_by(runs_t.c.started_at.desc(), runs_t.c.id.desc()).limit(limit)
    return [to_run(row) for row in conn.execute(query)]


def to_run(row: Row) -> Run:
    """Turn a runs row into the public dataclass."""
    return Run(
        id=row.id,
        campaign=row.campaign,
        campaign_version=row.campaign_version,
        status=row.status,
        as_of=row.as_of,
        started_at=row.started_at,
        finished_at=row.finished_at,
        pins=json.loads(row.pins),
        snapshot=row.snapshot,
        stats=None if row.stats is None else json.loads(row.stats),
        error=row.error,
        kind=row.kind,
        trigger=row.trigger,
        slot=row.slot,
        launch_date=row.launch_date,
        retry_of=row.retry_of,
        cancel_requested=bool(row.cancel_requested),
        started_by=row.started_by,
    )
