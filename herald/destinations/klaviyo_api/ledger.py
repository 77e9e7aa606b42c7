"""A Klaviyo list's ledger: what Herald has confirmed in the list, and so may remove.

The ledger (``.herald/lists/<destination>/<list_id>.parquet``, see
:func:`~herald.destinations.klaviyo_api.folder.ledger_path`) holds one row per key Herald
confirmed in the list, with its identity, profile hash and profile id. After a delivery it is
replaced (write, then rename) by old − confirmed removes + confirmed adds and updates
(:func:`merge_ledger`), and the per-profile outcomes are written (:func:`write_outcomes`).
Only confirmed work is merged, so a delivery killed at any moment leaves a ledger that is true.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from herald.atomic import atomic_path
from herald.destinations.klaviyo_api import _parquet
from herald.destinations.klaviyo_api._parquet import IDENTITY, copy_query, parquet_source
from herald.destinations.klaviyo_api.folder import DeliveryFolder
from herald.engines.duckdb import connect_utc, sql_string
from herald.engines.localdb import BackgroundWriter, local_duckdb, release_arrow_memory

__all__ = [
    "LEDGER_SCHEMA",
    "batches_table",
    "ledger_source",
    "merge_ledger",
    "read_ledger_count",
    "write_outcomes",
    "write_rejects",
]

LEDGER_SCHEMA = pa.schema(
    [
        *IDENTITY,
        ("profile_id", pa.string()),
        # member: confirmed in the list; bounced: Klaviyo removed it (suppressed), not re-added
        ("status", pa.string()),
    ]
)

_LEDGER_IDENTITY = [name for name, _ in IDENTITY]


def ledger_source(ledger: Path) -> str:
    """A query over a ledger; an empty relation of the same shape when there is none yet."""
    if ledger.exists():
        return parquet_source(ledger)
    columns = ", ".join(f"NULL::VARCHAR AS {name}" for name in LEDGER_SCHEMA.names)
    return f"(SELECT {columns} WHERE false)"


def read_ledger_count(ledger: Path, status: str | None = "member") -> int:
    """How many rows a ledger has (in ``status``, or all when None)."""
    if not ledger.exists():
        return 0
    where = "" if status is None else f" WHERE status = {sql_string(status)}"
    with connect_utc() as con:
        query = f"SELECT count(*) FROM {parquet_source(ledger)}{where}"
        return int(con.execute(query).fetchone()[0])  # type: ignore[index]


# --- confirmed work ---------------------------------------------------------------------------


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


def _kind_ranges() -> dict[str, str]:
    """The confirmed batch ranges of each kind, from the registered ``batches``."""
    return {
        k: f"(SELECT * FROM batches WHERE kind = {sql_string(k)})"
        for k in ("add", "update", "remove")
    }


def _confirmed_rows(kind_file: Path, ranges: str) -> str:
    """Rows of a diff file inside the confirmed batch ranges
    (``first_row``, ``row_count``, ``job_id``)."""
    return f"""
        SELECT f.*, b.job_id FROM {parquet_source(kind_file)} f
        JOIN {ranges} b ON f.row >= b.first_row AND f.row < b.first_row + b.row_count
    """


def _rejects_source(rejects: Sequence[Path]) -> str:
    files = [p for p in rejects if p.exists()]
    if not files:
        return "(SELECT NULL::VARCHAR AS key, NULL::VARCHAR AS reason WHERE false)"
    return f"read_parquet([{', '.join(sql_string(p) for p in files)}])"


# --- the merge --------------------------------------------------------------------------------


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
    files = DeliveryFolder(folder)
    sources = [ledger, files.adds, files.updates]  # src 0, 1 and 2 of the merge plan
    with local_duckdb(folder) as con:
        con.register("batches", confirmed)
        con.register(
            "bounced_keys",
            bounced_keys
            if bounced_keys is not None
            else pa.table({"key": pa.array([], pa.string())}),
        )
        _accepted_and_touched(con, files, rejects, settled=settled)
        _plan_merge(con, ledger)
        count = _write_merged(con, sources, ledger)
        con.unregister("batches")
        con.unregister("bounced_keys")
    release_arrow_memory()
    return count


def _accepted_and_touched(
    con: duckdb.DuckDBPyConnection, files: DeliveryFolder, rejects: Sequence[Path], *, settled: bool
) -> None:
    """Tables ``accepted`` (confirmed adds and updates Klaviyo took: where each comes from)
    and ``touched`` (the keys whose old ledger row goes)."""
    ranges = _kind_ranges()
    con.execute(f"CREATE TEMP TABLE rej AS SELECT DISTINCT key FROM {_rejects_source(rejects)}")
    # src: where a row comes from (an index of sources), pos: its place in that file.
    con.execute(
        f"""
        CREATE TEMP TABLE accepted AS
        SELECT src, pos, key, ident FROM (
            {_confirmed_positions(1, files.adds, ranges["add"])}
            UNION ALL
            {_confirmed_positions(2, files.updates, ranges["update"])}
        ) WHERE key NOT IN (SELECT key FROM rej)
        """
    )
    con.execute(
        f"""
        CREATE TEMP TABLE touched AS
        SELECT key FROM accepted
        UNION SELECT key FROM (
            {_confirmed_rows(files.removes, ranges["remove"])}
        )
        UNION SELECT key FROM {parquet_source(files.removes)}
        WHERE settled IS NOT NULL AND {"true" if settled else "false"}
        """
    )


def _plan_merge(con: duckdb.DuckDBPyConnection, ledger: Path) -> None:
    """Table ``merged``: each row of the new ledger, by where it comes from (``src``, ``pos``)."""
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
            LEFT JOIN {ledger_source(ledger)} o ON o.key = a.key AND o.ident = a.ident
        )
        """
    )


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


