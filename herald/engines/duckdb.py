"""The default engine: DuckDB, opened read-only so no segment can change the data.

The engine's connection cannot reach the file system or the network either
(``enable_external_access = false``, configuration locked): SQL segments run on it, and no
parser check is trusted alone to keep them inside the customer database.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from herald.atomic import atomic_path
from herald.core.catalog import AttributeType, Catalog
from herald.engines.base import Engine
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


_WRITE_BATCH = 122_880  # DuckDB's row-group size: the writer gets whole row groups


def sql_identifier(name: str) -> str:
    """``name`` as a quoted DuckDB identifier, for SQL Herald writes around its own files.

    >>> sql_identifier("sub_audience")
    '"sub_audience"'
    """
    return exp.to_identifier(name, quoted=True).sql("duckdb")


def sql_string(value: str | os.PathLike[str]) -> str:
    """``value`` (a path, a name) as a DuckDB string literal.

    >>> sql_string("O'Brien.parquet")
    "'O''Brien.parquet'"
    """
    return exp.Literal.string(str(value)).sql("duckdb")


def connect_utc(
    database: str = ":memory:",
    *,
    read_only: bool = False,
    config: dict[str, Any] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB connection whose time zone is UTC, whatever ``TZ`` says.

    Every connection Herald opens goes through here: DuckDB's session time zone follows the
    machine's, and would cut ``TIMESTAMPTZ`` values to local days (DESIGN §1.2 says UTC).
    """
    con = duckdb.connect(database, read_only=read_only, config=config or {})
    try:
        con.execute("SET GLOBAL TimeZone = 'UTC'")
    except BaseException:
        con.close()
        raise
    return con


def _lock_down(con: duckdb.DuckDBPyConnection) -> None:
    """UTC, no file system or network access, and no way to change either afterwards.

    Raises:
        EngineError: if the database is already open in this process with other settings.
    """
    [(locked,)] = con.execute("SELECT current_setting('lock_configuration')").fetchall()
    if not locked:
        con.execute("SET GLOBAL TimeZone = 'UTC'")
        # Freed memory goes back to the system in the background: what a million-row
        # audience query needed would otherwise stay resident for the rest of the process.
        con.execute("SET allocator_background_threads = true")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    # A second engine on the same file in this process shares the first one's (locked)
    # database instance; anything else that locked it is not trusted.
    [(external, zone)] = con.execute(
        "SELECT current_setting('enable_external_access'), current_setting('TimeZone')"
    ).fetchall()
    if external or zone not in ("UTC", "Etc/UTC"):
        msg = (
            "the customer database is already open in this process with other settings; "
            "close the other connection first"
        )
        raise EngineError(msg)


def _message(error: duckdb.Error) -> str:
    """DuckDB's message on one line, without the excerpt of the SQL it appends.

    A conversion error quotes the value that failed, which is a customer's data (an email,
    a name): the value is left out, the column the message names is kept.
    """
    lines = []
    for line in str(error).splitlines():
        if line.startswith("LINE "):
            break
        if line.strip():
            lines.append(line.strip())
    text = " ".join(lines)
    if isinstance(error, duckdb.ConversionException):
        text = re.sub(r"'[^']*'", "'…'", text)
    return text


def _open(
    path: Path | None, *, read_only: bool, config: dict[str, Any]
) -> duckdb.DuckDBPyConnection:
    """The database file (or an in-memory database for lake tables only)."""
    if path is not None and not path.exists():
        msg = (
            f"the database file '{path}' does not exist; create it with "
            "`herald demo generate` or set [engine] database in herald.toml"
        )
        raise ConfigError(msg)
    try:
        return duckdb.connect(str(path or ":memory:"), read_only=read_only, config=config)
    except duckdb.Error as error:
        msg = f"cannot open the database '{path}': {_message(error)}"
        raise EngineError(msg) from None


def _register_lake(con: duckdb.DuckDBPyConnection, tables: Mapping[str, str]) -> list[str]:
    """Each lake table (Parquet files or a folder of them) as a view of an Arrow dataset.

    The locked connection may not open files itself; the datasets read them (the local file
    system, or a URI of one PyArrow knows: ``s3://``, ``gs://``, ``hdfs://``), with
    projection and filter pushdown.
    """
    import pyarrow.dataset as ds

    for name, location in tables.items():
        try:
            con.register(name, ds.dataset(location, format="parquet"))
        except (pa.ArrowException, OSError, ValueError) as error:
            msg = (
                f"cannot read the table {name} at '{location}': {error}; fix its location "
                "in [engine.tables] of herald.toml"
            )
            raise ConfigError(msg) from None
    return list(tables)


