"""The distributed engine: the same sqlglot trees, rendered as Spark SQL and run by Spark.

Herald talks to Spark through PySpark (the optional extra ``herald[spark]``): a session on a
master URL (``local[*]``, ``spark://…``, ``yarn``, ``k8s://…``) or a Spark Connect address
(``sc://…``). The customer tables are the catalog's tables (of ``[engine] database``) or lake
locations read as temporary views (``[engine.tables]``), under the names segments use.

What runs where:

- Segments, insights, picklists, previews and the campaign audience run in Spark; only small
  results (counts, sums, a page of values) come back to Herald whole.
- A large result (a recipients snapshot) is written by Spark as Parquet into the work folder
  (``[engine] work_dir``), then streamed from there by Herald in Arrow batches into its own
  single file: the driver never holds the whole audience.
- Herald's own files a query joins (recipients logs for results, a snapshot for a preview)
  are read by Spark from where they are when the work folder is local, else copied there.

The session is Herald's: UTC as its time zone (DESIGN §1.2 cuts dates in UTC), timestamps
written as microseconds, no SQL on files (``spark.sql.runSQLOnFiles``), so a SQL segment
reaches the customer tables only.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import tempfile
import uuid
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from sqlglot import exp

from herald.atomic import atomic_path
from herald.core.catalog import Catalog
from herald.engines.base import Engine
from herald.engines.duckdb import attribute_type
from herald.exceptions import ConfigError, EngineError, MissingDependencyError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType

__all__ = [
    "SESSION_DEFAULTS",
    "SparkEngine",
    "duckdb_type",
    "local_driver_memory",
    "require_pyspark",
]

SESSION_DEFAULTS: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.runSQLOnFiles": "false",
    # Integer overflow and a bad cast fail as they do on DuckDB, instead of wrapping or NULL.
    "spark.sql.ansi.enabled": "true",
}
"""Session settings parity needs; users' ``[engine.options]`` cannot override them."""

LOCAL_DEFAULTS: dict[str, str] = {
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.extraJavaOptions": "-Dlog4j2.configurationFile="
    + (Path(__file__).with_name("spark-log4j2.properties")).as_uri(),
    # Herald's queries shuffle thousands of rows to millions; 200 partitions (Spark's
    # default) cost more in scheduling than the work on one machine.
    "spark.sql.shuffle.partitions": "8",
    "spark.ui.enabled": "false",
    # Herald creates no tables; without this Spark makes an empty spark-warehouse/ folder
    # wherever the command runs.
    "spark.sql.warehouse.dir": (Path(tempfile.gettempdir()) / "herald-spark-warehouse").as_uri(),
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
}
"""Defaults for a local master, which ``[engine.options]`` may override."""

_INSTALL = (
    "the Spark engine needs PySpark: install Herald with the extra, "
    "`pip install 'herald[spark]'`, or set [engine] name = \"duckdb\" in herald.toml"
)


def _pyspark() -> Any:
    try:
        import pyspark.sql
    except ImportError:
        raise MissingDependencyError(_INSTALL) from None
    # PySpark logs every failed query, with its whole stack and the values it quotes, to
    # standard error; Herald reports the failure itself, in one line without values. The two
    # loggers are made here as plain disabled loggers: PySpark's own kind would give any
    # handler attached to it (a test runner attaches its capture handler to every logger that
    # does not propagate) its JSON formatter, which bypasses Herald's log redaction.
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        logging.getLogger(name).disabled = True
    return pyspark.sql


def require_pyspark() -> None:
    """Check that PySpark can be imported, before work that would need it later.

    Raises:
        MissingDependencyError: it cannot, saying how to install it.
    """
    _pyspark()


