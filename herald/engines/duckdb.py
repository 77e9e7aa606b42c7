"""The default engine: DuckDB, opened read-only so no segment can change the data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import pyarrow as pa
from sqlglot import exp

from herald.atomic import atomic_path
from herald.core.catalog import AttributeType, Catalog
from herald.engines.base import Capabilities, Engine
from herald.exceptions import ConfigError, EngineError


def attribute_type(duckdb_type: str) -> AttributeType | None:
    """Map a DuckDB column type to a segment attribute type (None: not filterable).

    >>> (
    ...     attribute_type("DECIMAL(38,2)"),
    ...     attribute_type("TIMESTAMP WITH TIME ZONE"),
    ...     attribute_type("VARCHAR[]"),
    ... )
    ('decimal', 'datetime', None)
    """
    t = duckdb_type.upper()
    if t.endswith("[]") or t.startswith(("STRUCT", "MAP", "UNION", "LIST")):
        return None
    if t == "BOOLEAN":
        return "boolean"
    if t == "DATE":
        return "date"
    if t.startswith("TIMESTAMP"):
        return "datetime"
    if t.startswith(("DECIMAL", "NUMERIC")) or t in ("DOUBLE", "FLOAT", "REAL"):
        return "decimal"
    if t in (
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "HUGEINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
        "UHUGEINT",
    ):
        return "integer"
    if t in ("VARCHAR", "UUID") or t.startswith("ENUM"):
        return "string"
    return None


class DuckDBEngine(Engine):
    """DuckDB over one database file.

    Args:
        database: path of the ``.duckdb`` file.
        read_only: open without write access (the default: segments only read).
        threads: worker threads; DuckDB's default (all cores) when None.
        memory_limit: such as ``"4GB"``; DuckDB's default when None.
    """

    name = "duckdb"
    dialect = "duckdb"
    capabilities: ClassVar[Capabilities] = Capabilities(read_only=True)

    def __init__(
        self,
        database: str | os.PathLike[str],
        *,
        read_only: bool = True,
        threads: int | None = None,
        memory_limit: str | None = None,
    ) -> None:
        path = Path(database)
        if not path.exists():
            msg = (
                f"the database file '{path}' does not exist; create it with "
                "`herald demo generate` or set [engine] database in herald.toml"
            )
            raise ConfigError(msg)
        config: dict[str, Any] = {}
        if threads:
            config["threads"] = threads
        if memory_limit:
            config["memory_limit"] = memory_limit
        try:
            self._con = duckdb.connect(str(path), read_only=read_only, config=config)
        except duckdb.Error as error:
            msg = f"cannot open the database '{path}': {error}"
            raise EngineError(msg) from None
        # Freed memory goes back to the system in the background: what a million-row audience
        # query needed would otherwise stay resident for the rest of the process. Set after
        # connecting, so other connections to the file may still open it with default options.
        self._con.execute("SET allocator_background_threads = true")
        self.path = path

    def catalog(self, **roles: Any) -> Catalog:
        rows = self._con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
        ).fetchall()
        return Catalog.from_columns(((t, c, attribute_type(d), d) for t, c, d in rows), **roles)

    def query(self, expression: exp.Expression | str) -> pa.Table:
        return self._relation(expression).to_arrow_table()

    def batches(
        self, expression: exp.Expression | str, batch_size: int = 100_000
    ) -> Iterator[pa.RecordBatch]:
        try:
            reader = self._relation(expression).to_arrow_reader(batch_size)
            yield from reader
        except duckdb.Error as error:
            msg = f"DuckDB failed while streaming the result: {str(error).splitlines()[0]}"
            raise EngineError(msg) from None

    def _relation(self, expression: exp.Expression | str) -> duckdb.DuckDBPyRelation:
        sql = expression if isinstance(expression, str) else self.render(expression)
        try:
            return self._con.sql(sql)
        except duckdb.Error as error:
            msg = f"DuckDB could not run the query: {str(error).splitlines()[0]}"
            raise EngineError(msg) from None

    def write_parquet(self, expression: exp.Expression, path: str | os.PathLike[str]) -> int:
        target = Path(path)
        with atomic_path(target) as partial:  # readers never see half a file
            literal = exp.Literal.string(str(partial)).sql(self.dialect)
            options = "FORMAT parquet, COMPRESSION zstd"
            sql = f"COPY ({self.render(expression)}) TO {literal} ({options})"
            try:
                rows = self._con.execute(sql).fetchall()
            except duckdb.Error as error:
                msg = f"DuckDB could not write {target.name}: {str(error).splitlines()[0]}"
                raise EngineError(msg) from None
        return int(rows[0][0]) if rows else 0

    def close(self) -> None:
        self._con.close()
