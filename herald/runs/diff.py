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

The ledger is replaced (write, then rename) only from confirmed work, see :func:`merge_ledger`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from sqlglot import exp

from herald.core.klaviyo_fields import klaviyo_profile

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

MAX_PROFILE_BYTES = 100_000
"""Klaviyo's cap on one profile in a bulk import (FACTS §2.3)."""

TOO_LARGE = "profile_too_large"

DESIRED_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("email", pa.string()),
        ("phone_number", pa.string()),
        ("external_id", pa.string()),
        ("profile", pa.string()),  # the profile's JSON:API attributes, compact JSON
    ]
)

LEDGER_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("email", pa.string()),
        ("phone_number", pa.string()),
        ("external_id", pa.string()),
        ("ident", pa.string()),
        ("attr_hash", pa.string()),
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


def _lit(value: str | os.PathLike[str]) -> str:
    return exp.Literal.string(str(value)).sql("duckdb")


def parquet_source(path: Path) -> str:
    """``read_parquet('…')`` for ``path``, quoted safely, for DuckDB SQL."""
    return f"read_parquet({_lit(path)})"


_parquet = parquet_source


def _replace_atomically(partial: Path, target: Path) -> None:
    # fsync before the rename: after a power cut the new name must not point at a hole.
    with partial.open("rb") as handle:
        os.fsync(handle.fileno())
    partial.replace(target)


def _copy(con: duckdb.DuckDBPyConnection, select: str, target: Path) -> int:
    """Write a query to Parquet atomically; return its row count."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    rows = con.execute(f"COPY ({select}) TO {_lit(partial)} (FORMAT parquet)").fetchall()
    _replace_atomically(partial, target)
    return int(rows[0][0]) if rows else 0


def _empty(schema: pa.Schema, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    pq.write_table(schema.empty_table(), partial)
    _replace_atomically(partial, target)


# --- desired records -------------------------------------------------------------------------


def _column(batch: pa.RecordBatch, name: str) -> list[Any]:
    if name not in batch.schema.names:
        return [None] * batch.num_rows
    return [None if v is None else str(v) for v in batch.column(name).to_pylist()]


def write_desired(
    records: pa.Table, fields: Sequence[str], key: str, target: Path
) -> tuple[int, pa.Table]:
    """Write a group's prepared records as ``desired.parquet`` (see :data:`DESIRED_SCHEMA`).

    Records are streamed batch by batch; each profile's JSON is what a bulk import sends.

    Args:
        records: ``Prepared.records`` (the destination fields and the key column).
        fields: the destination fields to send (``Prepared.fields``).
        key: the customer key column.
        target: where to write.

    Returns:
        The number of rows written, and the keys left out because their profile is over
        Klaviyo's 100 KB cap (``key``, ``reason``).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    too_large: list[str] = []
    written = 0
    with pq.ParquetWriter(partial, DESIRED_SCHEMA) as writer:
        for batch in records.to_batches(max_chunksize=50_000):
            keys = _column(batch, key)
            columns = [batch.column(name).to_pylist() for name in fields]
            out: dict[str, list[Any]] = {n: [] for n in DESIRED_SCHEMA.names}
            identity = {n: _column(batch, n) for n in ("email", "phone_number", "external_id")}
            for i, values in enumerate(zip(*columns, strict=True)):
                profile = orjson.dumps(klaviyo_profile(dict(zip(fields, values, strict=True))))
                if len(profile) > MAX_PROFILE_BYTES:
                    too_large.append(keys[i])
                    continue
                out["key"].append(keys[i])
                for name, column in identity.items():
                    out[name].append(column[i])
                out["profile"].append(profile.decode())
            writer.write_table(pa.table(out, schema=DESIRED_SCHEMA))
            written += len(out["key"])
    _replace_atomically(partial, target)
    skipped = pa.table(
        {"key": pa.array(too_large, pa.string()), "reason": [TOO_LARGE] * len(too_large)}
    )
    return written, skipped


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
    where = "" if status is None else f" WHERE status = {_lit(status)}"
    with duckdb.connect() as con:
        return int(con.execute(f"SELECT count(*) FROM {_parquet(ledger)}{where}").fetchone()[0])  # type: ignore[index]