def duckdb_type(data_type: DataType) -> str:
    """A Spark column type in DuckDB's words, so catalog types and messages read the same
    on both engines.

    >>> from pyspark.sql import types as T
    >>> duckdb_type(T.DecimalType(38, 2)), duckdb_type(T.TimestampNTZType())
    ('DECIMAL(38,2)', 'TIMESTAMP')
    >>> duckdb_type(T.ArrayType(T.StringType()))
    'VARCHAR[]'
    """
    from pyspark.sql import types as T

    simple: dict[type, str] = {
        T.StringType: "VARCHAR",
        T.VarcharType: "VARCHAR",
        T.CharType: "VARCHAR",
        T.BooleanType: "BOOLEAN",
        T.ByteType: "TINYINT",
        T.ShortType: "SMALLINT",
        T.IntegerType: "INTEGER",
        T.LongType: "BIGINT",
        T.FloatType: "FLOAT",
        T.DoubleType: "DOUBLE",
        T.DateType: "DATE",
        T.TimestampType: "TIMESTAMP WITH TIME ZONE",
        T.TimestampNTZType: "TIMESTAMP",
        T.BinaryType: "BLOB",
    }
    if isinstance(data_type, T.DecimalType):
        return f"DECIMAL({data_type.precision},{data_type.scale})"
    if isinstance(data_type, T.ArrayType):
        return f"{duckdb_type(data_type.elementType)}[]"
    if isinstance(data_type, (T.MapType, T.StructType)):
        return data_type.simpleString().upper()
    return simple.get(type(data_type), data_type.simpleString().upper())


def _message(error: BaseException) -> str:
    """Spark's message on one line: its first line, without the SQL excerpt, the stack or
    quoted values (a failed cast quotes the customer's value)."""
    text = str(getattr(error, "getMessage", lambda: str(error))() or error)
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(error).__name__)
    first = re.sub(r"\s*SQLSTATE: \w+\.?", "", first)
    if "CAST" in first.upper():
        first = re.sub(r"'[^']*'", "'…'", first)
    return first


