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

import pyarrow as pa

from herald.atomic import atomic_path
from herald.engines.duckdb import connect_utc, sql_string
from herald.engines.localdb import open_local_duckdb
from herald.exceptions import EngineError

BATCH_ROWS = 50_000
"""Rows per record batch when a group is streamed: small enough that a batch of wide rows
stays a few tens of MB, large enough that Arrow's kernels run at full speed."""


@dataclass(frozen=True)
class GroupCount:
    sub_audience: str
    group: str
    is_control: bool
    recipients: int


class Snapshot:
    """A run's recipients snapshot: one row per recipient, control groups included."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            msg = f"snapshot '{path}' is missing; the run that wrote it may have been cleaned up"
            raise EngineError(msg)
        self.path = path
        self._con = connect_utc()  # filters and counts: streamed, nothing to spill
        self._source = f"read_parquet({sql_string(str(path))})"

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
