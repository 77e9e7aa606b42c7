"""A run's local work over its own files: in-memory DuckDB connections, a Parquet writer that
encodes in the background, and a CSV writer.

A run prepares and diffs a million profiles on a machine it may share, and its peak memory is
part of what it costs. Each connection therefore gets a memory limit and spills to a private
folder beside the run's files (DuckDB's default would be ``.tmp`` in the current directory, a
folder other processes may use too), and DuckDB's allocator returns freed memory to the
system in the background, so one query's peak does not stay resident for the next step.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from sqlglot import exp

from herald.atomic import atomic_path
from herald.engines.duckdb import connect_utc, sql_identifier

__all__ = [
    "MEMORY_LIMIT",
    "BackgroundWriter",
    "local_duckdb",
    "open_local_duckdb",
    "release_arrow_memory",
    "write_csv",
]

MEMORY_LIMIT = "384MB"
"""What one local connection may hold before it spills. A million recipients' diff or prepared
records fit (wide rows, profile JSON, are never sorted); less would spill and slow them."""


def open_local_duckdb(
    spill_parent: Path | None = None, *, memory_limit: str = MEMORY_LIMIT
) -> tuple[duckdb.DuckDBPyConnection, Path]:
    """A new in-memory connection and its private spill folder (remove it after closing).

    Args:
        spill_parent: where the spill folder goes (the system's temporary folder when None).
        memory_limit: DuckDB's ``memory_limit``.
    """
    if spill_parent is not None:
        spill_parent.mkdir(parents=True, exist_ok=True)
    spill = Path(tempfile.mkdtemp(prefix=".duckdb-spill-", dir=spill_parent))
    config: dict[str, str | bool | int | float | list[str]] = {
        "memory_limit": memory_limit,
        "temp_directory": str(spill),
        "allocator_background_threads": True,
    }
    try:
        return connect_utc(config=config), spill
    except BaseException:
        shutil.rmtree(spill, ignore_errors=True)
        raise


@contextmanager
def local_duckdb(
    spill_parent: Path | None = None, *, memory_limit: str = MEMORY_LIMIT
) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory connection for local work, closed (and its spill folder removed) after."""
    con, spill = open_local_duckdb(spill_parent, memory_limit=memory_limit)
    try:
        yield con
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


def release_arrow_memory() -> None:
    """Give the memory Arrow's pool keeps for reuse back to the system.

    The pool keeps what a step freed (over a hundred MB after a million profiles), which the
    next step, mostly DuckDB's, would then use on top of it.
    """
    pa.default_memory_pool().release_unused()


class BackgroundWriter:
    """A Parquet writer for wide files (profiles, ledgers), encoding in a thread of its own.

    Encoding and compressing a batch releases the GIL, so it overlaps with computing the next
    batch (two cores do the work of one file). At most two batches wait, so memory stays
    bounded. Dictionaries are off (keys, emails and profiles are unique: a dictionary would be
    built and thrown away), and only ``row`` keeps statistics (readers prune on it).
    """

    _WAITING = 2

    def __init__(
        self,
        path: Path,
        schema: pa.Schema,
        finish: Callable[[pa.Table], pa.Table] | None = None,
        *,
        compression: str = "snappy",
    ) -> None:
        """``finish``, when given, completes each table in the writer's thread first."""
        statistics = ["row"] if "row" in schema.names else False
        self._writer = pq.ParquetWriter(
            path,
            schema,
            use_dictionary=False,
            write_statistics=statistics,
            compression=compression,
        )
        self._finish = finish
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet")
        self._pending: deque[Future[None]] = deque()

    def write(self, table: pa.Table) -> None:
        while len(self._pending) >= self._WAITING:
            self._pending.popleft().result()
        self._pending.append(self._thread.submit(self._write, table))

    def _write(self, table: pa.Table) -> None:
        self._writer.write_table(table if self._finish is None else self._finish(table))

    def close(self) -> None:
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._thread.shutdown(wait=True, cancel_futures=True)
            self._writer.close()

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_csv(records: pa.Table | pa.RecordBatchReader, path: Path, columns: Sequence[str]) -> int:
    """Write ``columns`` of ``records`` as CSV with exactly those header names; return rows.

    The file is written under a temporary name and renamed when complete, so a reader (or an
    SFTP poller) never sees half of it. A stream of record batches is written as it is read.
    """
    con = connect_utc()
    try:
        con.register("records", records)
        select = ", ".join(sql_identifier(c) for c in columns)
        with atomic_path(path) as partial:
            target = exp.Literal.string(str(partial)).sql("duckdb")
            [(rows,)] = con.execute(
                f"COPY (SELECT {select} FROM records) TO {target} (HEADER, DELIMITER ',')"
            ).fetchall()
    finally:
        con.close()
    return int(rows)