class SparkEngine(Engine):
    """Spark SQL over the customer tables.

    Args:
        master: the master URL (``local[*]`` when neither it nor ``connect`` is given).
        connect: a Spark Connect address (``sc://host:15002``), instead of a master.
        database: the catalog database holding the customer tables (the session's current
            one when None); ignored for the tables ``tables`` names.
        tables: table name → location of a lake table, read as a temporary view.
        table_format: the format of those locations (``parquet``, ``delta``, ``orc``…).
        options: Spark settings (``spark.executor.memory`` …), applied to the session.
        work_dir: where Spark writes large results for Herald to stream (local or a URI
            both Spark and this machine can reach, such as ``s3://bucket/herald``).
        threads: for a local master without ``master``: ``local[threads]``.
    """

    name = "spark"
    dialect = "spark"

    def __init__(
        self,
        *,
        master: str | None = None,
        connect: str | None = None,
        database: str | None = None,
        tables: Mapping[str, str] | None = None,
        table_format: str = "parquet",
        options: Mapping[str, str] | None = None,
        work_dir: str | os.PathLike[str] | None = None,
        threads: int | None = None,
        memory_limit: str | None = None,
    ) -> None:
        if master and connect:
            msg = "[engine] sets both master and connect; keep one (connect is Spark Connect)"
            raise ConfigError(msg)
        self.master = master or (None if connect else f"local[{threads or '*'}]")
        self.connect = connect
        self.database = database
        self._session = _open_session(self.master, connect, options or {}, memory_limit)
        self._work = _WorkFolder(work_dir)
        self._tables = dict(tables or {})
        try:
            if database:
                self._session.catalog.setCurrentDatabase(database)
            for name, location in self._tables.items():
                self._session.read.format(table_format).load(location).createOrReplaceTempView(name)
        except Exception as error:
            self._work.close()
            msg = f"Spark could not open the customer tables: {_message(error)}"
            raise EngineError(msg) from None

    # --- the Engine protocol -----------------------------------------------------------------

    def catalog(self, **roles: Any) -> Catalog:
        try:
            names = self._table_names()
            rows = [
                (
                    table,
                    field.name,
                    attribute_type(duckdb_type(field.dataType)),
                    duckdb_type(field.dataType),
                )
                for table in names
                for field in self._session.table(_quoted(table)).schema.fields
            ]
        except Exception as error:
            msg = f"Spark could not read the catalog: {_message(error)}"
            raise EngineError(msg) from None
        return Catalog.from_columns(rows, **roles)

    def query(self, expression: exp.Expression | str) -> pa.Table:
        with self._errors("Spark could not run the query"):
            return self._frame(expression).toArrow()

    def bind(self, query: exp.Query) -> pa.Schema:
        # Analysis (in session.sql) resolves every name and type; LIMIT 0 reads no row.
        with self._errors(None):
            return (
                self._frame(exp.select("*").from_(query.subquery("bound")).limit(0))
                .toArrow()
                .schema
            )

    def query_files(
        self, expression: exp.Expression, files: Mapping[str, Sequence[Path]]
    ) -> pa.Table:
        with self._errors("Spark could not run the query"), self._file_views(files):
            return self._frame(expression).toArrow()

    def batches(
        self, expression: exp.Expression | str, batch_size: int = 100_000
    ) -> Iterator[pa.RecordBatch]:
        with (
            self._errors("Spark failed while streaming the result"),
            self._written(expression) as dataset,
        ):
            yield from dataset.to_batches(batch_size=batch_size)

    def write_parquet(self, expression: exp.Expression, path: str | os.PathLike[str]) -> int:
        target = Path(path)
        rows = 0
        with (
            self._errors(f"Spark could not write {target.name}"),
            self._written(expression) as dataset,
            atomic_path(target) as partial,
            pq.ParquetWriter(partial, dataset.schema, compression="zstd") as writer,
        ):
            for batch in dataset.to_batches(batch_size=122_880):
                writer.write_batch(batch)
                rows += batch.num_rows
        return rows

    def data_version(self) -> str | None:
        return None  # a lake table changes without Herald seeing it: nothing is reused

    def close(self) -> None:
        for name in self._tables:
            self._session.catalog.dropTempView(name)
        self._work.close()

    # --- helpers -----------------------------------------------------------------------------

    def _frame(self, expression: exp.Expression | str) -> DataFrame:
        sql = expression if isinstance(expression, str) else self.render(expression)
        return self._session.sql(sql)

    def _table_names(self) -> list[str]:
        names = {t.lower(): t for t in self._tables}
        for table in self._session.catalog.listTables():
            names.setdefault(table.name.lower(), table.name)
        return sorted(names.values(), key=str.lower)

    @contextmanager
    def _errors(self, doing: str | None) -> Iterator[None]:
        try:
            yield
        except (EngineError, ConfigError):
            raise
        except Exception as error:
            if not _is_spark_error(error):
                raise
            text = _message(error)
            raise EngineError(f"{doing}: {text}" if doing else text) from None

    @contextmanager
    def _file_views(self, files: Mapping[str, Sequence[Path]]) -> Iterator[None]:
        under = f"uploads/{uuid.uuid4().hex}"
        try:
            for name, paths in files.items():
                located = self._work.reachable(paths, under=under)
                self._session.read.parquet(*located).createOrReplaceTempView(name)
            yield
        finally:
            for name in files:
                self._session.catalog.dropTempView(name)
            self.forget(under)

    @contextmanager
    def _written(self, expression: exp.Expression | str | DataFrame) -> Iterator[ds.Dataset]:
        """The result written by Spark into the work folder, as a dataset read in order (a
        sorted frame's parts are named in its order)."""
        frame = (
            self._frame(expression) if isinstance(expression, (str, exp.Expression)) else expression
        )
        with self._work.folder() as (uri, filesystem, local):
            frame.write.mode("overwrite").parquet(uri)
            parts = sorted(p for p in _listing(filesystem, local) if p.endswith(".parquet"))
            if parts:
                yield ds.dataset(parts, format="parquet", filesystem=filesystem)
            else:  # Spark writes no part for an empty result in some versions
                schema = frame.limit(0).toArrow().schema
                yield ds.dataset(pa.Table.from_batches([], schema=schema))

    # --- Herald's own work on Spark's side (the list diff: herald.runs.spark_lists) -----------

    @property
    def session(self) -> SparkSession:
        return self._session

    @contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        """Spark's failures inside as one-line :class:`EngineError` s: ``doing: reason``."""
        with self._errors(doing):
            yield

    def read_files(self, paths: Sequence[Path], *, under: str) -> DataFrame:
        """Herald's Parquet files as a frame: read where they are, or from copies in the work
        folder under ``under`` (deleted with it: :meth:`forget`)."""
        return self._session.read.parquet(*self._work.reachable(paths, under=under))

    def keep(self, frame: DataFrame, name: str) -> DataFrame:
        """Write ``frame`` into the work folder as ``name`` (replacing it), and read it back:
        later queries (of this process or another) read the rows instead of computing them."""
        uri = f"{self._work.uri_root}/{name}"
        frame.write.mode("overwrite").parquet(uri)
        return self._session.read.parquet(uri)

    def kept(self, name: str) -> DataFrame | None:
        """What :meth:`keep` wrote as ``name``, or None when it is not there."""
        if not _exists(self._work.filesystem, f"{self._work.root}/{name}/_SUCCESS"):
            return None
        return self._session.read.parquet(f"{self._work.uri_root}/{name}")

    def forget(self, name: str) -> None:
        """Delete what :meth:`keep` wrote under ``name`` (a folder of kept frames)."""
        self._work.delete(name)

    def stream_to(
        self,
        frame: DataFrame,
        target: Path,
        schema: pa.Schema,
        *,
        number: bool = False,
        tally: Sequence[str] = (),
    ) -> tuple[int, dict[str, int]]:
        """Write a frame's rows, in its order, into one Parquet file on this machine, a batch at
        a time (the driver never holds them all), atomically.

        Args:
            frame: the rows (its columns are cast to ``schema``'s types, by name).
            target: the file.
            schema: the file's columns; with ``number``, its first column is the row number.
            number: number the rows from 0 in a first column (``schema``'s first field).
            tally: boolean columns of ``frame`` (written or not) whose true rows are counted.

        Returns:
            The rows written, and the count of each ``tally`` column.
        """
        rows, counts = 0, dict.fromkeys(tally, 0)
        named = schema.remove(0) if number else schema
        with (
            self._written(frame) as dataset,
            atomic_path(target) as partial,
            pq.ParquetWriter(partial, schema) as writer,
        ):
            wanted = list(dict.fromkeys([*named.names, *tally]))
            for batch in dataset.to_batches(columns=wanted, batch_size=50_000):
                columns = [batch.column(f.name).cast(f.type) for f in named]
                if number:
                    columns.insert(0, pa.array(range(rows, rows + batch.num_rows), pa.int64()))
                writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=schema))
                for name in tally:
                    counts[name] += int(pc.sum(batch.column(name)).as_py() or 0)
                rows += batch.num_rows
        return rows, counts