class DuckDBEngine(Engine):
    """DuckDB over one database file.

    Args:
        database: path of the ``.duckdb`` file; None for lake tables only (``tables``).
        read_only: open without write access (the default: segments only read).
        threads: worker threads; DuckDB's default (all cores) when None.
        memory_limit: such as ``"4GB"``; DuckDB's default when None.
        tables: table name → a lake location (Parquet), beside or instead of the file's.
    """

    name = "duckdb"
    dialect = "duckdb"

    def __init__(
        self,
        database: str | os.PathLike[str] | None,
        *,
        read_only: bool = True,
        threads: int | None = None,
        memory_limit: str | None = None,
        tables: Mapping[str, str] | None = None,
    ) -> None:
        config: dict[str, Any] = {}
        if threads:
            config["threads"] = threads
        if memory_limit:
            config["memory_limit"] = memory_limit
        path = None if database is None else Path(database)
        self._con = _open(path, read_only=read_only and path is not None, config=config)
        try:
            self._lake = _register_lake(self._con, tables or {})
            _lock_down(self._con)
        except BaseException:
            self._con.close()
            raise
        self.path = path

    def catalog(self, **roles: Any) -> Catalog:
        # Lake tables are temporary views (schema ``main`` of catalog ``temp``).
        rows = self._con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
        ).fetchall()
        return Catalog.from_columns(((t, c, attribute_type(d), d) for t, c, d in rows), **roles)

    def query(self, expression: exp.Expression | str) -> pa.Table:
        try:
            return self._con.sql(self._sql(expression)).to_arrow_table()
        except duckdb.Error as error:
            msg = f"DuckDB could not run the query: {_message(error)}"
            raise EngineError(msg) from None

    def query_files(
        self, expression: exp.Expression, files: Mapping[str, Sequence[Path]]
    ) -> pa.Table:
        # The locked connection may not open files: Arrow datasets over them are registered
        # instead, which DuckDB scans with projection and filter pushdown, streaming.
        import pyarrow.dataset as ds

        names = list(files)
        try:
            for name in names:
                self._con.register(name, ds.dataset([str(p) for p in files[name]]))
            return self._con.sql(self.render(expression)).to_arrow_table()
        except (duckdb.Error, pa.ArrowException, OSError) as error:
            text = _message(error) if isinstance(error, duckdb.Error) else str(error)
            msg = f"DuckDB could not run the query: {text}"
            raise EngineError(msg) from None
        finally:
            for name in names:
                self._con.unregister(name)

    def bind(self, query: exp.Query) -> pa.Schema:
        sql = self.render(exp.select("*").from_(query.subquery("bound")).limit(0))
        try:
            return self._con.sql(sql).to_arrow_table().schema
        except duckdb.Error as error:
            raise EngineError(_message(error)) from None

    def batches(
        self, expression: exp.Expression | str, batch_size: int = 100_000
    ) -> Iterator[pa.RecordBatch]:
        try:
            yield from self._con.sql(self._sql(expression)).to_arrow_reader(batch_size)
        except duckdb.Error as error:
            msg = f"DuckDB failed while streaming the result: {_message(error)}"
            raise EngineError(msg) from None

    def _sql(self, expression: exp.Expression | str) -> str:
        return expression if isinstance(expression, str) else self.render(expression)

    def write_parquet(self, expression: exp.Expression, path: str | os.PathLike[str]) -> int:
        target = Path(path)
        with atomic_path(target) as partial:  # readers never see half a file
            literal = exp.Literal.string(str(partial)).sql(self.dialect)
            # The locked connection may not write files: it streams the result to a private
            # in-memory connection, which sees only that stream and writes the file.
            try:
                reader = self._con.sql(self.render(expression)).to_arrow_reader(_WRITE_BATCH)
                with connect_utc() as writer:
                    writer.register("result", reader)
                    options = "FORMAT parquet, COMPRESSION zstd"
                    sql = f"COPY (SELECT * FROM result) TO {literal} ({options})"
                    rows = writer.execute(sql).fetchall()
            except duckdb.Error as error:
                msg = f"DuckDB could not write {target.name}: {_message(error)}"
                raise EngineError(msg) from None
        return int(rows[0][0]) if rows else 0

    def data_version(self) -> str | None:
        """The file's resolved path, modification time and size, and its write-ahead log's
        (a write to the database changes one of them); None with lake tables, which change
        without Herald seeing it."""
        if self._lake or self.path is None:
            return None
        parts = [str(self.path.resolve())]
        for file in (self.path, self.path.with_name(self.path.name + ".wal")):
            try:
                stat = file.stat()
            except FileNotFoundError:
                continue
            parts.append(f"{stat.st_mtime_ns}:{stat.st_size}")
        return "|".join(parts)

    def close(self) -> None:
        self._con.close()
