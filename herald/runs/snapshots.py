"""Read recipients snapshots and write recipients logs (Parquet), with a local DuckDB.

Snapshots are files of the run, whatever engine built them, so they are read with an
in-memory DuckDB connection rather than through the customer database's engine.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
from sqlglot import exp

from herald.atomic import atomic_path
from herald.engines.duckdb import connect_utc, sql_identifier, sql_string
from herald.engines.localdb import open_local_duckdb
from herald.exceptions import EngineError

if TYPE_CHECKING:
    from herald.campaigns import Build
    from herald.workspace import Workspace

BATCH_ROWS = 50_000
"""Rows per record batch when a group is streamed: small enough that a batch of wide rows
stays a few tens of MB, large enough that Arrow's kernels run at full speed."""


@dataclass(frozen=True)
class GroupCount:
    sub_audience: str
    group: str
    is_control: bool
    recipients: int


def write_snapshot(ws: Workspace, build: Build, path: Path) -> int:
    """Build a run's recipients snapshot (:meth:`herald.campaigns.Campaigns.write_snapshot`)
    and check that every recipient is once in their sub-audience; a snapshot that is not is
    removed.

    The audience reads each per-customer table's row through a join, so a table listed in
    ``[database] customer_tables`` with two rows for a customer would put that customer twice
    in a sub-audience, in two groups perhaps (a control and a treatment): the split would no
    longer be exact, and the results would count the customer on both sides.

    Raises:
        EngineError: the query failed, or a customer is twice (naming the table at fault).
    """
    rows = ws.campaigns.write_snapshot(build, path)
    with Snapshot(path) as snapshot:
        repeated = snapshot.repeated_sub_audience(ws.catalog.customer_key)
    if repeated is None:
        return rows
    path.unlink(missing_ok=True)
    table = _table_with_repeated_keys(ws)
    culprit = f"table '{table}'" if table else "a table"
    msg = (
        f"campaign '{build.campaign.name}': a customer is twice in sub-audience '{repeated}' "
        f"because {culprit} in [database] customer_tables has more than one row for some "
        "customers; list there only tables with at most one row per customer (or fix the data)"
    )
    raise EngineError(msg)


def _table_with_repeated_keys(ws: Workspace) -> str | None:
    """The first per-customer table with a key on two rows (only on the error path)."""
    catalog = ws.catalog
    for name in sorted(catalog.customer_tables):
        table = catalog.table(name)
        if table is None or table.column(catalog.customer_key) is None:
            continue
        key = exp.column(catalog.customer_key, quoted=True)
        query = (
            exp.select(key)
            .from_(exp.to_table(table.name, quoted=True))
            .where(key.is_(exp.null()).not_())
            .group_by(key.copy())
            .having(exp.GT(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(1)))
            .limit(1)
        )
        if ws.engine.query(query).num_rows:
            return table.name
    return None


class Snapshot:
    """A run's recipients snapshot: one row per recipient, control groups included."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            msg = f"snapshot '{path}' is missing; the run that wrote it may have been cleaned up"
            raise EngineError(msg)
        self.path = path
        self._con = connect_utc()  # filters and counts: streamed, nothing to spill
        self._source = f"read_parquet({sql_string(str(path))})"

    def repeated_sub_audience(self, key: str) -> str | None:
        """A sub-audience in which some customer is twice, or None."""
        row = self._con.execute(
            f"SELECT sub_audience FROM {self._source} "
            f"GROUP BY sub_audience, {sql_identifier(key)} HAVING count(*) > 1 LIMIT 1"
        ).fetchone()
        return None if row is None else str(row[0])

    def counts(self) -> list[GroupCount]:
        rows = self._con.execute(
            f'SELECT sub_audience, "group", is_control, count(*) FROM {self._source} GROUP BY ALL'
        ).fetchall()
        return [GroupCount(*row) for row in rows]

    def group_rows(self, sub_audience: str, group: str, *, limit: int | None = None) -> pa.Table:
        """The rows of one group, in the snapshot's (stable) order."""
        return self._con.sql(self._group_sql(sub_audience, group, limit)).to_arrow_table()

    def group_batches(
        self,
        sub_audience: str,
        group: str,
        *,
        limit: int | None = None,
        batch_rows: int = BATCH_ROWS,
    ) -> pa.RecordBatchReader:
        """The rows of one group as a stream of record batches, in the snapshot's order
        (the order :meth:`group_rows` gives)."""
        return self._con.sql(self._group_sql(sub_audience, group, limit)).to_arrow_reader(
            batch_rows
        )

    def _group_sql(self, sub_audience: str, group: str, limit: int | None) -> str:
        sql = (
            f"SELECT * FROM {self._source} WHERE sub_audience = {sql_string(sub_audience)} "
            f'AND "group" = {sql_string(group)}'
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return sql

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class LogEntry:
    """Which destination a group was sent to (None: a control group, never sent)."""

    sub_audience: str
    group: str
    destination: str | None


def write_recipients_log(
    snapshot: Path,
    target: Path,
    *,
    key: str,
    campaign: str,
    run_id: str,
    delivered_at: dt.datetime,
    launch_date: dt.date | None,
    entries: Sequence[LogEntry],
) -> int:
    """Amperity's Campaign_Recipients for one run: a row per recipient and destination.

    Control recipients get one row with no destination, so results can be measured against them.
    """
    con, spill = open_local_duckdb(target.parent)
    try:
        routes = pa.table(
            {
                "sub_audience": [e.sub_audience for e in entries],
                "group": [e.group for e in entries],
                "destination": pa.array([e.destination for e in entries], pa.string()),
            }
        )
        con.register("routes", routes)
        launch = f"DATE {sql_string(launch_date.isoformat())}" if launch_date else "NULL::DATE"
        moment = delivered_at.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
        select = f"""
            SELECT {sql_string(run_id)} AS run_id, {sql_string(campaign)} AS campaign,
                   s.sub_audience, s."group", s.is_control, r.destination,
                   TIMESTAMP {sql_string(moment)} AS delivered_at, {launch} AS launch_date,
                   s."{key}" AS "{key}"
            FROM read_parquet({sql_string(str(snapshot))}) s
            LEFT JOIN routes r ON r.sub_audience = s.sub_audience AND r."group" = s."group"
            ORDER BY s.sub_audience, s."group", r.destination
        """
        with atomic_path(target) as partial:
            rows = con.execute(
                f"COPY ({select}) TO {sql_string(str(partial))} (FORMAT parquet)"
            ).fetchall()
        return int(rows[0][0])
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


def read_parquet_files(paths: Sequence[Path]) -> pa.Table:
    """Parquet files (recipients logs, outcomes) read as one table."""
    con = connect_utc()
    try:
        files = ", ".join(sql_string(str(p)) for p in paths)
        return con.sql(f"SELECT * FROM read_parquet([{files}])").to_arrow_table()
    finally:
        con.close()
