"""What a list must gain and lose, computed with DuckDB over Parquet (DESIGN §1.4, §3).

A Klaviyo list is a mirror of one recipient group. Herald remembers what it has confirmed in
each list in a **ledger** (``.herald/lists/<destination>/<list_id>.parquet``), and every run
compares the group's **desired** records with it:

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
copied in one forward pass. The ledger is merged the same way from files in key order.

The ledger is replaced (write, then rename) only from confirmed work, see :func:`merge_ledger`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from herald.atomic import atomic_path
from herald.core.klaviyo_fields import profile_json
from herald.destinations.klaviyo_api.limits import MAX_PROFILE_BYTES
from herald.engines.duckdb import connect_utc, sql_string
from herald.engines.localdb import BackgroundWriter, local_duckdb, release_arrow_memory

__all__ = [
    "DESIRED_SCHEMA",
    "LEDGER_SCHEMA",
    "MAX_PROFILE_BYTES",
    "DiffCounts",
    "compute_diff",
    "ledger_path",
    "merge_ledger",
    "read_ledger_count",
    "read_rows",
    "write_desired",
    "write_members",
    "write_outcomes",
]

TOO_LARGE = "profile_too_large"

DESIRED_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("email", pa.string()),
        ("phone_number", pa.string()),
        ("external_id", pa.string()),
        ("profile", pa.string()),  # the profile's JSON:API attributes, compact JSON
        # Computed as the file is written, so the diff never reads the profiles to find them
        # (files written before these columns existed get them in the diff):
        ("ident", pa.string()),  # the identifier Klaviyo matches the profile on (_IDENT)
        ("attr_hash", pa.string()),  # md5 of the profile: what tells an update
    ]
)

# A record's key, identifiers, matching identifier and profile hash: in the ledger and in
# the planned adds and updates alike.
_IDENTITY = [
    ("key", pa.string()),
    ("email", pa.string()),
    ("phone_number", pa.string()),
    ("external_id", pa.string()),
    ("ident", pa.string()),
    ("attr_hash", pa.string()),
]

LEDGER_SCHEMA = pa.schema(
    [
        *_IDENTITY,
        ("profile_id", pa.string()),
        # member: confirmed in the list; bounced: Klaviyo removed it (suppressed), not re-added
        ("status", pa.string()),
    ]
)

MEMBERS_SCHEMA = pa.schema(
    [
        ("profile_id", pa.string()),
        ("email", pa.string()),
        ("phone_number", pa.string()),
        ("external_id", pa.string()),
    ]
)

# The identifier Klaviyo matches a bulk-imported profile on first (email, then phone, then
# external id), tagged so that values of different kinds never compare equal.
_IDENT = "coalesce('e:' || {t}email, 'p:' || {t}phone_number, 'x:' || {t}external_id)"


def _ident(alias: str = "") -> str:
    return _IDENT.format(t=f"{alias}." if alias else "")


def parquet_source(path: Path) -> str:
    """``read_parquet('…')`` for ``path``, quoted safely, for DuckDB SQL."""
    return f"read_parquet({sql_string(path)})"


_parquet = parquet_source


def _copy(con: duckdb.DuckDBPyConnection, select: str, target: Path) -> int:
    """Write a query to Parquet atomically; return its row count."""
    with atomic_path(target) as partial:
        rows = con.execute(f"COPY ({select}) TO {sql_string(partial)} (FORMAT parquet)").fetchall()
    return int(rows[0][0]) if rows else 0


def _empty(schema: pa.Schema, target: Path) -> None:
    with atomic_path(target) as partial:
        pq.write_table(schema.empty_table(), partial)


# --- desired records -------------------------------------------------------------------------

_BATCH_ROWS = 50_000


_ORDER_KEY = b"herald.order"
_BY_KEY = b"key"
_KEY_ORDERED_SCHEMA = DESIRED_SCHEMA.with_metadata({_ORDER_KEY: _BY_KEY})


def _text(batch: pa.RecordBatch, name: str) -> pa.Array:
    """A column as text (``str`` of each value), or NULLs when the batch has no such column."""
    if name not in batch.schema.names:
        return pa.nulls(batch.num_rows, pa.string())
    column = batch.column(name)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return pc.cast(column, pa.string())
    if pa.types.is_integer(column.type):
        return pc.cast(column, pa.string())  # the digits, as str() writes them
    return pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())


def _batches(
    records: pa.Table | pa.RecordBatchReader | Iterable[pa.RecordBatch],
) -> Iterator[pa.RecordBatch]:
    if isinstance(records, pa.Table):
        yield from records.to_batches(max_chunksize=_BATCH_ROWS)
        return
    for batch in records:
        for first in range(0, batch.num_rows, _BATCH_ROWS):
            yield batch.slice(first, _BATCH_ROWS)


_WITHOUT_HASH = pa.schema([f for f in DESIRED_SCHEMA if f.name != "attr_hash"])


def _desired_rows(batch: pa.RecordBatch, fields: Sequence[str], key: str) -> pa.Table:
    """A batch's desired rows, all but ``attr_hash`` (see :class:`_Hasher`)."""
    columns = [_text(batch, key)]
    identity = [_text(batch, name) for name in ("email", "phone_number", "external_id")]
    columns += [*identity, profile_json(batch, fields), _identity(*identity)]
    return pa.Table.from_arrays(columns, schema=_WITHOUT_HASH)


