"""A group's records for one destination, prepared a batch at a time (DESIGN §1.3).

:func:`herald.core.prepare.prepare_records` holds a whole group in memory, and a million
recipients cost a few hundred MB of Arrow arrays there. A run streams instead: the group's rows
come from the snapshot in record batches, each batch is normalized on its own
(:func:`~herald.core.prepare.normalize_rows`) and written to a scratch Parquet file (on disk,
not in memory). Only duplicate emails need every row: a local DuckDB connection finds them in
SQL over that file once all rows are in (and drops the customers whose email an earlier group
of the campaign keeps, given as a file of keys by ``herald.runs.claims``). The records then
stream out of it, in the snapshot's order (files) or in key order (a Klaviyo list's
``desired.parquet``).

The records, the counts by reason and the dropped customers are exactly those of
``prepare_records`` for the same rows: the same functions normalize and flag each row, and the
winner of an email is the same (the smallest key, NULL last, then the first row).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from herald.core.campaigns.model import AttributeMapping
from herald.core.destinations import DestinationKind
from herald.core.prepare import (
    DUPLICATE_EMAIL,
    DUPLICATE_EMAIL_IN_CAMPAIGN,
    RecordPlan,
    empty_dropped,
    normalize_rows,
    plan_records,
    record_columns,
)
from herald.engines.duckdb import sql_identifier, sql_string
from herald.engines.localdb import BackgroundWriter, open_local_duckdb, release_arrow_memory
from herald.runs.snapshots import BATCH_ROWS

__all__ = ["PreparedGroup", "drops_by_reason", "prepare_group", "reason_condition"]

# The file of normalized rows names its columns by position, so no field name can clash:
# k (the key as it came), v<i> (field i's values, unless they are the key's: see _stored),
# keep (no row reason removes it), r<i> (the row has reason i of the plan). The view over it
# adds pos (the row's place in the group), dup (a duplicate email in the group) and lost (an
# earlier group of the campaign keeps the email).
_ROWS = "rows"
_FILE = "rows.parquet"
_SENT = "keep AND NOT dup AND NOT lost"


class PreparedGroup:
    """The prepared records of one group, kept in a scratch Parquet file (queried with a local
    DuckDB connection) until closed.

    Attributes:
        plan: how the records were made.
        drops: reason → count, as :attr:`herald.core.prepare.Prepared.drops`.
        dropped: one row per (customer, reason), as :attr:`~herald.core.prepare.Prepared.dropped`.
        num_rows: how many records there are.
    """

    def __init__(
        self, con: duckdb.DuckDBPyConnection, spill: Path, plan: RecordPlan, schema: pa.Schema
    ) -> None:
        self._con, self._spill = con, spill
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self.plan = plan
        self.schema = schema
        self._key_type = schema.field(plan.key).type
        self.num_rows = self._count(_SENT)
        self.drops = self._drops()
        self.dropped = self._dropped()

    @property
    def key(self) -> str:
        return self.plan.key

    @property
    def fields(self) -> tuple[str, ...]:
        return self.plan.fields

    def batches(
        self, *, order: str = "snapshot", batch_rows: int = BATCH_ROWS
    ) -> pa.RecordBatchReader:
        """The records as a stream: one column per field, then the key column unless a field is
        it (the columns of ``Prepared.records``).

        Args:
            order: ``"snapshot"``, the order of the group's rows (what files receive), or
                ``"key"``, by the key's text (what ``desired.parquet`` is written in).
            batch_rows: rows per batch.
        """
        if order not in ("snapshot", "key"):
            msg = f"order must be 'snapshot' or 'key', not {order!r}"
            raise ValueError(msg)
        columns = [
            f"{_stored(self.plan, i)} AS {sql_identifier(f)}" for i, f in enumerate(self.fields)
        ]
        if self.key not in self.fields:
            columns.append(f"k AS {sql_identifier(self.key)}")
        sort = "CAST(k AS VARCHAR) NULLS LAST, pos" if order == "key" else "pos"
        sql = f"SELECT {', '.join(columns)} FROM {_ROWS} WHERE {_SENT} ORDER BY {sort}"
        # A stream of its own: the group's connection stays free while it is read.
        cursor = self._con.cursor()
        self._cursors.append(cursor)
        reader = cursor.sql(sql).to_arrow_reader(batch_rows)
        if reader.schema.equals(self.schema):
            return reader
        batches = (_conformed(batch, self.schema) for batch in reader)
        return pa.RecordBatchReader.from_batches(self.schema, batches)

    def sent_keys(self, *, batch_rows: int = BATCH_ROWS) -> pa.RecordBatchReader:
        """The records' keys alone, as text, in the snapshot's order (one column, ``key``):
        what a delivery of the whole group records as sent, without reading the fields."""
        sql = f"SELECT CAST(k AS VARCHAR) AS key FROM {_ROWS} WHERE {_SENT} ORDER BY pos"
        cursor = self._con.cursor()
        self._cursors.append(cursor)
        return cursor.sql(sql).to_arrow_reader(batch_rows)

    def table(self) -> pa.Table:
        """The records as one table (for small groups: samples, tests)."""
        return self.batches().read_all()

    def _condition(self, reason_ix: int) -> str:
        return reason_condition(self.plan, reason_ix, _SENT)

    def _count(self, condition: str) -> int:
        [(count,)] = self._con.execute(f"SELECT count(*) FROM {_ROWS} WHERE {condition}").fetchall()
        return int(count)

    def _drops(self) -> dict[str, int]:
        if not self.plan.reasons:
            return {}
        counts = ", ".join(
            f"count(*) FILTER (WHERE {self._condition(i)})" for i in range(len(self.plan.reasons))
        )
        [row] = self._con.execute(f"SELECT {counts} FROM {_ROWS}").fetchall()
        return drops_by_reason(self.plan, row)

    def _dropped(self) -> pa.Table:
        if not self.plan.reasons:
            return empty_dropped(self.key, self._key_type)
        key = sql_identifier(self.key)
        parts = [
            f"SELECT k AS {key}, {sql_string(reason)} AS reason, "
            f"{str(skipped).lower()} AS skipped, {i} AS reason_ix, pos "
            f"FROM {_ROWS} WHERE {self._condition(i)}"
            for i, (reason, skipped) in enumerate(self.plan.reasons)
        ]
        sql = (
            f"SELECT {key}, reason, skipped FROM ({' UNION ALL '.join(parts)}) "
            "ORDER BY reason_ix, pos"
        )
        table = self._con.sql(sql).to_arrow_table()
        # Same types as prepare_records: the key as it came, reason text, skipped flag.
        schema = pa.schema(
            [(self.key, self._key_type), ("reason", pa.string()), ("skipped", pa.bool_())]
        )
        return table.cast(schema)

    def close(self) -> None:
        for cursor in self._cursors:
            cursor.close()
        self._con.close()
        shutil.rmtree(self._spill, ignore_errors=True)
        release_arrow_memory()

    def __enter__(self) -> PreparedGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def reason_condition(plan: RecordPlan, reason_ix: int, sent: str) -> str:
    """SQL of the rows counted for reason ``reason_ix`` of the plan, over rows with ``r<i>``
    (row reasons), ``dup`` and ``lost``: every row with a reason that removes the record; a
    blanked value only in a record that is ``sent`` (a SQL condition)."""
    reason, skipped = plan.reasons[reason_ix]
    has = {DUPLICATE_EMAIL: "dup", DUPLICATE_EMAIL_IN_CAMPAIGN: "lost"}.get(reason, f"r{reason_ix}")
    return has if skipped else f"({has} AND {sent})"


def drops_by_reason(plan: RecordPlan, counts: Sequence[int]) -> dict[str, int]:
    """reason → count, as ``Prepared.drops``, from a count per reason of the plan (in its
    order; a reason listed twice is summed)."""
    found: dict[str, int] = {}
    for (reason, _), count in zip(plan.reasons, counts, strict=True):
        if count:
            found[reason] = found.get(reason, 0) + int(count)
    return dict(sorted(found.items()))


def prepare_group(
    rows: pa.RecordBatchReader,
    attributes: Sequence[AttributeMapping],
    *,
    key: str = "amperity_id",
    kind: DestinationKind,
    default_region: str = "US",
    dedupe: bool | None = None,
    spill_parent: Path | None = None,
    taken: Path | None = None,
) -> PreparedGroup:
    """Prepare a group's records from a stream of its rows (see the module docstring).

    Args:
        rows: the group's rows, in the snapshot's order.
        attributes, key, kind, default_region, dedupe: as for
            :func:`herald.core.prepare.prepare_records`.
        spill_parent: where the local DuckDB spills when the rows outgrow its memory limit.
        taken: a Parquet file whose column ``key`` holds the customers whose email an earlier
            group of the campaign keeps (``taken`` of ``prepare_records``, as a file).

    Returns:
        The prepared group; close it (or use it as a context manager) to delete its file.

    Raises:
        ValueError: as ``prepare_records`` does.
    """
    plan = plan_records(
        rows.schema.names,
        attributes,
        key=key,
        kind=kind,
        default_region=default_region,
        dedupe=dedupe,
        in_campaign=taken is not None,
    )
    con, spill = open_local_duckdb(spill_parent)
    try:
        _write_rows(spill / _FILE, rows, plan)
        _find_duplicates(con, spill / _FILE, plan, taken)
        return PreparedGroup(con, spill, plan, _records_schema(rows.schema, plan))
    except BaseException:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
        raise


def _records_schema(rows: pa.Schema, plan: RecordPlan) -> pa.Schema:
    """The records' columns and types, as ``prepare_records`` gives them for such rows."""
    normalized = normalize_rows(rows.empty_table(), plan)
    return pa.table(record_columns(plan, normalized.values, normalized.keys)).schema


