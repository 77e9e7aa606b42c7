"""Removes of one list delivery: the profile ids they need, found the cheaper way, and the
remove calls. Only ledger rows are ever removed: profiles Herald added (DESIGN §1.4)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pyarrow as pa

from herald.core.estimate import ListPlan, calls_for
from herald.destinations.klaviyo_api import limits
from herald.destinations.klaviyo_api._parquet import parquet_source
from herald.destinations.klaviyo_api._tasks import run_all
from herald.destinations.klaviyo_api.delivery import ListSync
from herald.destinations.klaviyo_api.diff import (
    member_ids,
    missing_ids,
    read_rows,
    set_profile_ids,
    write_members,
)
from herald.destinations.klaviyo_api.ledger import read_ledger_count
from herald.engines.duckdb import connect_utc
from herald.state.models import BatchRecord

__all__ = ["identities_overlap", "read_members", "resolve_removes", "send_removes"]

_IDENT_FIELDS = {"e:": "email", "p:": "phone_number", "x:": "external_id"}  # diff's ident tags
_FIELD_TAGS = {name: tag for tag, name in _IDENT_FIELDS.items()}


async def read_members(sync: ListSync, target: Path) -> Path:
    """Read the list's members from Klaviyo into ``target``."""
    members = sync.api.list_members(sync.list_id)
    rows: list[tuple[str, str | None, str | None, str | None]] = []
    async for m in members:
        rows.append((m.profile_id, m.email, m.phone_number, m.external_id))
    # Members arrive a page at a time; they are written in chunks, not kept as objects.
    write_members(iter(rows), target)
    return target


async def resolve_removes(sync: ListSync, members: Path | None) -> tuple[int, int]:
    """Find the profile ids of the removes that lack one, the cheaper way (estimate's rule).

    Returns:
        (rows to send, rows settled).
    """
    removes = sync.files.removes
    missing = missing_ids(removes)
    if missing.num_rows:
        size = read_ledger_count(sync.ledger)
        plan = ListPlan(
            "",
            adds=0,
            removes=missing.num_rows,
            list_id_known=True,
            list_exists=True,
            list_size=size,
        )
        if members is None and "get_profiles_for_list" in calls_for(plan, limits.CAPS):
            members = await read_members(sync, sync.files.members)
        if members is not None:
            found = member_ids(members, removes)
        else:
            found = await _find_profiles(sync, missing)
    else:
        found = pa.table(
            {"ident": pa.array([], pa.string()), "profile_id": pa.array([], pa.string())}
        )
    return set_profile_ids(removes, found)


async def _find_profiles(sync: ListSync, missing: pa.Table) -> pa.Table:
    """Profile ids by identifier, 100 values a call, the calls together (the client's
    concurrency and limiter pace them): look-ups are cheap, round trips are not."""
    by_field: dict[str, list[str]] = {"email": [], "phone_number": [], "external_id": []}
    for ident in missing.column("ident").to_pylist():
        by_field[_IDENT_FIELDS[ident[:2]]].append(ident[2:])
    chunks = [
        (name, values[first : first + limits.MAX_FILTER_VALUES])
        for name, values in by_field.items()
        for first in range(0, len(values), limits.MAX_FILTER_VALUES)
    ]
    answers = await run_all(
        sync.api.find_profiles(name, chunk)  # type: ignore[arg-type]
        for name, chunk in chunks
    )
    idents: list[str] = []
    ids: list[str] = []
    for (name, chunk), found in zip(chunks, answers, strict=True):
        lowered = {k.lower() if name == "email" else k: v for k, v in found.items()}
        for value in chunk:
            pid = lowered.get(value.lower() if name == "email" else value)
            if pid is not None:
                idents.append(_FIELD_TAGS[name] + value)
                ids.append(pid)
    return pa.table(
        {"ident": pa.array(idents, pa.string()), "profile_id": pa.array(ids, pa.string())}
    )


def identities_overlap(sync: ListSync) -> bool:
    """Whether a profile to remove shares an email, phone or external id with one to add
    or update: Klaviyo may then see them as one profile, and only removing first (then
    adding) leaves the right member in the list."""
    files = sync.files
    sources = " UNION ALL ".join(
        f"SELECT email, phone_number, external_id FROM {parquet_source(path)}"
        for path in (files.adds, files.updates)
        if path.exists()
    )
    if not sources:
        return False
    removes = parquet_source(files.removes)
    with connect_utc() as con:
        found = con.execute(
            f"""
            WITH i AS ({sources}), r AS (SELECT * FROM {removes})
            SELECT EXISTS (SELECT 1 FROM i JOIN r ON lower(i.email) = lower(r.email))
                OR EXISTS (SELECT 1 FROM i JOIN r ON i.phone_number = r.phone_number)
                OR EXISTS (SELECT 1 FROM i JOIN r ON i.external_id = r.external_id)
            """
        ).fetchone()
    return bool(found and found[0])


async def send_removes(sync: ListSync, batches: list[BatchRecord]) -> None:
    """Remove the profiles of ``batches`` from the list, each batch confirmed when done; none
    is started once the run is cancelled."""
    slots = asyncio.Semaphore(max(1, sync.options.jobs_in_flight))

    async def one(batch: BatchRecord) -> None:
        async with slots:
            if sync.stopped():
                return  # the run was cancelled: this batch stays planned
            rows = read_rows(sync.files.removes, batch.first_row, batch.row_count, ["profile_id"])
            await sync.api.remove_from_list(sync.list_id, rows.column("profile_id").to_pylist())
            sync.store.set_batch(sync.delivery_id, batch.seq, "confirmed")
            sync.emit(
                "batch_confirmed",
                batch={"seq": batch.seq, "kind": "remove", "rows": batch.row_count},
            )

    await run_all(one(b) for b in batches)