def _identity(email: pa.Array, phone_number: pa.Array, external_id: pa.Array) -> pa.Array:
    """:data:`_IDENT` in Arrow: a tagged email, else phone number, else external id."""
    tagged = [
        pc.binary_join_element_wise(tag, values, "")
        for tag, values in (("e:", email), ("p:", phone_number), ("x:", external_id))
    ]
    return pc.coalesce(*tagged)


class _Hasher:
    """Adds ``attr_hash``, DuckDB's md5 of each profile (the hash ledgers hold), to desired
    rows; used in the writer's thread, where DuckDB works without holding the GIL."""

    def __init__(self) -> None:
        self._con = connect_utc()

    def __call__(self, rows: pa.Table) -> pa.Table:
        self._con.register("desired_rows", rows)
        try:
            # A scan without ORDER BY keeps the rows' order (preserve_insertion_order).
            [hashes] = self._con.sql("SELECT md5(profile) FROM desired_rows").to_arrow_table()
        finally:
            self._con.unregister("desired_rows")
        return pa.Table.from_arrays([*rows.columns, hashes], schema=DESIRED_SCHEMA)

    def close(self) -> None:
        self._con.close()


class _KeyOrder:
    """Whether keys seen so far, batch after batch, are in order (non-decreasing, no NULL)."""

    def __init__(self) -> None:
        self.ordered = True
        self._last: pa.Scalar | None = None

    def see(self, keys: pa.Array | pa.ChunkedArray) -> None:
        if not self.ordered or len(keys) == 0:
            return
        if keys.null_count:
            self.ordered = False
            return
        if self._last is not None and pc.less(keys[0], self._last).as_py():
            self.ordered = False
            return
        if len(keys) > 1 and pc.any(pc.less(keys[1:], keys[:-1])).as_py():
            self.ordered = False
            return
        self._last = keys[len(keys) - 1]


def write_desired(
    records: pa.Table | pa.RecordBatchReader | Iterable[pa.RecordBatch],
    fields: Sequence[str],
    key: str,
    target: Path,
) -> tuple[int, pa.Table]:
    """Write a group's prepared records as ``desired.parquet`` (see :data:`DESIRED_SCHEMA`),
    in key order.

    Records are streamed batch by batch; each profile's JSON is what a bulk import sends
    (:func:`~herald.core.klaviyo_fields.profile_json`), and its hash is DuckDB's ``md5``,
    computed while the previous batch is written. Records that come in key order
    (``PreparedGroup.batches(order="key")``) are written as they come; others are sorted
    afterwards, so the file is always in key order, which lets :func:`compute_diff` write
    its files without sorting profiles.

    Args:
        records: ``Prepared.records``, or the same columns as a stream of batches.
        fields: the destination fields to send (``Prepared.fields``).
        key: the customer key column.
        target: where to write.

    Returns:
        The number of rows written, and the keys left out because their profile is over
        Klaviyo's 100 KB cap (``key``, ``reason``).
    """
    too_large: list[pa.Array] = []
    written = 0
    order = _KeyOrder()
    hasher = _Hasher()
    with atomic_path(target) as partial:
        with (
            contextlib.closing(hasher),
            BackgroundWriter(partial, _KEY_ORDERED_SCHEMA, hasher) as writer,
        ):
            for batch in _batches(records):
                rows = _desired_rows(batch, fields, key)
                large = pc.greater(pc.binary_length(rows.column("profile")), MAX_PROFILE_BYTES)
                if pc.any(large).as_py():
                    too_large.append(rows.column("key").filter(large).combine_chunks())
                    rows = rows.filter(pc.invert(large))
                order.see(rows.column("key"))
                writer.write(rows)
                written += rows.num_rows
        if not order.ordered:
            _sort_by_key(partial)
    release_arrow_memory()
    keys = pa.concat_arrays(too_large) if too_large else pa.array([], pa.string())
    reasons = pa.array([TOO_LARGE] * len(keys), pa.string())
    return written, pa.table({"key": keys, "reason": reasons})


