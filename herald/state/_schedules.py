"""Schedules and their slots, each rule run inside the caller's transaction.

Scheduling pins a campaign version and its segments' versions and sets the campaign
``scheduled``; the scheduler claims each slot once: a compare-and-set on the schedule's last
slot, and a slot row whose primary key refuses a second claim, so two schedulers racing on
one store start one run.
"""

from __future__ import annotations

import json
from datetime import date, datetime

import sqlalchemy as sa

from herald.actor import current_actor
from herald.state import _campaigns as camp
from herald.state import _queries as q
from herald.state._lifecycle import require, version_by_number
from herald.state._schema import definitions as definitions_t
from herald.state._schema import schedule_slots as slots_t
from herald.state._schema import schedules as schedules_t
from herald.state.models import CampaignState, Schedule, SlotRecord

SCHEDULABLE = frozenset({"draft", "scheduled", "delivered", "error"})
"""A campaign in these statuses can be (re)scheduled; scheduling again re-pins its versions."""


def schedule(
    conn: sa.Connection,
    name: str,
    version: int,
    pins_json: str,
    *,
    scheduled_at: datetime,
    next_at: datetime | None,
) -> Schedule:
    """Pin a version and segment versions, set the campaign scheduled; replaces an older
    schedule of the same campaign (its slot count starts again)."""
    definition = require(conn, "campaign", name, lock=True)
    version_by_number(conn, "campaign", name, definition.id, version)
    camp.settle(conn, name)
    camp.set_status(conn, name, "scheduled", SCHEDULABLE)
    conn.execute(schedules_t.delete().where(schedules_t.c.definition_id == definition.id))
    conn.execute(
        schedules_t.insert().values(
            definition_id=definition.id,
            campaign_version=version,
            pins=pins_json,
            scheduled_at=scheduled_at,
            next_at=next_at,
            last_slot=None,
            sends=0,
            updated_at=q.now(),
            scheduled_by=current_actor(),
        )
    )
    found = get(conn, name)
    assert found is not None
    return found


def unschedule(conn: sa.Connection, name: str) -> CampaignState:
    """Back to draft, the schedule dropped; refused unless the campaign is scheduled."""
    definition = require(conn, "campaign", name, lock=True)
    camp.settle(conn, name)
    state = camp.set_status(conn, name, "draft", frozenset({"scheduled"}))
    conn.execute(schedules_t.delete().where(schedules_t.c.definition_id == definition.id))
    return state


def get(conn: sa.Connection, name: str) -> Schedule | None:
    """The schedule of a campaign, None when it is not scheduled."""
    definition = require(conn, "campaign", name)
    row = conn.execute(
        sa.select(schedules_t).where(schedules_t.c.definition_id == definition.id)
    ).one_or_none()
    return None if row is None else _to_schedule(name, row)


def due(conn: sa.Connection, now: datetime, limit: int | None) -> list[Schedule]:
    """The schedules whose next slot has come, the most overdue first."""
    query = (
        sa.select(schedules_t, definitions_t.c.name)
        .join(definitions_t, definitions_t.c.id == schedules_t.c.definition_id)
        .where(schedules_t.c.next_at <= now)
        .order_by(schedules_t.c.next_at, definitions_t.c.name)
        .limit(limit)
    )
    return [_to_schedule(row.name, row) for row in conn.execute(query)]


def claim(
    conn: sa.Connection,
    name: str,
    *,
    last_slot: datetime | None,
    slot: datetime,
    next_at: datetime | None,
    missed: bool,
    skipped: int,
    as_of: datetime,
    launch_date: date | None,
) -> SlotRecord | None:
    """Use one slot of a schedule, once: start its run, or record it missed.

    None, with nothing written, when the slot was taken by another scheduler (the schedule's
    last slot is no longer ``last_slot``) or when a run of the campaign is still going (its
    slot waits for the next tick).
    """
    definition = require(conn, "campaign", name, lock=True)
    current = get(conn, name)
    if current is None or current.last_slot != last_slot:
        return None
    state = camp.settle(conn, name)
    if not missed and state.status != "scheduled":
        return None
    run_id = None
    if not missed:
        run_id = camp.start_run(
            conn,
            name,
            current.campaign_version,
            as_of=as_of,
            pins_json=json.dumps(current.pins, sort_keys=True, separators=(",", ":")),
            expected=frozenset({"scheduled"}),
            trigger="schedule",
            slot=slot,
            launch_date=launch_date,
        ).id
    elif next_at is None:
        camp.set_status(conn, name, "error", None)  # its only remaining slot came too late
    _advance(conn, definition.id, slot, next_at, sends=0 if missed else 1)
    conn.execute(
        slots_t.insert().values(
            campaign=name,
            slot=slot,
            outcome="missed" if missed else "started",
            run_id=run_id,
            skipped=skipped,
            recorded_at=q.now(),
        )
    )
    return _slot_record(conn, name, slot)


def _advance(
    conn: sa.Connection, definition_id: int, slot: datetime, next_at: datetime | None, sends: int
) -> None:
    conn.execute(
        schedules_t.update()
        .where(schedules_t.c.definition_id == definition_id)
        .values(
            last_slot=slot,
            next_at=next_at,
            sends=schedules_t.c.sends + sends,
            updated_at=q.now(),
        )
    )


def slots(conn: sa.Connection, name: str | None, limit: int | None) -> list[SlotRecord]:
    """Slots used, newest first: of one campaign, or of all."""
    query = sa.select(slots_t)
    if name is not None:
        query = query.where(slots_t.c.campaign == name)
    query = query.order_by(slots_t.c.slot.desc(), slots_t.c.campaign).limit(limit)
    return [_to_slot(row) for row in conn.execute(query)]


def _slot_record(conn: sa.Connection, name: str, slot: datetime) -> SlotRecord:
    row = conn.execute(
        sa.select(slots_t).where(slots_t.c.campaign == name, slots_t.c.slot == slot)
    ).one()
    return _to_slot(row)


def _to_slot(row: q.Row) -> SlotRecord:
    return SlotRecord(
        campaign=row.campaign,
        slot=row.slot,
        outcome=row.outcome,
        run_id=row.run_id,
        skipped=row.skipped,
        recorded_at=row.recorded_at,
    )


def _to_schedule(name: str, row: q.Row) -> Schedule:
    return Schedule(
        campaign=name,
        campaign_version=row.campaign_version,
        pins=json.loads(row.pins),
        scheduled_at=row.scheduled_at,
        next_at=row.next_at,
        last_slot=row.last_slot,
        sends=row.sends,
        scheduled_by=row.scheduled_by,
    )
