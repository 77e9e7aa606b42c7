"""List ids, list deliveries and batches: row-level rules run inside the caller's transaction.

A Klaviyo list sync checkpoints every batch here before and after it is sent, so that a run
killed at any moment can be resumed (DESIGN §1.4). `herald.state.store` wraps each function
in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from herald.exceptions import NotFoundError, StateError
from herald.state import _queries as q
from herald.state._schema import batches as batches_t
from herald.state._schema import deliveries as deliveries_t
from herald.state._schema import list_ids as list_ids_t
from herald.state._schema import runs as runs_t
from herald.state.models import BatchRecord, DeliveryRecord

# --- list ids ---------------------------------------------------------------------------------


def list_id(conn: sa.Connection, destination: str, name: str) -> str | None:
    """The remembered id of a list, None when it was never found or created."""
    query = sa.select(list_ids_t.c.list_id).where(
        list_ids_t.c.destination == destination, list_ids_t.c.name == name
    )
    return conn.execute(query).scalar_one_or_none()


def remember_list_id(conn: sa.Connection, destination: str, name: str, value: str) -> str:
    """Remember a list's id; an id remembered already wins (two runs raced to create it)."""
    existing = list_id(conn, destination, name)
    if existing is not None:
        return existing
    conn.execute(
        list_ids_t.insert().values(
            destination=destination, name=name, list_id=value, created_at=q.now()
        )
    )
    return value


def forget_list_id(conn: sa.Connection, destination: str, name: str) -> None:
    """Forget a list's id (the list was deleted at the destination)."""
    conn.execute(
        list_ids_t.delete().where(
            list_ids_t.c.destination == destination, list_ids_t.c.name == name
        )
    )


# --- deliveries -------------------------------------------------------------------------------