def _sort_by_key(path: Path) -> None:
    """Rewrite a desired file in key order (NULL last; equal keys keep their order)."""
    unsorted = path.with_name(f"{path.name}.unsorted")
    path.replace(unsorted)
    try:
        with local_duckdb(path.parent) as con:
            names = ", ".join(DESIRED_SCHEMA.names)
            reader = con.sql(
                f"SELECT {names} FROM read_parquet({sql_string(unsorted)}, file_row_number = true) "
                "ORDER BY key NULLS LAST, file_row_number"
            ).to_arrow_reader(_BATCH_ROWS)
            with BackgroundWriter(path, _KEY_ORDERED_SCHEMA) as writer:
                for batch in reader:
                    writer.write(pa.Table.from_batches([batch]))
    finally:
        unsorted.unlink(missing_ok=True)


def is_key_ordered(desired: Path) -> bool:
    """Whether a desired file says it is in key order (files written before it did are not)."""
    metadata = pq.read_schema(desired).metadata or {}
    return metadata.get(_ORDER_KEY) == _BY_KEY


# --- ledgers ---------------------------------------------------------------------------------


def ledger_path(state_dir: Path, destination: str, list_id: str) -> Path:
    """Where the ledger of one list lives under the workspace's ``.herald`` folder."""
    return state_dir / "lists" / destination / f"{list_id}.parquet"


def _ledger_source(ledger: Path) -> str:
    """A query over a ledger; an empty relation of the same shape when there is none yet."""
    if ledger.exists():
        return _parquet(ledger)
    columns = ", ".join(f"NULL::VARCHAR AS {name}" for name in LEDGER_SCHEMA.names)
    return f"(SELECT {columns} WHERE false)"


def read_ledger_count(ledger: Path, status: str | None = "member") -> int:
    """How many rows a ledger has (in ``status``, or all when None)."""
    if not ledger.exists():
        return 0
    where = "" if status is None else f" WHERE status = {sql_string(status)}"
    with connect_utc() as con:
        return int(con.execute(f"SELECT count(*) FROM {_parquet(ledger)}{where}").fetchone()[0])  # type: ignore[index]


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
    unchanged: int
    repairs: int = 0
    identity_changes: int = 0
    bounced: int = 0
    foreign: int = 0


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
        desired: ``desired.parquet`` (:func:`write_desired`).
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
    out.mkdir(parents=True, exist_ok=True)
    with local_duckdb(out) as con:
        source = _key_ordered(con, desired, out)
        try:
            counts = _diff(con, source, ledger, out, updates=updates, members=members)
        finally:
            if source != desired:
                source.unlink(missing_ok=True)
    release_arrow_memory()
    return counts


def _key_ordered(con: duckdb.DuckDBPyConnection, desired: Path, out: Path) -> Path:
    """``desired``, or a copy of it in key order, with identities and hashes, when it was
    written before files had them."""
    if is_key_ordered(desired) and set(DESIRED_SCHEMA.names) <= set(pq.read_schema(desired).names):
        return desired
    copy = out / ".desired.ordered.parquet"
    names = ", ".join(n for n in DESIRED_SCHEMA.names if n not in ("ident", "attr_hash"))
    con.execute(
        f"COPY (SELECT {names}, {_ident()} AS ident, md5(profile) AS attr_hash "
        f"FROM read_parquet({sql_string(desired)}, file_row_number = true) "
        f"ORDER BY key NULLS LAST, file_row_number) TO {sql_string(copy)} (FORMAT parquet)"
    )
    return copy