def _conformed(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """A batch back in the records' own types where DuckDB returned others (a time zone's
    name, a large string): the same values, typed as ``prepare_records`` types them."""
    columns = []
    for column, field in zip(batch.columns, schema, strict=True):
        if not column.type.equals(field.type):
            with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
                column = column.cast(field.type)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=schema.names)


def _normalized_batch(rows: pa.Table | pa.RecordBatch, plan: RecordPlan) -> pa.Table:
    """One batch as rows of the file: normalized values and flags."""
    normalized = normalize_rows(rows, plan)
    columns: dict[str, pa.Array | pa.ChunkedArray] = {"k": normalized.keys}
    for i, field in enumerate(plan.fields):
        if _stored(plan, i) != "k":
            columns[f"v{i}"] = normalized.values[field]
    columns["keep"] = pa.array(normalized.keep)
    for i, (reason, _) in enumerate(plan.reasons):
        if reason not in (DUPLICATE_EMAIL, DUPLICATE_EMAIL_IN_CAMPAIGN):  # found in SQL
            columns[f"r{i}"] = pa.array(normalized.flags[reason])
    return pa.table(columns)


def _stored(plan: RecordPlan, field_ix: int) -> str:
    """The column holding field ``field_ix``: ``k`` for the key as it came (an external id
    usually is the key: stored once, the file and the sort by key are narrower)."""
    mapping = plan.attributes[field_ix]
    as_is = mapping.field not in (plan.email_field, plan.phone_field)
    return "k" if as_is and mapping.source == plan.key else f"v{field_ix}"


