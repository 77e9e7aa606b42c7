"""The demo database as a lake: its tables as Parquet folders, for the Spark engine.

``herald demo --engine spark`` generates its DuckDB database as always, then exports every
table to ``<folder>/<table>/part-0.parquet``, which Spark (and DuckDB) read as lake tables.
Whatever the demo later writes into the database (churned customers, simulated orders) is
exported again, table by table, so that the lake holds what the database holds.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from herald.atomic import atomic_path
from herald.engines.duckdb import connect_utc, sql_identifier, sql_string

__all__ = ["PART", "export_tables"]

PART = "part-0.parquet"
"""The one file of each table's folder."""


def export_tables(
    database: str | os.PathLike[str],
    folder: str | os.PathLike[str],
    tables: Iterable[str] | None = None,
) -> dict[str, Path]:
    """Write tables of a DuckDB database as Parquet, one folder per table, replacing what
    each held.

    The database must not be open for writing elsewhere in this process. Each file is
    written under a hidden name and renamed into place, so a reader (Spark skips hidden
    files) sees the old table or the new one, never half of one.

    Args:
        database: the DuckDB file.
        folder: the lake's folder; each table goes to ``folder/<table>/part-0.parquet``.
        tables: the tables to write (all of the database's when None).

    Returns:
        Table name → its folder.
    """
    written: dict[str, Path] = {}
    with connect_utc(str(database), read_only=True) as con:
        names = (
            list(tables)
            if tables is not None
            else [row[0] for row in con.execute("SHOW TABLES").fetchall()]
        )
        for name in names:
            where = Path(folder) / name
            with atomic_path(where / PART) as partial:
                con.execute(
                    f"COPY {sql_identifier(name)} TO {sql_string(partial)} "
                    "(FORMAT parquet, COMPRESSION zstd)"
                )
            written[name] = where
    return written