def _diff(
    con: duckdb.DuckDBPyConnection,
    desired: Path,
    ledger: Path,
    out: Path,
    *,
    updates: bool,
    members: Path | None,
) -> DiffCounts:
    # pos is a record's place in desired.parquet, which is in key order: ordering by
    # (key, pos) is ordering by pos, and the files follow desired.parquet's order.
    con.execute(
        f"CREATE TEMP TABLE d AS SELECT file_row_number AS pos, key, ident, attr_hash "
        f"FROM read_parquet({sql_string(desired)}, file_row_number = true)"
    )
    # A view: each query reads only the ledger columns it needs.
    con.execute(f"CREATE TEMP VIEW l AS SELECT * FROM {_ledger_source(ledger)}")
    if members is not None:
        con.execute(
            f"CREATE TEMP TABLE m AS SELECT *, {_ident()} AS ident FROM {_parquet(members)}"
        )
    else:
        con.execute("CREATE TEMP TABLE m (profile_id VARCHAR, ident VARCHAR)")
    reconcile = members is not None
    # A ledger member missing from the list: Klaviyo (or someone) removed it. Repaired by
    # a re-add, unless it was found bounced before.
    missing = (
        "(l.status = 'member' AND NOT EXISTS (SELECT 1 FROM m WHERE m.ident = l.ident))"
        if reconcile
        else "false"
    )
    # Only a re-add of a lost member is a repair; a known key with a new identity is an
    # identity change, counted on its own.
    _plan(
        con,
        "add_plan",
        f"""
        SELECT d.pos, coalesce(l.ident = d.ident AND {missing}, false) AS repair,
               (l.key IS NOT NULL AND l.ident IS DISTINCT FROM d.ident) AS changed
        FROM d LEFT JOIN l ON l.key = d.key
        WHERE l.key IS NULL OR l.ident IS DISTINCT FROM d.ident
           OR (l.ident = d.ident AND {missing})
        """,
    )
    hash_changed = "d.attr_hash IS DISTINCT FROM l.attr_hash" if updates else "false"
    _plan(
        con,
        "update_plan",
        f"""
        SELECT d.pos, false AS repair, false AS changed
        FROM d JOIN l ON l.key = d.key AND l.ident = d.ident
        WHERE l.status = 'member' AND {hash_changed} AND NOT {missing}
        """,
    )
    written = _write_planned(
        con,
        desired,
        {"add_plan": out / "adds.parquet", "update_plan": out / "updates.parquet"},
    )
    in_list = "EXISTS (SELECT 1 FROM m WHERE m.ident = l.ident)" if reconcile else "true"
    member_id = "(SELECT min(m.profile_id) FROM m WHERE m.ident = l.ident)" if reconcile else "NULL"
    # Why a ledger row needs no call: the identity is still desired by another customer
    # (removing the profile would drop them), Klaviyo removed it, or it is not in the list.
    reason = f"""
        CASE WHEN EXISTS (SELECT 1 FROM d WHERE d.ident = l.ident) THEN 'kept_by_other_key'
             WHEN l.status = 'bounced' THEN 'bounced'
             WHEN NOT {in_list} THEN 'not_in_list'
        END
    """
    _copy(
        con,
        f"""
        WITH r AS (
            SELECT l.key, l.email, l.phone_number, l.external_id, l.ident,
                   coalesce(l.profile_id, {member_id}) AS profile_id, {reason} AS settled
            FROM l LEFT JOIN d ON d.key = l.key
            WHERE d.key IS NULL OR d.ident IS DISTINCT FROM l.ident
        )
        SELECT row_number() OVER (ORDER BY settled IS NOT NULL, key) - 1 AS row,
               key, email, phone_number, external_id, ident, profile_id, settled
        FROM r ORDER BY settled IS NOT NULL, key
        """,
        out / "removes.parquet",
    )
    [counts] = con.execute(
        f"""
        SELECT (SELECT count(*) FROM d),
               (SELECT count(*) FROM {_parquet(out / "removes.parquet")}
                    WHERE settled IS NULL),
               (SELECT count(*) FROM {_parquet(out / "removes.parquet")}
                    WHERE settled IS NOT NULL),
               (SELECT count(*) FROM add_plan WHERE repair),
               (SELECT count(*) FROM add_plan WHERE changed),
               (SELECT count(*) FROM l WHERE l.status = 'bounced'
                    AND EXISTS (SELECT 1 FROM d WHERE d.key = l.key AND d.ident = l.ident)),
               (SELECT count(*) FROM m
                    WHERE NOT EXISTS (SELECT 1 FROM l WHERE l.ident = m.ident))
        """
    ).fetchall()
    desired_n, removes, settled, repairs, changed, bounced, foreign = (int(c) for c in counts)
    adds, update_rows = written["add_plan"], written["update_plan"]
    return DiffCounts(
        desired=desired_n,
        adds=adds,
        updates=update_rows,
        removes=removes,
        settled=settled,
        unchanged=desired_n - adds - update_rows - bounced,
        repairs=repairs,
        identity_changes=changed,
        bounced=bounced,
        foreign=foreign,
    )