def _is_spark_error(error: BaseException) -> bool:
    from pyspark.errors import PySparkException

    try:
        from py4j.protocol import Py4JError  # type: ignore[import-untyped]
    except ImportError:  # Spark Connect has no JVM on this side
        return isinstance(error, PySparkException)
    return isinstance(error, (PySparkException, Py4JError))


def _quoted(table: str) -> str:
    return exp.to_identifier(table, quoted=True).sql("spark")


def _listing(filesystem: Any, folder: str) -> list[str]:
    from pyarrow import fs as pafs

    selector = pafs.FileSelector(folder, recursive=False)
    return [info.path for info in filesystem.get_file_info(selector) if info.is_file]


def _open_session(
    master: str | None, connect: str | None, options: Mapping[str, str], memory: str | None
) -> SparkSession:
    sql = _pyspark()
    builder = sql.SparkSession.builder.appName("herald")
    builder = builder.remote(connect) if connect else builder.master(master)
    local = bool(master and master.startswith("local"))
    settings = dict(LOCAL_DEFAULTS) if local else {}
    if local:
        settings["spark.driver.memory"] = memory or local_driver_memory()
        # A local master's Python workers (the list diff's normalization) run this Python,
        # with Herald and its libraries; PySpark's default is whatever `python3` is on PATH.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    settings.update({str(k): str(v) for k, v in options.items()})
    settings.update(SESSION_DEFAULTS)
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        with warnings.catch_warnings():  # about pandas, which Herald does not use with Spark
            warnings.simplefilter("ignore", FutureWarning)
            session = builder.getOrCreate()
        # A second engine in this process shares the JVM but not the temporary views.
        session = session.newSession() if not connect else session
        # A session of a JVM started earlier (another engine in this process) has that
        # engine's SQL settings: this engine's own are set on its session.
        for key, value in settings.items():
            if key.startswith("spark.sql.") and session.conf.isModifiable(key):
                session.conf.set(key, value)
    except Exception as error:
        target = connect or master
        msg = f"cannot start Spark on '{target}': {_message(error)}"
        raise EngineError(msg) from None
    return session