def write_members(
    members: Iterator[tuple[str, str | None, str | None, str | None]],
    target: Path,
    *,
    chunk: int = 10_000,
) -> int:
    """Write a list's members, as read from Klaviyo, to Parquet in chunks
    (:data:`MEMBERS_SCHEMA`)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    count = 0
    with pq.ParquetWriter(partial, MEMBERS_SCHEMA) as writer:
        buffer: list[tuple[str, str | None, str | None, str | None]] = []
        for member in members:
            buffer.append(member)
            if len(buffer) >= chunk:
                writer.write_table(_members_table(buffer))
                count += len(buffer)
                buffer = []
        writer.write_table(_members_table(buffer))
        count += len(buffer)
    _replace_atomically(partial, target)
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
    with duckdb.connect() as con:
        con.execute(
            f"CREATE TEMP TABLE d AS SELECT *, {_ident()} AS ident, md5(profile) AS attr_hash "
            f"FROM {_parquet(desired)}"
        )
        con.execute(f"CREATE TEMP TABLE l AS SELECT * FROM {_ledger_source(ledger)}")
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
        adds = _copy(
            con,
            f"""
            SELECT row_number() OVER (ORDER BY d.key) - 1 AS row, d.key, d.email, d.phone_number,
                   d.external_id, d.ident, d.attr_hash, d.profile,
                   l.key IS NOT NULL AS repair
            FROM d LEFT JOIN l ON l.key = d.key
            WHERE l.key IS NULL OR l.ident IS DISTINCT FROM d.ident
               OR (l.ident = d.ident AND {missing})
            ORDER BY d.key
            """,
            out / "adds.parquet",
        )
        hash_changed = "d.attr_hash IS DISTINCT FROM l.attr_hash" if updates else "false"
        update_rows = _copy(
            con,
            f"""
            SELECT row_number() OVER (ORDER BY d.key) - 1 AS row, d.key, d.email, d.phone_number,
                   d.external_id, d.ident, d.attr_hash, d.profile, false AS repair
            FROM d JOIN l ON l.key = d.key AND l.ident = d.ident
            WHERE l.status = 'member' AND {hash_changed} AND NOT {missing}
            ORDER BY d.key
            """,
            out / "updates.parquet",
        )
        in_list = "EXISTS (SELECT 1 FROM m WHERE m.ident = l.ident)" if reconcile else "true"
        member_id = (
            "(SELECT min(m.profile_id) FROM m WHERE m.ident = l.ident)" if reconcile else "NULL"
        )
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
        counts = con.execute(
            f"""
            SELECT (SELECT count(*) FROM d),
                   (SELECT count(*) FROM {_parquet(out / "removes.parquet")}
                        WHERE settled IS NULL),
                   (SELECT count(*) FROM {_parquet(out / "removes.parquet")}
                        WHERE settled IS NOT NULL),
                   (SELECT count(*) FROM {_parquet(out / "adds.parquet")} WHERE repair),
                   (SELECT count(*) FROM l WHERE l.status = 'bounced'
                        AND EXISTS (SELECT 1 FROM d WHERE d.key = l.key AND d.ident = l.ident)),
                   (SELECT count(*) FROM m
                        WHERE NOT EXISTS (SELECT 1 FROM l WHERE l.ident = m.ident))
            """
        ).fetchone()
        assert counts is not None
    desired_n, removes, settled, repairs, bounced, foreign = (int(c) for c in counts)
    return DiffCounts(
        desired=desired_n,
        adds=adds,
        updates=update_rows,
        removes=removes,
        settled=settled,
        unchanged=desired_n - adds - update_rows - bounced,
        repairs=repairs,
        bounced=bounced,
        foreign=foreign,
    )


def read_rows(path: Path, first: int, count: int, columns: Sequence[str]) -> pa.Table:
    """Rows ``[first, first + count)`` of a diff file (by its ``row`` column), in order."""
    names = ", ".join(f'"{c}"' for c in columns)
    with duckdb.connect() as con:
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
    with duckdb.connect() as con:
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
    with duckdb.connect() as con:
        return con.sql(
            f"SELECT DISTINCT ident, email, phone_number, external_id FROM {_parquet(removes)} "
            "WHERE settled IS NULL AND profile_id IS NULL ORDER BY ident"
        ).to_arrow_table()


def member_ids(members: Path, removes: Path) -> pa.Table:
    """(``ident``, ``profile_id``) of the members whose identity a remove row needs."""
    with duckdb.connect() as con:
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
    return f"read_parquet([{', '.join(_lit(p) for p in files)}])"


def merge_ledger(
    ledger: Path,
    folder: Path,
    confirmed: pa.Table,
    rejects: Sequence[Path],
    *,
    bounced_keys: pa.Table | None = None,
) -> int:
    """Write the list's new ledger: old − confirmed removes + confirmed adds and updates.

    Idempotent: applying the same confirmed work to the ledger it already produced gives the
    same ledger, so a delivery killed after the rename and resumed cannot corrupt it. A key
    touched by confirmed work loses its old row; confirmed adds and updates that Klaviyo did
    not reject get a new one; a rejected update keeps the old row (so the next run retries).

    Args:
        ledger: the list's ledger (may not exist yet).
        folder: the delivery folder with ``adds``, ``updates`` and ``removes`` files.
        confirmed: confirmed batches: ``kind``, ``first_row``, ``row_count``, ``job_id``.
        rejects: Parquet files of rejected rows (``key``, ``reason``).
        bounced_keys: keys (``key``) to mark bounced: re-added but absent again (reconcile).

    Returns:
        The new ledger's row count.
    """
    with duckdb.connect() as con:
        con.register("batches", confirmed)
        con.register(
            "bounced_keys",
            bounced_keys
            if bounced_keys is not None
            else pa.table({"key": pa.array([], pa.string())}),
        )
        ranges = {
            k: f"(SELECT * FROM batches WHERE kind = {_lit(k)})"
            for k in ("add", "update", "remove")
        }
        con.execute(f"CREATE TEMP TABLE rej AS SELECT DISTINCT key FROM {_rejects_source(rejects)}")
        con.execute(
            f"""
            CREATE TEMP TABLE accepted AS
            SELECT key, email, phone_number, external_id, ident, attr_hash FROM (
                {_confirmed_rows(folder / "adds.parquet", ranges["add"])}
                UNION ALL BY NAME
                {_confirmed_rows(folder / "updates.parquet", ranges["update"])}
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
            UNION SELECT key FROM {_parquet(folder / "removes.parquet")} WHERE settled IS NOT NULL
            """
        )
        # A rejected add of a key whose identity changed loses its old row when the old
        # identity's remove is confirmed (touched above); a rejected new key never had one.
        select = f"""
            SELECT key, email, phone_number, external_id, ident, attr_hash, profile_id,
                   CASE WHEN key IN (SELECT key FROM bounced_keys) THEN 'bounced' ELSE status END
                       AS status
            FROM (
                SELECT l.* FROM {_ledger_source(ledger)} l
                WHERE l.key NOT IN (SELECT key FROM touched)
                UNION ALL
                SELECT a.key, a.email, a.phone_number, a.external_id, a.ident, a.attr_hash,
                       o.profile_id, 'member' AS status
                FROM accepted a
                LEFT JOIN {_ledger_source(ledger)} o ON o.key = a.key AND o.ident = a.ident
            )
            ORDER BY key
        """
        count = _copy(con, select, ledger)
        con.unregister("batches")
        con.unregister("bounced_keys")
    return count


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
    with duckdb.connect() as con:
        con.register("batches", confirmed)
        con.register("skipped", skipped)
        ranges = {
            k: f"(SELECT * FROM batches WHERE kind = {_lit(k)})"
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
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    pq.write_table(table, partial)
    _replace_atomically(partial, target)