PLANNED_SCHEMA = pa.schema(
    [
        ("row", pa.int64()),
        *_IDENTITY,
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
            for batch in _row_groups(desired, DESIRED_SCHEMA.names):
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


def _row_groups(path: Path, columns: Sequence[str]) -> Iterator[pa.Table]:
    """A Parquet file a row group at a time, in order (``iter_batches`` would buffer the
    whole file first)."""
    source = pq.ParquetFile(path, pre_buffer=False)
    for i in range(source.metadata.num_row_groups):
        yield source.read_row_group(i, columns=list(columns))


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
        ).to_arrow_reader(_BATCH_ROWS)
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
            f"SELECT {names} FROM {_parquet(path)} WHERE row >= {int(first)} "
            f"AND row < {int(first) + int(count)} ORDER BY row"
        ).to_arrow_table()


def set_profile_ids(removes: Path, found: pa.Table) -> tuple[int, int]:
    """Fill the profile ids of ``removes.parquet`` from ``found`` (``ident``, ``profile_id``);
    rows still without one are settled as ``not_in_klaviyo``. Rewrites the file in order.

    Returns:
        (rows to send, rows settled).
    """
    with local_duckdb(removes.parent) as con:
        con.register("found", found)
        _copy(
            con,
            f"""
            WITH r AS (
                SELECT r.key, r.email, r.phone_number, r.external_id, r.ident,
                       coalesce(r.profile_id, f.profile_id) AS profile_id,
                       CASE WHEN r.settled IS NULL AND coalesce(r.profile_id, f.profile_id) IS NULL
                            THEN 'not_in_klaviyo' ELSE r.settled END AS settled
                FROM {_parquet(removes)} r
                LEFT JOIN (SELECT ident, min(profile_id) AS profile_id FROM found GROUP BY ident) f
                  ON f.ident = r.ident
            )
            SELECT row_number() OVER (ORDER BY settled IS NOT NULL, key) - 1 AS row, *
            FROM r ORDER BY settled IS NOT NULL, key
            """,
            removes.with_name("removes.resolved.parquet"),
        )
        con.unregister("found")
        removes.with_name("removes.resolved.parquet").replace(removes)
        row = con.execute(
            "SELECT count(*) FILTER (WHERE settled IS NULL), "
            "count(*) FILTER (WHERE settled IS NOT NULL) "
            f"FROM {_parquet(removes)}"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def missing_ids(removes: Path) -> pa.Table:
    """The rows of ``removes.parquet`` to send whose profile id is unknown (ident, email,
    phone_number, external_id)."""
    with connect_utc() as con:
        return con.sql(
            f"SELECT DISTINCT ident, email, phone_number, external_id FROM {_parquet(removes)} "
            "WHERE settled IS NULL AND profile_id IS NULL ORDER BY ident"
        ).to_arrow_table()


def member_ids(members: Path, removes: Path) -> pa.Table:
    """(``ident``, ``profile_id``) of the members whose identity a remove row needs."""
    with local_duckdb(removes.parent) as con:
        return con.sql(
            f"""
            SELECT {_ident("m")} AS ident, min(m.profile_id) AS profile_id
            FROM {_parquet(members)} m
            WHERE {_ident("m")} IN (SELECT ident FROM {_parquet(removes)}
                                   WHERE settled IS NULL AND profile_id IS NULL)
            GROUP BY ALL
            """
        ).to_arrow_table()


# --- after the delivery ----------------------------------------------------------------------


def _confirmed_rows(kind_file: Path, ranges: pa.Table) -> str:
    """Rows of a diff file inside the confirmed batch ranges
    (``first_row``, ``row_count``, ``job_id``)."""
    return f"""
        SELECT f.*, b.job_id FROM {_parquet(kind_file)} f
        JOIN {ranges} b ON f.row >= b.first_row AND f.row < b.first_row + b.row_count
    """


def _rejects_source(rejects: Sequence[Path]) -> str:
    files = [p for p in rejects if p.exists()]
    if not files:
        return "(SELECT NULL::VARCHAR AS key, NULL::VARCHAR AS reason WHERE false)"
    return f"read_parquet([{', '.join(sql_string(p) for p in files)}])"


def merge_ledger(
    ledger: Path,
    folder: Path,
    confirmed: pa.Table,
    rejects: Sequence[Path],
    *,
    bounced_keys: pa.Table | None = None,
    settled: bool = True,
) -> int:
    """Write the list's new ledger: old − confirmed removes + confirmed adds and updates.

    Idempotent: applying the same confirmed work to the ledger it already produced gives the
    same ledger, so a delivery killed after the rename and resumed cannot corrupt it. A key
    touched by confirmed work loses its old row; confirmed adds and updates that Klaviyo did
    not reject get a new one; a rejected update keeps the old row (so the next run retries).

    The ledger is written in key order. DuckDB sorts only where each row comes from (narrow);
    the rows are then read from the old ledger and the adds and updates files, which are all
    in key order, so nothing wide is sorted.

    Args:
        ledger: the list's ledger (may not exist yet).
        folder: the delivery folder with ``adds``, ``updates`` and ``removes`` files.
        confirmed: confirmed batches: ``kind``, ``first_row``, ``row_count``, ``job_id``.
        rejects: Parquet files of rejected rows (``key``, ``reason``).
        bounced_keys: keys (``key``) to mark bounced: re-added but absent again (reconcile).
        settled: drop the rows of the removes the plan found settled. False to merge only
            late-confirmed batches of an earlier delivery: its settled removes were merged
            when it ended, and applying them again could undo what later runs added.

    Returns:
        The new ledger's row count.
    """
    sources = [ledger, folder / "adds.parquet", folder / "updates.parquet"]
    with local_duckdb(folder) as con:
        con.register("batches", confirmed)
        con.register(
            "bounced_keys",
            bounced_keys
            if bounced_keys is not None
            else pa.table({"key": pa.array([], pa.string())}),
        )
        ranges = {
            k: f"(SELECT * FROM batches WHERE kind = {sql_string(k)})"
            for k in ("add", "update", "remove")
        }
        con.execute(f"CREATE TEMP TABLE rej AS SELECT DISTINCT key FROM {_rejects_source(rejects)}")
        # src: where a row comes from (an index of sources), pos: its place in that file.
        con.execute(
            f"""
            CREATE TEMP TABLE accepted AS
            SELECT src, pos, key, ident FROM (
                {_confirmed_positions(1, sources[1], ranges["add"])}
                UNION ALL
                {_confirmed_positions(2, sources[2], ranges["update"])}
            ) WHERE key NOT IN (SELECT key FROM rej)
            """
        )
        con.execute(
            f"""
            CREATE TEMP TABLE touched AS
            SELECT key FROM accepted
            UNION SELECT key FROM (
                {_confirmed_rows(folder / "removes.parquet", ranges["remove"])}
            )
            UNION SELECT key FROM {_parquet(folder / "removes.parquet")}
            WHERE settled IS NOT NULL AND {"true" if settled else "false"}
            """
        )
        # A rejected add of a key whose identity changed loses its old row when the old
        # identity's remove is confirmed (touched above); a rejected new key never had one.
        # Not a temporary table: the rows are read through a cursor of their own.
        con.execute(
            f"""
            CREATE TABLE merged AS
            SELECT src, pos, key, profile_id,
                   CASE WHEN key IN (SELECT key FROM bounced_keys) THEN 'bounced' ELSE status END
                       AS status
            FROM (
                SELECT 0 AS src, l.pos, l.key, l.profile_id, l.status FROM {_ledger_rows(ledger)} l
                WHERE l.key NOT IN (SELECT key FROM touched)
                UNION ALL
                SELECT a.src, a.pos, a.key, o.profile_id, 'member' AS status
                FROM accepted a
                LEFT JOIN {_ledger_source(ledger)} o ON o.key = a.key AND o.ident = a.ident
            )
            """
        )
        count = _write_merged(con, sources, ledger)
        con.unregister("batches")
        con.unregister("bounced_keys")
    release_arrow_memory()
    return count


def _confirmed_positions(src: int, kind_file: Path, ranges: str) -> str:
    """``src``, position, key and identity of the rows of a diff file in confirmed ranges."""
    return f"""
        SELECT {src} AS src, f.file_row_number AS pos, f.key, f.ident
        FROM read_parquet({sql_string(kind_file)}, file_row_number = true) f
        JOIN {ranges} b ON f.row >= b.first_row AND f.row < b.first_row + b.row_count
    """


def _ledger_rows(ledger: Path) -> str:
    """A ledger's rows with their position (``pos``); none when there is no ledger yet."""
    if ledger.exists():
        source = f"read_parquet({sql_string(ledger)}, file_row_number = true)"
        return f"(SELECT *, file_row_number AS pos FROM {source})"
    columns = ", ".join(f"NULL::VARCHAR AS {name}" for name in LEDGER_SCHEMA.names)
    return f"(SELECT {columns}, NULL::BIGINT AS pos WHERE false)"


_LEDGER_IDENTITY = ["key", "email", "phone_number", "external_id", "ident", "attr_hash"]


def _write_merged(con: duckdb.DuckDBPyConnection, sources: list[Path], ledger: Path) -> int:
    """Write the merged ledger in key order: the plan (``merged``) in key order says which
    file and row each ledger row comes from; the files are read forward as it goes."""
    readers = [_RowSource(path, _LEDGER_IDENTITY) for path in sources]
    cursor = con.cursor()
    count = 0
    try:
        plan = cursor.sql(
            "SELECT src, pos, profile_id, status FROM merged ORDER BY key, src, pos"
        ).to_arrow_reader(_BATCH_ROWS)
        with atomic_path(ledger) as partial, BackgroundWriter(partial, LEDGER_SCHEMA) as writer:
            for chunk in plan:
                rows = _gather(chunk, readers)
                columns = [*rows.columns, chunk.column("profile_id"), chunk.column("status")]
                writer.write(pa.Table.from_arrays(columns, schema=LEDGER_SCHEMA))
                count += chunk.num_rows
    finally:
        cursor.close()
    return count


def _gather(chunk: pa.RecordBatch, readers: Sequence[_RowSource]) -> pa.Table:
    """The rows a plan chunk names (``src``, ``pos``), in the chunk's order."""
    src = chunk.column("src").to_numpy(zero_copy_only=False)
    pos = chunk.column("pos").to_numpy(zero_copy_only=False)
    parts, order, offset = [], np.empty(len(pos), dtype=np.int64), 0
    for source in np.unique(src):
        chosen = np.flatnonzero(src == source)
        parts.append(readers[int(source)].take(pos[chosen]))
        order[chosen] = np.arange(offset, offset + len(chosen))
        offset += len(chosen)
    if not parts:
        return pa.schema([(n, pa.string()) for n in _LEDGER_IDENTITY]).empty_table()
    return pa.concat_tables(parts).take(pa.array(order))


class _RowSource:
    """Rows of a Parquet file taken by position, a row group at a time. The last row group
    read is kept, so positions taken in ascending order read each row group once."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self._path = path
        self._schema = pa.schema([(n, pa.string()) for n in columns])
        self._file: pq.ParquetFile | None = None
        self._starts = np.zeros(1, dtype=np.int64)
        self._group: tuple[int, pa.Table] | None = None

    def take(self, positions: np.ndarray) -> pa.Table:
        """The rows at ``positions`` (any order), in that order."""
        if self._file is None:
            self._file = pq.ParquetFile(self._path, pre_buffer=False)
            meta = self._file.metadata
            sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
            self._starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        groups = np.searchsorted(self._starts, positions, side="right") - 1
        order = np.argsort(groups, kind="stable")
        cuts = np.flatnonzero(np.diff(groups[order])) + 1
        parts = []
        for chosen in np.split(order, cuts):
            group = int(groups[chosen[0]])
            offsets = pa.array(positions[chosen] - self._starts[group])
            parts.append(self._row_group(group).take(offsets))
        taken = pa.concat_tables(parts)
        if np.all(np.diff(order) > 0):
            return taken
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        return taken.take(pa.array(inverse))

    def _row_group(self, group: int) -> pa.Table:
        if self._group is None or self._group[0] != group:
            assert self._file is not None
            table = self._file.read_row_group(group, columns=self._schema.names)
            self._group = (group, table.cast(self._schema))
        return self._group[1]


def write_outcomes(
    target: Path,
    folder: Path,
    confirmed: pa.Table,
    rejects: Sequence[Path],
    skipped: pa.Table,
) -> dict[str, int]:
    """Write the per-profile outcomes of a delivery: ``key, outcome, reason, job_id``.

    Outcomes: ``sent`` (in a confirmed import), ``rejected`` (Klaviyo refused the profile;
    ``reason`` says why), ``removed`` (``reason`` says why no call was needed, if none was)
    and ``skipped_invalid`` (never sent; ``reason`` from ``prepare_records``).

    Returns:
        Counts per outcome.
    """
    with local_duckdb(folder) as con:
        con.register("batches", confirmed)
        con.register("skipped", skipped)
        ranges = {
            k: f"(SELECT * FROM batches WHERE kind = {sql_string(k)})"
            for k in ("add", "update", "remove")
        }
        select = f"""
            WITH rej AS (
                SELECT key, min(reason) AS reason FROM {_rejects_source(rejects)} GROUP BY key
            ),
            sent AS (
                {_confirmed_rows(folder / "adds.parquet", ranges["add"])}
                UNION ALL BY NAME
                {_confirmed_rows(folder / "updates.parquet", ranges["update"])}
            )
            SELECT s.key, CASE WHEN rej.key IS NULL THEN 'sent' ELSE 'rejected' END AS outcome,
                   rej.reason, s.job_id
            FROM sent s LEFT JOIN rej ON rej.key = s.key
            UNION ALL
            SELECT key, 'removed', NULL, NULL
            FROM ({_confirmed_rows(folder / "removes.parquet", ranges["remove"])})
            UNION ALL
            SELECT key, 'removed', settled, NULL FROM {_parquet(folder / "removes.parquet")}
            WHERE settled IS NOT NULL
            UNION ALL
            SELECT CAST(key AS VARCHAR), 'skipped_invalid', CAST(reason AS VARCHAR), NULL
            FROM skipped
            ORDER BY 2, 1
        """
        _copy(con, select, target)
        rows = con.execute(
            f"SELECT outcome, count(*) FROM {_parquet(target)} GROUP BY ALL ORDER BY 1"
        ).fetchall()
        con.unregister("batches")
        con.unregister("skipped")
    return {str(k): int(v) for k, v in rows}


def batches_table(rows: Sequence[tuple[str, int, int, str | None]]) -> pa.Table:
    """Confirmed batches as a table for :func:`merge_ledger` and :func:`write_outcomes`."""
    kinds, firsts, counts, jobs = (
        (list(c) for c in zip(*rows, strict=True)) if rows else ([], [], [], [])
    )
    return pa.table(
        {
            "kind": pa.array(kinds, pa.string()),
            "first_row": pa.array(firsts, pa.int64()),
            "row_count": pa.array(counts, pa.int64()),
            "job_id": pa.array(jobs, pa.string()),
        }
    )


def write_rejects(target: Path, keys: Sequence[str], reasons: Sequence[str]) -> None:
    """Write rejected rows of one batch (``key``, ``reason``) atomically."""
    table = pa.table(
        {"key": pa.array(list(keys), pa.string()), "reason": pa.array(list(reasons), pa.string())}
    )
    with atomic_path(target) as partial:
        pq.write_table(table, partial)