def local_driver_memory() -> str:
    """A local master's JVM does all of Spark's work: a quarter of this machine's memory
    (at least 1 GB, at most 16 GB), where Spark's own default of 1 GB would spill a few
    million customers to disk."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "1g"
    return f"{max(1, min(16, total // 4 // 2**30))}g"


class _WorkFolder:
    """Where Spark writes results for Herald to read: a local folder or a URI."""

    def __init__(self, work_dir: str | os.PathLike[str] | None) -> None:
        from pyarrow import fs as pafs

        self._own: Path | None = None
        if work_dir is None:
            self._own = Path(tempfile.mkdtemp(prefix="herald-spark-"))
            work_dir = self._own
        text = str(work_dir)
        if "://" in text and not text.startswith("file://"):
            self.filesystem, self.root = pafs.FileSystem.from_uri(text)
            self.uri_root = text.rstrip("/")
            self.local = False
        else:
            path = Path(text.removeprefix("file://")).resolve()
            path.mkdir(parents=True, exist_ok=True)
            self.filesystem, self.root = pafs.LocalFileSystem(), str(path)
            self.uri_root = path.as_uri()
            self.local = True

    @contextmanager
    def folder(self) -> Iterator[tuple[str, Any, str]]:
        """A new folder for one result (its URI for Spark, the file system and its path for
        Herald), removed afterwards."""
        name = f"result-{uuid.uuid4().hex}"
        try:
            yield f"{self.uri_root}/{name}", self.filesystem, f"{self.root}/{name}"
        finally:
            self.delete(name)

    def reachable(self, paths: Sequence[Path], *, under: str = "uploads") -> list[str]:
        """Locations of Herald's files that Spark can read: the files themselves when the
        work folder is local (so is Spark's file system), else copies in the work folder
        (in its folder ``under``)."""
        if self.local:
            return [p.resolve().as_uri() for p in paths]
        copies = []
        self.filesystem.create_dir(f"{self.root}/{under}", recursive=True)
        for path in paths:
            name = f"{under}/upload-{uuid.uuid4().hex}.parquet"
            with (
                path.open("rb") as source,
                self.filesystem.open_output_stream(f"{self.root}/{name}") as sink,
            ):
                shutil.copyfileobj(source, sink)
            copies.append(f"{self.uri_root}/{name}")
        return copies

    def delete(self, name: str) -> None:
        """Delete the folder ``name`` of the work folder, if it is there."""
        path = f"{self.root}/{name}"
        if _exists(self.filesystem, path):
            self.filesystem.delete_dir(path)

    def close(self) -> None:
        if self._own is not None:
            shutil.rmtree(self._own, ignore_errors=True)


def _exists(filesystem: Any, path: str) -> bool:
    from pyarrow import fs as pafs

    return bool(filesystem.get_file_info(path).type != pafs.FileType.NotFound)
