"""What the desired file, the diff and the ledger share: the identity of a record, and how
their Parquet files are read and written with DuckDB."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from herald.atomic import atomic_path
from herald.engines.duckdb import sql_string

BATCH_ROWS = 50_000
"""Rows per batch (and row group) streamed through Python; read at call time, so a test can
make it small to cross many batch boundaries."""

IDENTITY = [
    ("key", pa.string()),
    ("email", pa.string()),
    ("phone_number", pa.string()),
    ("external_id", pa.string()),
    ("ident", pa.string()),
    ("attr_hash", pa.string()),
]
"""A record's key, identifiers, matching identifier and profile hash: in the ledger and in the
planned adds and updates alike."""

# The identifier Klaviyo matches a bulk-imported profile on first (email, then phone, then
# external id), tagged so that values of different kinds never compare equal.
_IDENT = "coalesce('e:' || {t}email, 'p:' || {t}phone_number, 'x:' || {t}external_id)"


def ident(alias: str = "") -> str:
    """The SQL of a record's matching identifier (``ident``), over a table ``alias``."""
    return _IDENT.format(t=f"{alias}." if alias else "")


def parquet_source(path: Path) -> str:
    """``read_parquet('…')`` for ``path``, quoted safely, for DuckDB SQL."""
    return f"read_parquet({sql_string(path)})"


def copy_query(con: duckdb.DuckDBPyConnection, select: str, target: Path) -> int:
    """Write a query to Parquet atomically; return its row count."""
    with atomic_path(target) as partial:
        rows = con.execute(f"COPY ({select}) TO {sql_string(partial)} (FORMAT parquet)").fetchall()
    return int(rows[0][0]) if rows else 0


def row_groups(path: Path, columns: Sequence[str]) -> Iterator[pa.Table]:
    """A Parquet file a row group at a time, in order (``iter_batches`` would buffer the
    whole file first)."""
    source = pq.ParquetFile(path, pre_buffer=False)
    for i in range(source.metadata.num_row_groups):
        yield source.read_row_group(i, columns=list(columns))