def _write_rows(path: Path, rows: pa.RecordBatchReader, plan: RecordPlan) -> None:
    """Normalize the rows a batch at a time into ``path``; the file is encoded in the
    background while the next batch is normalized. Uncompressed: it is read back once or
    twice and then deleted."""
    # The file's types come from an empty batch, so a group without rows has them too.
    schema = _normalized_batch(rows.schema.empty_table(), plan).schema
    with BackgroundWriter(path, schema, compression="none") as writer:
        for batch in rows:
            if batch.num_rows:
                writer.write(_normalized_batch(batch, plan))


def _find_duplicates(
    con: duckdb.DuckDBPyConnection, path: Path, plan: RecordPlan, taken: Path | None
) -> None:
    """The view of the rows (``rows``), with ``lost`` for those whose key is in ``taken``
    (and who have an email), and ``dup`` for those whose email another row of the group that
    is not lost, with a smaller key (then an earlier row), has."""
    source = f"read_parquet({sql_string(str(path))}, file_row_number = true)"
    email = None
    if plan.email_field in plan.fields:
        email = _stored(plan, plan.fields.index(plan.email_field))
    if email is not None and taken is not None:
        keys = f"SELECT {sql_identifier(plan.key)} FROM read_parquet({sql_string(str(taken))})"
        con.execute(
            f"""
            CREATE TABLE lost AS SELECT file_row_number AS pos FROM {source}
            WHERE keep AND {email} IS NOT NULL AND k IN ({keys})
            """
        )
    else:
        con.execute("CREATE TABLE lost (pos BIGINT)")
    if plan.dedupes_emails:
        con.execute(
            f"""
            CREATE TABLE dups AS SELECT file_row_number AS pos FROM {source}
            WHERE keep AND {email} IS NOT NULL AND file_row_number NOT IN (SELECT pos FROM lost)
            QUALIFY row_number() OVER (
                PARTITION BY {email} ORDER BY k ASC NULLS LAST, file_row_number
            ) > 1
            """
        )
    else:
        con.execute("CREATE TABLE dups (pos BIGINT)")
    # Not temporary: the record streams read it through cursors of their own.
    con.execute(
        f"""
        CREATE VIEW {_ROWS} AS
        SELECT r.* EXCLUDE (file_row_number), r.file_row_number AS pos,
               d.pos IS NOT NULL AS dup, l.pos IS NOT NULL AS lost
        FROM {source} r
        LEFT JOIN dups d ON d.pos = r.file_row_number
        LEFT JOIN lost l ON l.pos = r.file_row_number
        """
    )
