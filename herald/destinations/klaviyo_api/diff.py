"""What a list must gain and lose, computed with DuckDB over Parquet (DESIGN §1.4, §3).

A Klaviyo list is a mirror of one recipient group. Herald remembers what it has confirmed in
each list in a **ledger** (:mod:`~herald.destinations.klaviyo_api.ledger`), and every run
compares the group's **desired** records (:mod:`~herald.destinations.klaviyo_api.desired`)
with it:

- ``adds.parquet``: desired keys that the ledger does not hold, and keys whose identity (the
  identifier Klaviyo matches a profile on) changed: the new identity is imported;
- ``removes.parquet``: ledger keys no longer desired, and the old identities of changed keys.
  Only ledger rows are ever removed, so Herald removes only profiles it added;
- ``updates.parquet``: same key and identity, changed attributes: re-imported (an upsert).

Every file is written in a deterministic order (by key) with a ``row`` column, so a batch is
a row range that means the same thing after a crash. Nothing here loads a whole audience into
Python objects: the sets are joined by DuckDB, and files are streamed batch by batch.

Nothing wide is sorted either. ``desired.parquet`` is written in key order (the prepared
records come sorted while they are still narrow), with each profile's identity and hash, so
DuckDB decides from narrow columns which rows go where and numbers them, and the profiles are
copied in one forward pass.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from herald.atomic import atomic_path
from herald.destinations.klaviyo_api import _parquet
from herald.destinations.klaviyo_api._parquet import (
    IDENTITY,
    copy_query,
    ident,
    parquet_source,
    row_groups,
)
from herald.destinations.klaviyo_api.desired import DESIRED_SCHEMA, is_key_ordered
from herald.destinations.klaviyo_api.folder import DeliveryFolder
from herald.destinations.klaviyo_api.ledger import ledger_source
from herald.engines.duckdb import connect_utc, sql_string
from herald.engines.localdb import BackgroundWriter, local_duckdb, release_arrow_memory

__all__ = [
    "MEMBERS_SCHEMA",
    "PLANNED_SCHEMA",
    "REMOVE_WHERE",
    "UPDATE_JOIN",
    "DiffCounts",
    "add_rules",
    "compute_diff",
    "member_ids",
    "missing_ids",
    "read_rows",
    "set_profile_ids",
    "settled_reason",
    "update_where",
    "write_members",
]

MEMBERS_SCHEMA = pa.schema(
    [
        ("profile_id", pa.string()),
        ("email", pa.string()),
        ("phone_number", pa.string()),
        ("external_id", pa.string()),
    ]
)


# --- the diff --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiffCounts:
    """What a diff found.

    Attributes:
        desired: records the list must hold.
        adds: rows of ``adds.parquet`` (new keys, changed identities, repairs).
        updates: rows of ``updates.parquet``.
        removes: rows of ``removes.parquet`` that need a call (a profile to remove).
        settled: rows of ``removes.parquet`` that need none (already gone, bounced, or the
            identity is still desired by another customer).
        unchanged: desired keys the list already holds as they are.
        repairs: adds that re-add ledger members missing from the list (reconcile).
        identity_changes: adds of known keys whose identity (email, else phone, else
            external id) changed; their old identities are among the removes.
        bounced: ledger members Klaviyo removed (bounced or suppressed), not re-added.
        foreign: list members Herald did not add (reconcile), left alone.
    """

    desired: int
    adds: int
    updates: int
    removes: int
    settled: int
    repairs: int = 0
    identity_changes: int = 0
    bounced: int = 0
    foreign: int = 0

    @property
    def unchanged(self) -> int:
        """Desired keys the list already holds as they are (bounced ones are not re-added)."""
        return self.desired - self.adds - self.updates - self.bounced


def compute_diff(
    desired: Path,
    ledger: Path,
    out: Path,
    *,
    updates: bool = True,
    members: Path | None = None,
) -> DiffCounts:
    """Compare desired records with a list's ledger; write adds, removes and updates.

    DuckDB decides which desired records are added or updated and numbers them in key order
    from narrow columns (key, identity, hash); the files are then written in one pass over
    ``desired.parquet``, which is in key order, so no profile is ever sorted or held whole.

    Args:
        desired: ``desired.parquet`` (:func:`.desired.write_desired`).
        ledger: the list's ledger (may not exist yet: an empty list).
        out: the folder for ``adds.parquet``, ``updates.parquet`` and ``removes.parquet``.
        updates: re-import desired keys whose attributes changed.
        members: the list's members as read from Klaviyo (reconcile): ledger members missing
            from the list are re-added, removes of profiles not in the list need no call,
            and members Herald did not add are counted, never removed.

    Returns:
        The counts. ``removes.parquet`` holds the rows to send first (``send``), ordered by
        key, then the settled rows.
    """
    files = DeliveryFolder(out)
    out.mkdir(parents=True, exist_ok=True)
    with local_duckdb(out) as con:
        source = _key_ordered(con, desired, files)
        try:
            counts = _diff(con, source, ledger, files, updates=updates, members=members)
        finally:
            if source != desired:
                source.unlink(missing_ok=True)
    release_arrow_memory()
    return counts


def _key_ordered(con: duckdb.DuckDBPyConnection, desired: Path, files: DeliveryFolder) -> Path:
    """``desired``, or a copy of it in key order, with identities and hashes, when it was
    written before files had them."""
    if is_key_ordered(desired) and set(DESIRED_SCHEMA.names) <= set(pq.read_schema(desired).names):
        return desired
    copy = files.desired_ordered
    names = ", ".join(n for n in DESIRED_SCHEMA.names if n not in ("ident", "attr_hash"))
    con.execute(
        f"COPY (SELECT {names}, {ident()} AS ident, md5(profile) AS attr_hash "
        f"FROM read_parquet({sql_string(desired)}, file_row_number = true) "
        f"ORDER BY key NULLS LAST, file_row_number) TO {sql_string(copy)} (FORMAT parquet)"
    )
    return copy


# The diff's steps share one connection: the narrow tables d (desired), l (ledger) and m
# (members) are made once, and each file is written in one pass (_write_planned reads
# desired.parquet forward once for both adds and updates).


def _diff(
    con: duckdb.DuckDBPyConnection,
    desired: Path,
    ledger: Path,
    files: DeliveryFolder,
    *,
    updates: bool,
    members: Path | None,
) -> DiffCounts:
    _load(con, desired, ledger, members)
    reconcile = members is not None
    # A ledger member missing from the list: Klaviyo (or someone) removed it. Repaired by
    # a re-add, unless it was found bounced before.
    missing = (
        "(l.status = 'member' AND NOT EXISTS (SELECT 1 FROM m WHERE m.ident = l.ident))"
        if reconcile
        else "false"
    )
    _plan_imports(con, missing, updates=updates)
    written = _write_planned(con, desired, {"add_plan": files.adds, "update_plan": files.updates})
    _write_removes(con, files.removes, reconcile=reconcile)
    return _counts(con, files.removes, written)


def _load(
    con: duckdb.DuckDBPyConnection, desired: Path, ledger: Path, members: Path | None
) -> None:
    """The narrow tables the diff joins: ``d`` (desired), ``l`` (ledger), ``m`` (members)."""
    # pos is a record's place in desired.parquet, which is in key order: ordering by
    # (key, pos) is ordering by pos, and the files follow desired.parquet's order.
    con.execute(
        f"CREATE TEMP TABLE d AS SELECT file_row_number AS pos, key, ident, attr_hash "
        f"FROM read_parquet({sql_string(desired)}, file_row_number = true)"
    )
    # A view: each query reads only the ledger columns it needs.
    con.execute(f"CREATE TEMP VIEW l AS SELECT * FROM {ledger_source(ledger)}")
    if members is not None:
        con.execute(
            f"CREATE TEMP TABLE m AS SELECT *, {ident()} AS ident FROM {parquet_source(members)}"
        )
    else:
        con.execute("CREATE TEMP TABLE m (profile_id VARCHAR, ident VARCHAR)")


# --- the rules, in SQL over d (desired), l (ledger) joined on the key; the Spark diff
# (engine_diff) renders them too, with its own ways to ask the members and the desired
# identities --------------------------------------------------------------------------------


def add_rules(missing: str) -> tuple[str, str, str]:
    """``(repair, changed, where)`` of the adds, over ``d LEFT JOIN l ON l.key = d.key``;
    ``missing``: whether a ledger member is missing from the list (reconcile).

    Only a re-add of a lost member is a repair; a known key with a new identity is an identity
    change, counted on its own."""
    repair = f"coalesce(l.ident = d.ident AND {missing}, false)"
    changed = "(l.key IS NOT NULL AND l.ident IS DISTINCT FROM d.ident)"
    where = (
        f"l.key IS NULL OR l.ident IS DISTINCT FROM d.ident OR (l.ident = d.ident AND {missing})"
    )
    return repair, changed, where


UPDATE_JOIN = "l.key = d.key AND l.ident = d.ident"
"""The updates join desired and ledger rows on key and identity."""


def update_where(missing: str, *, updates: bool) -> str:
    """Which joined rows are re-imported: members whose attributes changed (with ``updates``),
    unless missing from the list (then they are repairs)."""
    hash_changed = "d.attr_hash IS DISTINCT FROM l.attr_hash" if updates else "false"
    return f"l.status = 'member' AND {hash_changed} AND NOT {missing}"


REMOVE_WHERE = "d.key IS NULL OR d.ident IS DISTINCT FROM l.ident"
"""The ledger rows removed, over ``l LEFT JOIN d ON d.key = l.key``: no longer desired, or
desired under another identity."""


def settled_reason(desired_elsewhere: str, in_list: str) -> str:
    """Why a removed ledger row needs no call: its identity is still desired by another
    customer (removing the profile would drop them), Klaviyo removed it, or it is not in the
    list; NULL when it needs one."""
    return f"""
        CASE WHEN {desired_elsewhere} THEN 'kept_by_other_key'
             WHEN l.status = 'bounced' THEN 'bounced'
             WHEN NOT {in_list} THEN 'not_in_list'
        END
    """


def _plan_imports(con: duckdb.DuckDBPyConnection, missing: str, *, updates: bool) -> None:
    """The plans ``add_plan`` and ``update_plan``: which desired records each file gets."""
    repair, changed, where = add_rules(missing)
    _plan(
        con,
        "add_plan",
        f"""
        SELECT d.pos, {repair} AS repair, {changed} AS changed
        FROM d LEFT JOIN l ON l.key = d.key WHERE {where}
        """,
    )
    _plan(
        con,
        "update_plan",
        f"""
        SELECT d.pos, false AS repair, false AS changed
        FROM d JOIN l ON {UPDATE_JOIN} WHERE {update_where(missing, updates=updates)}
        """,
    )


def _write_removes(con: duckdb.DuckDBPyConnection, removes: Path, *, reconcile: bool) -> None:
    """``removes.parquet``: the ledger rows no longer desired, those to send first."""
    in_list = "EXISTS (SELECT 1 FROM m WHERE m.ident = l.ident)" if reconcile else "true"
    member_id = "(SELECT min(m.profile_id) FROM m WHERE m.ident = l.ident)" if reconcile else "NULL"
    reason = settled_reason("EXISTS (SELECT 1 FROM d WHERE d.ident = l.ident)", in_list)
    copy_query(
        con,
        f"""
        WITH r AS (
            SELECT l.key, l.email, l.phone_number, l.external_id, l.ident,
                   coalesce(l.profile_id, {member_id}) AS profile_id, {reason} AS settled
            FROM l LEFT JOIN d ON d.key = l.key
            WHERE {REMOVE_WHERE}
        )
        SELECT row_number() OVER (ORDER BY settled IS NOT NULL, key) - 1 AS row,
               key, email, phone_number, external_id, ident, profile_id, settled
        FROM r ORDER BY settled IS NOT NULL, key
        """,
        removes,
    )


def _counts(con: duckdb.DuckDBPyConnection, removes: Path, written: dict[str, int]) -> DiffCounts:
    [counts] = con.execute(
        f"""
        SELECT (SELECT count(*) FROM d),
               (SELECT count(*) FROM {parquet_source(removes)}
                    WHERE settled IS NULL),
               (SELECT count(*) FROM {parquet_source(removes)}
                    WHERE settled IS NOT NULL),
               (SELECT count(*) FROM add_plan WHERE repair),
               (SELECT count(*) FROM add_plan WHERE changed),
               (SELECT count(*) FROM l WHERE l.status = 'bounced'
                    AND EXISTS (SELECT 1 FROM d WHERE d.key = l.key AND d.ident = l.ident)),
               (SELECT count(*) FROM m
                    WHERE NOT EXISTS (SELECT 1 FROM l WHERE l.ident = m.ident))
        """
    ).fetchall()
    desired_n, removes_n, settled, repairs, changed, bounced, foreign = (int(c) for c in counts)
    adds, update_rows = written["add_plan"], written["update_plan"]
    return DiffCounts(
        desired=desired_n,
        adds=adds,
        updates=update_rows,
        removes=removes_n,
        settled=settled,
        repairs=repairs,
        identity_changes=changed,
        bounced=bounced,
        foreign=foreign,
    )


PLANNED_SCHEMA = pa.schema(
    [
        ("row", pa.int64()),
        *IDENTITY,
        ("profile", pa.string()),
        ("repair", pa.bool_()),
    ]
)
"""``adds.parquet`` and ``updates.parquet``: desired records with their ``row``, identity,
attribute hash and whether the add repairs a member Klaviyo lost."""


def _plan(con: duckdb.DuckDBPyConnection, name: str, select: str) -> None:
    """A table of the desired records a file gets (narrow: no profile), numbered in key order:
    in the order of desired.parquet, which is in key order (equal keys in file order).

    Not a temporary table: :class:`_PlanStream` reads it through a cursor of its own.
    """
    con.execute(
        f"""
        CREATE TABLE {name} AS
        SELECT pos, row_number() OVER (ORDER BY pos) - 1 AS row, repair, changed
        FROM ({select})
        """
    )


def _write_planned(
    con: duckdb.DuckDBPyConnection, desired: Path, targets: dict[str, Path]
) -> dict[str, int]:
    """Write each plan's file in one pass over ``desired``: the profiles stream from it, the
    plans (in the same order) say which rows each file takes."""
    plans = {name: _PlanStream(con, name) for name in targets}
    written = dict.fromkeys(targets, 0)
    with contextlib.ExitStack() as files:  # published at the end; removed on a failure
        partials = {name: files.enter_context(atomic_path(t)) for name, t in targets.items()}
        writers = {name: BackgroundWriter(partials[name], PLANNED_SCHEMA) for name in targets}
        try:
            first = 0
            for batch in row_groups(desired, DESIRED_SCHEMA.names):
                end = first + batch.num_rows
                for name, plan in plans.items():
                    chosen = plan.below(end)
                    if chosen.num_rows:
                        writers[name].write(_planned_rows(batch, chosen, first))
                        written[name] += chosen.num_rows
                first = end
        finally:
            for writer in writers.values():
                writer.close()
            for plan in plans.values():
                plan.close()
    return written


def _planned_rows(batch: pa.Table, chosen: pa.Table, first: int) -> pa.Table:
    positions = chosen.column("pos").combine_chunks()
    rows = batch.take(pc.subtract(positions, pa.scalar(first, pa.int64())))
    return pa.Table.from_arrays(
        [
            chosen.column("row"),
            rows.column("key"),
            rows.column("email"),
            rows.column("phone_number"),
            rows.column("external_id"),
            rows.column("ident"),
            rows.column("attr_hash"),
            rows.column("profile"),
            chosen.column("repair"),
        ],
        schema=PLANNED_SCHEMA,
    )


class _PlanStream:
    """A plan table read in ``pos`` order, a position range at a time."""

    def __init__(self, con: duckdb.DuckDBPyConnection, name: str) -> None:
        self._cursor = con.cursor()
        self._reader = self._cursor.sql(
            f"SELECT pos, row, repair FROM {name} ORDER BY pos"
        ).to_arrow_reader(_parquet.BATCH_ROWS)
        self._pending = pa.Table.from_batches([], self._reader.schema)
        self._done = False

    def below(self, end: int) -> pa.Table:
        """The planned rows whose ``pos`` is below ``end`` and not returned before."""
        parts = []
        while True:
            if self._pending.num_rows == 0:
                if self._done:
                    break
                try:
                    self._pending = pa.Table.from_batches([self._reader.read_next_batch()])
                except StopIteration:
                    self._done = True
                    break
            positions = self._pending.column("pos")
            taken = int(pc.sum(pc.less(positions, end)).as_py() or 0)  # positions ascend
            parts.append(self._pending.slice(0, taken))
            self._pending = self._pending.slice(taken)
            if self._pending.num_rows:
                break
        if not parts:
            return pa.Table.from_batches([], self._reader.schema)
        return pa.concat_tables(parts)

    def close(self) -> None:
        self._cursor.close()


def read_rows(path: Path, first: int, count: int, columns: Sequence[str]) -> pa.Table:
    """Rows ``[first, first + count)`` of a diff file (by its ``row`` column), in order."""
    names = ", ".join(f'"{c}"' for c in columns)
    with connect_utc() as con:
        return con.sql(
            f"SELECT {names} FROM {parquet_source(path)} WHERE row >= {int(first)} "
            f"AND row < {int(first) + int(count)} ORDER BY row"
        ).to_arrow_table()


def set_profile_ids(removes: Path, found: pa.Table) -> tuple[int, int]:
    """Fill the profile ids of ``removes.parquet`` from ``found`` (``ident``, ``profile_id``);
    rows still without one are settled as ``not_in_klaviyo``. Rewrites the file in order.

    Returns:
        (rows to send, rows settled).
    """
    resolved = DeliveryFolder(removes.parent).removes_resolved
    with local_duckdb(removes.parent) as con:
        con.register("found", found)
        copy_query(
            con,
            f"""
            WITH r AS (
                SELECT r.key, r.email, r.phone_number, r.external_id, r.ident,
                       coalesce(r.profile_id, f.profile_id) AS profile_id,
                       CASE WHEN r.settled IS NULL AND coalesce(r.profile_id, f.profile_id) IS NULL
                            THEN 'not_in_klaviyo' ELSE r.settled END AS settled
                FROM {parquet_source(removes)} r
                LEFT JOIN (SELECT ident, min(profile_id) AS profile_id FROM found GROUP BY ident) f
                  ON f.ident = r.ident
            )
            SELECT row_number() OVER (ORDER BY settled IS NOT NULL, key) - 1 AS row, *
            FROM r ORDER BY settled IS NOT NULL, key
            """,
            resolved,
        )
        con.unregister("found")
        resolved.replace(removes)
        row = con.execute(
            "SELECT count(*) FILTER (WHERE settled IS NULL), "
            "count(*) FILTER (WHERE settled IS NOT NULL) "
            f"FROM {parquet_source(removes)}"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def missing_ids(removes: Path) -> pa.Table:
    """The rows of ``removes.parquet`` to send whose profile id is unknown (ident, email,
    phone_number, external_id)."""
    with connect_utc() as con:
        return con.sql(
            "SELECT DISTINCT ident, email, phone_number, external_id "
            f"FROM {parquet_source(removes)} "
            "WHERE settled IS NULL AND profile_id IS NULL ORDER BY ident"
        ).to_arrow_table()


def member_ids(members: Path, removes: Path) -> pa.Table:
    """(``ident``, ``profile_id``) of the members whose identity a remove row needs."""
    with local_duckdb(removes.parent) as con:
        return con.sql(
            f"""
            SELECT {ident("m")} AS ident, min(m.profile_id) AS profile_id
            FROM {parquet_source(members)} m
            WHERE {ident("m")} IN (SELECT ident FROM {parquet_source(removes)}
                                   WHERE settled IS NULL AND profile_id IS NULL)
            GROUP BY ALL
            """
        ).to_arrow_table()


# --- members read from Klaviyo -------------------------------------------------------------


def write_members(
    members: Iterator[tuple[str, str | None, str | None, str | None]],
    target: Path,
    *,
    chunk: int = 10_000,
) -> int:
    """Write a list's members, as read from Klaviyo, to Parquet in chunks
    (:data:`MEMBERS_SCHEMA`)."""
    count = 0
    with atomic_path(target) as partial, pq.ParquetWriter(partial, MEMBERS_SCHEMA) as writer:
        buffer: list[tuple[str, str | None, str | None, str | None]] = []
        for member in members:
            buffer.append(member)
            if len(buffer) >= chunk:
                writer.write_table(_members_table(buffer))
                count += len(buffer)
                buffer = []
        writer.write_table(_members_table(buffer))
        count += len(buffer)
    return count


def _members_table(rows: list[tuple[str, str | None, str | None, str | None]]) -> pa.Table:
    columns: list[Any] = list(zip(*rows, strict=True)) if rows else [[], [], [], []]
    return pa.table(
        {
            name: pa.array(list(col), pa.string())
            for name, col in zip(MEMBERS_SCHEMA.names, columns, strict=True)
        }
    )
