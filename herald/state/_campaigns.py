"""Campaign operational state and runs, each rule run inside the caller's transaction.

A campaign's definition is versioned like a segment's (see `herald.state._lifecycle`); beside
it the store keeps one row of operational state per campaign name: an immutable uid, the
salt of the campaign's hash split, and its status. Runs are kept by campaign name, so their
history outlives a deleted definition.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from herald.exceptions import NotFoundError, StateError
from herald.state import _queries as q
from herald.state._lifecycle import LostRace, require, version_by_number
from herald.state._rules import new_run_id
from herald.state._schema import runs as runs_t
from herald.state.models import CampaignState, Run

DELETABLE = frozenset({"draft", "scheduled"})
"""Only campaigns in these statuses can be deleted (DESIGN §1.3)."""


# --- campaign state -------------------------------------------------------------------------


def existing_state(conn: sa.Connection, name: str) -> CampaignState | None:
    """The state of a campaign, None when it was never created; NotFoundError for no name."""
    definition = require(conn, "campaign", name)
    row = q.campaign_state_row(conn, definition.id)
    return None if row is None else q.to_campaign_state(name, row)


def is_stuck(conn: sa.Connection, name: str) -> bool:
    """Whether a campaign is running with no run running (see `settle`)."""
    definition = require(conn, "campaign", name)
    row = q.campaign_state_row(conn, definition.id)
    return row is not None and _stuck(conn, name, row)


def settle(conn: sa.Connection, name: str) -> CampaignState:
    """The state of a campaign, a stuck one (`_stuck`) given back its last run's outcome.

    A running run, live or interrupted, keeps the campaign running: it is finished by
    `herald runs resume` or the next `herald campaign run`.
    """
    definition = require(conn, "campaign", name, lock=True)
    row = _ensure_row(conn, definition.id)
    if _stuck(conn, name, row):
        last = q.run_rows(conn, campaign=name, kind="run", limit=1)
        status = "draft" if not last else last[0].status
        status = status if status in ("draft", "delivered") else "error"
        if q.set_campaign_status(conn, definition.id, old="running", new=status, at=q.now()) != 1:
            msg = f"campaign {name!r} changed status while it was being recovered"
            raise LostRace(msg)
        settled = q.campaign_state_row(conn, definition.id)
        assert settled is not None
        row = settled
    return q.to_campaign_state(name, row)


def ensure_state(conn: sa.Connection, name: str) -> CampaignState:
    """The state of a campaign, created (new uid, status draft) when it does not exist yet."""
    definition = require(conn, "campaign", name, lock=True)
    return q.to_campaign_state(name, _ensure_row(conn, definition.id))


def _ensure_row(conn: sa.Connection, definition_id: int) -> q.Row:
    # The caller holds the definition's row lock (PostgreSQL) or the write lock (SQLite), so
    # two first calls cannot both insert; if one ever did, its unique violation is a LostRace
    # and the retry reads the winner's uid.
    row = q.campaign_state_row(conn, definition_id)
    if row is None:
        q.insert_campaign_state(conn, definition_id, uuid.uuid4().hex, q.now())
        row = q.campaign_state_row(conn, definition_id)
        assert row is not None
    return row


def _stuck(conn: sa.Connection, name: str, row: q.Row) -> bool:
    """Running with no run running: what a crash left behind before the status and the run
    changed in one transaction (or a status set by hand)."""
    return bool(row.status == "running" and q.running_run_id(conn, name) is None)


def set_status(
    conn: sa.Connection, name: str, status: str, expected: frozenset[str] | None
) -> CampaignState:
    """Set a campaign's status, only if it currently is one of ``expected`` (when given)."""
    definition = require(conn, "campaign", name, lock=True)
    row = _ensure_row(conn, definition.id)
    if expected is not None and row.status not in expected:
        msg = (
            f"campaign {name!r} is {row.status}, not {_either(expected)}; "
            f"it cannot be set to {status}{_running_hint(conn, name, row.status)}"
        )
        raise StateError(msg)
    if row.status == status:
        return q.to_campaign_state(name, row)
    if q.set_campaign_status(conn, definition.id, old=row.status, new=status, at=q.now()) != 1:
        msg = f"campaign {name!r} changed status while it was being set to {status}"
        raise LostRace(msg)
    changed = q.campaign_state_row(conn, definition.id)
    assert changed is not None
    return q.to_campaign_state(name, changed)


def _running_hint(conn: sa.Connection, name: str, status: str) -> str:
    run_id = q.running_run_id(conn, name) if status == "running" else None
    if run_id is None:
        return ""
    return (
        f" (run {run_id} is not finished: wait for it, or resume it with "
        f"`herald runs resume {run_id}` if it was interrupted)"
    )


def expected_statuses(expected: str | Iterable[str] | None) -> frozenset[str] | None:
    """Normalise the ``expected`` argument of `StateStore.set_campaign_status`."""
    if expected is None:
        return None
    return frozenset([expected] if isinstance(expected, str) else expected)