def _write_merged(con: duckdb.DuckDBPyConnection, sources: list[Path], ledger: Path) -> int:
    """Write the merged ledger in key order: the plan (``merged``) in key order says which
    file and row each ledger row comes from; the files are read forward as it goes."""
    readers = [_RowSource(path, _LEDGER_IDENTITY) for path in sources]
    cursor = con.cursor()
    count = 0
    try:
        plan = cursor.sql(
            "SELECT src, pos, profile_id, status FROM merged ORDER BY key, src, pos"
        ).to_arrow_reader(_parquet.BATCH_ROWS)
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


# --- outcomes ---------------------------------------------------------------------------------


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
    files = DeliveryFolder(folder)
    with local_duckdb(folder) as con:
        con.register("batches", confirmed)
        con.register("skipped", skipped)
        ranges = _kind_ranges()
        select = f"""
            WITH rej AS (
                SELECT key, min(reason) AS reason FROM {_rejects_source(rejects)} GROUP BY key
            ),
            sent AS (
                {_confirmed_rows(files.adds, ranges["add"])}
                UNION ALL BY NAME
                {_confirmed_rows(files.updates, ranges["update"])}
            )
            SELECT s.key, CASE WHEN rej.key IS NULL THEN 'sent' ELSE 'rejected' END AS outcome,
                   rej.reason, s.job_id
            FROM sent s LEFT JOIN rej ON rej.key = s.key
            UNION ALL
            SELECT key, 'removed', NULL, NULL
            FROM ({_confirmed_rows(files.removes, ranges["remove"])})
            UNION ALL
            SELECT key, 'removed', settled, NULL FROM {parquet_source(files.removes)}
            WHERE settled IS NOT NULL
            UNION ALL
            SELECT CAST(key AS VARCHAR), 'skipped_invalid', CAST(reason AS VARCHAR), NULL
            FROM skipped
            ORDER BY 2, 1
        """
        copy_query(con, select, target)
        rows = con.execute(
            f"SELECT outcome, count(*) FROM {parquet_source(target)} GROUP BY ALL ORDER BY 1"
        ).fetchall()
        con.unregister("batches")
        con.unregister("skipped")
    return {str(k): int(v) for k, v in rows}
