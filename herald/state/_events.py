"""A run's progress events: row-level rules run inside the caller's transaction.

A run writes what it does as it goes (phases, list syncs' plans, batches, outcomes) so that
another process (``herald runs watch``, the web app) can follow it by polling; the ids grow,
so a follower asks only for the events after the last one it saw.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from herald.state import _campaigns as camp
from herald.state import _queries as q
from herald.state._schema import run_events as events_t
from herald.state.models import RunEvent


def add(conn: sa.Connection, run_id: str, events: Iterable[tuple[datetime, str, str]]) -> None:
    """Append events (time, kind, payload JSON) to a run, in one insert; NotFoundError when
    there is no such run."""
    camp.get_run(conn, run_id)
    rows = [
        {"run_id": run_id, "at": at, "kind": kind, "payload": payload}
        for at, kind, payload in events
    ]
    if rows:
        conn.execute(events_t.insert(), rows)


def after(conn: sa.Connection, run_id: str, after_id: int, limit: int | None) -> list[RunEvent]:
    """A run's events with an id above ``after_id``, oldest first."""
    query = (
        sa.select(events_t)
        .where(events_t.c.run_id == run_id, events_t.c.id > after_id)
        .order_by(events_t.c.id)
        .limit(limit)
    )
    return [_to_event(row) for row in conn.execute(query)]


def _to_event(row: q.Row) -> RunEvent:
    payload: dict[str, Any] = json.loads(row.payload)
    return RunEvent(id=row.id, run_id=row.run_id, at=row.at, kind=row.kind, payload=payload)