def _either(statuses: Iterable[str]) -> str:
    ordered = sorted(statuses)
    return " or ".join(ordered) if ordered else "any status (none was expected)"


def delete(conn: sa.Connection, name: str) -> None:
    """Delete a draft or scheduled campaign with its versions and state; its runs are kept."""
    definition = require(conn, "campaign", name, lock=True)
    row = q.campaign_state_row(conn, definition.id)
    # No state row yet means the campaign was never scheduled or run: a draft.
    if row is not None and row.status not in DELETABLE:
        if row.status == "archived":
            hint = "archived campaigns are kept with their run history"
        elif row.status == "running":
            hint = "only draft and scheduled campaigns can be deleted; let the run finish"
        else:
            hint = "archive it instead"
        msg = f"campaign {name!r} is {row.status}; {hint}"
        raise StateError(msg)
    q.delete_definition(conn, definition.id)


# --- runs -----------------------------------------------------------------------------------


def create_run(
    conn: sa.Connection,
    campaign: str,
    campaign_version: int,
    *,
    as_of: datetime,
    pins_json: str,
    kind: str,
    **origin: Any,
) -> Run:
    """Record a new running run of an existing campaign version; ``origin``: its trigger,
    slot, launch_date and retry_of columns, when given."""
    definition = require(conn, "campaign", campaign)
    version_by_number(conn, "campaign", campaign, definition.id, campaign_version)
    at = q.now()
    # A clash of ids (same second, same 6 hex digits) is a unique violation: a LostRace,
    # retried by the store with a fresh id.
    run_id = new_run_id(at)
    q.insert_run(
        conn,
        id=run_id,
        campaign=campaign,
        campaign_version=campaign_version,
        kind=kind,
        status="running",
        as_of=as_of,
        started_at=at,
        pins=pins_json,
        **origin,
    )
    return get_run(conn, run_id)


def start_run(
    conn: sa.Connection,
    campaign: str,
    campaign_version: int,
    *,
    as_of: datetime,
    pins_json: str,
    expected: frozenset[str] | None,
    **origin: Any,
) -> Run:
    """Set a campaign running and record its new run, together: a crash between the two
    would leave the campaign running with no run to finish. A stuck campaign is settled
    first (see `settle`). ``origin``: as for `create_run`."""
    settle(conn, campaign)
    set_status(conn, campaign, "running", expected)
    return create_run(
        conn, campaign, campaign_version, as_of=as_of, pins_json=pins_json, kind="run", **origin
    )


def finish_run(
    conn: sa.Connection,
    run_id: str,
    status: str,
    values: Mapping[str, Any],
    campaign_status: str | None = None,
) -> Run:
    """Move a running run to ``status``, with the given columns, and its campaign to
    ``campaign_status`` (when given and the campaign still exists; ``scheduled`` while its
    schedule has slots to come); StateError if the run is not running."""
    if q.finish_run(conn, run_id, status=status, finished_at=q.now(), **values) != 1:
        current = get_run(conn, run_id)
        finished = current.finished_at.isoformat() if current.finished_at else "earlier"
        msg = (
            f"run {run_id!r} of campaign {current.campaign!r} is already {current.status} "
            f"(finished {finished}); only a running run can be finished"
        )
        raise StateError(msg)
    run = get_run(conn, run_id)
    definition = q.find_definition(conn, "campaign", run.campaign)
    if campaign_status is not None and definition is not None:
        if q.schedule_next_at(conn, definition.id) is not None:
            # A campaign with slots to come stays scheduled after each run, failed or not;
            # the run's own status shows how it went (DESIGN §1.3).
            campaign_status = "scheduled"
        set_status(conn, run.campaign, campaign_status, None)
    return run


def request_cancel(conn: sa.Connection, run_id: str) -> Run:
    """Set a running run's cancel flag; StateError naming its status if it is not running."""
    current = get_run(conn, run_id)
    if current.status != "running":
        msg = (
            f"run {run_id!r} of campaign {current.campaign!r} is {current.status}, not "
            "running: there is nothing to cancel"
        )
        raise StateError(msg)
    runs = runs_t.update().where(runs_t.c.id == run_id, runs_t.c.status == "running")
    if conn.execute(runs.values(cancel_requested=True)).rowcount != 1:
        msg = f"run {run_id!r} finished while it was being cancelled"
        raise LostRace(msg)
    return get_run(conn, run_id)


def get_run(conn: sa.Connection, run_id: str) -> Run:
    """One run by id, or NotFoundError."""
    row = q.run_row(conn, run_id)
    if row is None:
        shape = (
            "" if run_id.startswith("run_") else "; run ids look like run_20261201T101500_a1b2c3"
        )
        msg = f"run {run_id!r} not found{shape}"
        raise NotFoundError(msg)
    return q.to_run(row)