def to_delivery(row: q.Row) -> DeliveryRecord:
    """Turn a deliveries row into the public dataclass."""
    return DeliveryRecord(
        id=row.id,
        run_id=row.run_id,
        destination=row.destination,
        sub_audience=row.sub_audience,
        group=row.group_name,
        list_name=row.list_name,
        list_id=row.list_id,
        status=row.status,
        counts=json.loads(row.counts) if row.counts else {},
        error=row.error,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def get_delivery(conn: sa.Connection, delivery_id: int) -> DeliveryRecord:
    """One delivery by id; NotFoundError when there is none."""
    row = conn.execute(
        sa.select(deliveries_t).where(deliveries_t.c.id == delivery_id)
    ).one_or_none()
    if row is None:
        msg = f"no delivery with id {delivery_id}"
        raise NotFoundError(msg)
    return to_delivery(row)


def start_delivery(
    conn: sa.Connection,
    run_id: str,
    destination: str,
    sub_audience: str,
    group: str,
    list_name: str,
) -> DeliveryRecord:
    """The delivery of a group to a destination in a run, created pending when new.

    Idempotent: a resumed run gets the delivery (and its batches) it recorded before.
    """
    if conn.execute(sa.select(runs_t.c.id).where(runs_t.c.id == run_id)).one_or_none() is None:
        msg = f"no run with id {run_id!r}"
        raise NotFoundError(msg)
    where = (
        deliveries_t.c.run_id == run_id,
        deliveries_t.c.destination == destination,
        deliveries_t.c.sub_audience == sub_audience,
        deliveries_t.c.group_name == group,
    )
    row = conn.execute(sa.select(deliveries_t).where(*where)).one_or_none()
    if row is None:
        at = q.now()
        conn.execute(
            deliveries_t.insert().values(
                run_id=run_id,
                destination=destination,
                sub_audience=sub_audience,
                group_name=group,
                list_name=list_name,
                status="pending",
                created_at=at,
                updated_at=at,
            )
        )
        row = conn.execute(sa.select(deliveries_t).where(*where)).one()
    return to_delivery(row)


def run_deliveries(conn: sa.Connection, run_id: str) -> list[DeliveryRecord]:
    """The deliveries of a run, in the order they were recorded."""
    query = (
        sa.select(deliveries_t).where(deliveries_t.c.run_id == run_id).order_by(deliveries_t.c.id)
    )
    return [to_delivery(row) for row in conn.execute(query)]


def unsettled_deliveries(
    conn: sa.Connection, destination: str, list_name: str, run_id: str
) -> list[DeliveryRecord]:
    """Failed deliveries of a list in runs other than ``run_id`` that left import batches
    ``sent`` (a job id recorded, never confirmed), oldest first."""
    sent = sa.exists().where(
        batches_t.c.delivery_id == deliveries_t.c.id,
        batches_t.c.status == "sent",
        batches_t.c.job_id.is_not(None),
    )
    query = (
        sa.select(deliveries_t)
        .where(
            deliveries_t.c.destination == destination,
            deliveries_t.c.list_name == list_name,
            deliveries_t.c.status == "failed",
            deliveries_t.c.run_id != run_id,
            sent,
        )
        .order_by(deliveries_t.c.id)
    )
    return [to_delivery(row) for row in conn.execute(query)]


def update_delivery(conn: sa.Connection, delivery_id: int, **values: Any) -> DeliveryRecord:
    """Change a delivery's columns (``counts`` as a dict) and return it."""
    if "counts" in values and values["counts"] is not None:
        values["counts"] = json.dumps(values["counts"], sort_keys=True)
    result = conn.execute(
        deliveries_t.update()
        .where(deliveries_t.c.id == delivery_id)
        .values(updated_at=q.now(), **values)
    )
    if result.rowcount == 0:
        msg = f"no delivery with id {delivery_id}"
        raise NotFoundError(msg)
    return get_delivery(conn, delivery_id)


def plan_delivery(
    conn: sa.Connection,
    delivery_id: int,
    planned: Sequence[tuple[str, int, int]],
    counts: dict[str, Any],
) -> DeliveryRecord:
    """Record every batch of a delivery as planned, and the delivery as planned.

    Args:
        planned: ``(kind, first_row, row_count)`` per batch, in sending order; numbered from 1.
        counts: the planned figures (adds, removes, updates, …).

    Raises:
        StateError: the delivery has batches already (it was planned before).
    """
    delivery = get_delivery(conn, delivery_id)
    if delivery.status != "pending" or _count(conn, delivery_id):
        msg = f"delivery {delivery_id} was planned already (status {delivery.status})"
        raise StateError(msg)
    at = q.now()
    rows = [
        {
            "delivery_id": delivery_id,
            "seq": seq,
            "kind": kind,
            "first_row": first,
            "row_count": count,
            "status": "planned",
            "attempts": 0,
            "created_at": at,
            "updated_at": at,
        }
        for seq, (kind, first, count) in enumerate(planned, start=1)
    ]
    if rows:
        conn.execute(batches_t.insert(), rows)
    return update_delivery(conn, delivery_id, status="planned", counts=counts)


def _count(conn: sa.Connection, delivery_id: int) -> int:
    query = (
        sa.select(sa.func.count())
        .select_from(batches_t)
        .where(batches_t.c.delivery_id == delivery_id)
    )
    return int(conn.execute(query).scalar_one())


# --- batches ----------------------------------------------------------------------------------


def to_batch(row: q.Row) -> BatchRecord:
    """Turn a batches row into the public dataclass."""
    return BatchRecord(
        delivery_id=row.delivery_id,
        seq=row.seq,
        kind=row.kind,
        first_row=row.first_row,
        row_count=row.row_count,
        status=row.status,
        job_id=row.job_id,
        attempts=row.attempts,
        error=row.error,
        created_at=row.created_at,
        sent_at=row.sent_at,
        confirmed_at=row.confirmed_at,
        updated_at=row.updated_at,
    )


def batches(
    conn: sa.Connection, delivery_id: int, statuses: Iterable[str] | None = None
) -> list[BatchRecord]:
    """A delivery's batches by seq, optionally only those in ``statuses``."""
    query = sa.select(batches_t).where(batches_t.c.delivery_id == delivery_id)
    if statuses is not None:
        query = query.where(batches_t.c.status.in_(list(statuses)))
    return [to_batch(row) for row in conn.execute(query.order_by(batches_t.c.seq))]


def get_batch(conn: sa.Connection, delivery_id: int, seq: int) -> BatchRecord:
    """One batch; NotFoundError when there is none."""
    row = conn.execute(
        sa.select(batches_t).where(batches_t.c.delivery_id == delivery_id, batches_t.c.seq == seq)
    ).one_or_none()
    if row is None:
        msg = f"delivery {delivery_id} has no batch {seq}"
        raise NotFoundError(msg)
    return to_batch(row)


_TRANSITIONS: dict[str, frozenset[str]] = {
    # to-status: the statuses a batch may come from
    "planned": frozenset({"planned", "sent", "failed"}),
    "sent": frozenset({"planned", "sent"}),
    "confirmed": frozenset({"planned", "sent", "confirmed"}),
    "failed": frozenset({"planned", "sent", "failed"}),
    "split": frozenset({"planned", "sent"}),
}


def set_batch(
    conn: sa.Connection,
    delivery_id: int,
    seq: int,
    status: str,
    *,
    job_id: str | None = None,
    error: str | None = None,
) -> BatchRecord:
    """Move a batch to ``status``; ``sent`` counts an attempt and records the job id.

    A confirmed batch never goes back: that is what keeps a resumed run from re-sending it.

    Raises:
        StateError: the move is not allowed (for example from confirmed to sent).
    """
    batch = get_batch(conn, delivery_id, seq)
    if batch.status not in _TRANSITIONS[status]:
        msg = f"batch {seq} of delivery {delivery_id} cannot go from {batch.status} to {status}"
        raise StateError(msg)
    at = q.now()
    values: dict[str, Any] = {"status": status, "updated_at": at, "error": error}
    if status == "sent":
        values.update(job_id=job_id, sent_at=at, attempts=batch.attempts + 1)
    elif status == "confirmed" and batch.status != "confirmed":
        values["confirmed_at"] = at
    elif status == "planned":
        values["job_id"] = None
    if job_id is not None:
        values["job_id"] = job_id
    conn.execute(
        batches_t.update()
        .where(batches_t.c.delivery_id == delivery_id, batches_t.c.seq == seq)
        .values(**values)
    )
    return get_batch(conn, delivery_id, seq)


def count_attempt(
    conn: sa.Connection, delivery_id: int, seq: int, error: str | None
) -> BatchRecord:
    """Count an attempt that raised before the request surely returned (it may have gone out)."""
    batch = get_batch(conn, delivery_id, seq)
    conn.execute(
        batches_t.update()
        .where(batches_t.c.delivery_id == delivery_id, batches_t.c.seq == seq)
        .values(attempts=batch.attempts + 1, error=error, updated_at=q.now())
    )
    return get_batch(conn, delivery_id, seq)


def split_batch(conn: sa.Connection, delivery_id: int, seq: int, reason: str) -> list[BatchRecord]:
    """Split a batch into two halves planned at the end of the delivery; it becomes ``split``."""
    batch = get_batch(conn, delivery_id, seq)
    if batch.row_count < 2:  # each half needs a row
        msg = f"batch {seq} of delivery {delivery_id} has one row and cannot be split"
        raise StateError(msg)
    set_batch(conn, delivery_id, seq, "split", error=reason)
    last = conn.execute(
        sa.select(sa.func.max(batches_t.c.seq)).where(batches_t.c.delivery_id == delivery_id)
    ).scalar_one()
    half = batch.row_count // 2
    at = q.now()
    halves = [(batch.first_row, half), (batch.first_row + half, batch.row_count - half)]
    rows = [
        {
            "delivery_id": delivery_id,
            "seq": last + i,
            "kind": batch.kind,
            "first_row": first,
            "row_count": count,
            "status": "planned",
            "attempts": 0,
            "created_at": at,
            "updated_at": at,
        }
        for i, (first, count) in enumerate(halves, start=1)
    ]
    conn.execute(batches_t.insert(), rows)
    return [get_batch(conn, delivery_id, last + 1), get_batch(conn, delivery_id, last + 2)]
