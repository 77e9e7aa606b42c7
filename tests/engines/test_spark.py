"""Herald's Spark engine (local mode): catalog types, streaming, files, errors, settings.

The tables are Parquet files written here with the types a lake holds; the parity of answers
with DuckDB is in the parity suite (``tests/spark_engine.py`` and the tests using it).
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot
from spark_engine import require_spark, spark_options

from herald.config import load_settings
from herald.engines.base import Engine, create_engine
from herald.exceptions import ConfigError, EngineError, MissingDependencyError

pytestmark = pytest.mark.spark

EMAIL = "ada.lovelace@example.com"
ROWS = 1_000


def _customers() -> pa.Table:
    keys = [f"c{i:04d}" for i in range(ROWS)]
    return pa.table(
        {
            "amperity_id": pa.array(keys),
            "email": pa.array([EMAIL if i == 7 else f"x{i}@example.com" for i in range(ROWS)]),
            "is_vip": pa.array([i % 2 == 0 for i in range(ROWS)]),
            "born": pa.array([dt.date(1990, 1, 1)] * ROWS, pa.date32()),
            "seen_at": pa.array([dt.datetime(2024, 3, 1, 12)] * ROWS, pa.timestamp("us")),
            "seen_utc": pa.array(
                [dt.datetime(2024, 3, 1, 23, 30, tzinfo=dt.UTC)] * ROWS, pa.timestamp("us", "UTC")
            ),
            "balance": pa.array([Decimal(i) / 100 for i in range(ROWS)], pa.decimal128(38, 2)),
            "visits": pa.array(list(range(ROWS)), pa.int64()),
            "points": pa.array(list(range(ROWS)), pa.int32()),
            "score": pa.array([i / 3 for i in range(ROWS)], pa.float64()),
            "tags": pa.array([["a"]] * ROWS, pa.list_(pa.string())),
        }
    )


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lake")
    (folder / "Customer_360").mkdir()
    pq.write_table(_customers(), folder / "Customer_360" / "part-0.parquet")
    return folder


@pytest.fixture(scope="module")
def engine(lake: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    require_spark()
    work = tmp_path_factory.mktemp("work")
    options = spark_options(tables={"Customer_360": str(lake / "Customer_360")}, work_dir=work)
    with create_engine("spark", **options) as made:
        yield made


def test_catalog_types_come_from_spark_s_schema_in_duckdb_s_words(engine: Engine) -> None:
    table = engine.catalog().table("customer_360")
    assert table is not None
    found = {c.name: (c.type, c.engine_type) for c in table.columns.values()}
    assert found == {
        "amperity_id": ("string", "VARCHAR"),
        "email": ("string", "VARCHAR"),
        "is_vip": ("boolean", "BOOLEAN"),
        "born": ("date", "DATE"),
        "seen_at": ("datetime", "TIMESTAMP"),
        "seen_utc": ("datetime", "TIMESTAMP WITH TIME ZONE"),
        "balance": ("decimal", "DECIMAL(38,2)"),
        "visits": ("integer", "BIGINT"),
        "points": ("integer", "INTEGER"),
        "score": ("decimal", "DOUBLE"),
        "tags": (None, "VARCHAR[]"),
    }


def test_dates_are_cut_in_utc(engine: Engine) -> None:
    got = engine.query(
        "SELECT CAST(seen_utc AS DATE) AS d, CAST(seen_at AS DATE) AS n FROM Customer_360 LIMIT 1"
    ).to_pylist()
    assert got == [{"d": dt.date(2024, 3, 1), "n": dt.date(2024, 3, 1)}]


def test_batches_stream_the_whole_result_in_order(engine: Engine, tmp_path: Path) -> None:
    query = sqlglot.parse_one("SELECT amperity_id FROM Customer_360 ORDER BY amperity_id DESC")
    batches = list(engine.batches(query, batch_size=300))
    assert max(b.num_rows for b in batches) <= 300
    keys = [k for b in batches for k in b.column(0).to_pylist()]
    assert keys == sorted((f"c{i:04d}" for i in range(ROWS)), reverse=True)


def test_write_parquet_writes_one_file_and_cleans_the_work_folder(
    engine: Engine, tmp_path: Path
) -> None:
    target = tmp_path / "out" / "snapshot.parquet"
    target.parent.mkdir()
    query = sqlglot.parse_one("SELECT amperity_id, balance FROM Customer_360 WHERE visits < 250")
    assert engine.write_parquet(query, target) == 250
    table = pq.read_table(target)
    assert table.num_rows == 250
    assert table.schema.field("balance").type == pa.decimal128(38, 2)
    assert sorted(p.name for p in target.parent.iterdir()) == ["snapshot.parquet"]
    work = Path(str(engine._work.root))  # type: ignore[attr-defined]
    assert list(work.iterdir()) == []


def test_an_empty_result_is_a_file_with_its_columns(engine: Engine, tmp_path: Path) -> None:
    query = sqlglot.parse_one("SELECT amperity_id, visits FROM Customer_360 WHERE visits < 0")
    assert engine.write_parquet(query, tmp_path / "empty.parquet") == 0
    table = pq.read_table(tmp_path / "empty.parquet")
    assert (table.num_rows, table.column_names) == (0, ["amperity_id", "visits"])


def test_a_failure_is_one_line_without_the_value_and_leaves_no_file(
    engine: Engine, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    query = sqlglot.parse_one("SELECT CAST(email AS INT) AS n FROM Customer_360")
    with pytest.raises(EngineError) as caught:
        engine.write_parquet(query, tmp_path / "bad.parquet")
    message = str(caught.value)
    assert len(message.splitlines()) == 1
    assert message.startswith("Spark could not write bad.parquet: ")
    assert "@example.com" not in message
    assert not (tmp_path / "bad.parquet").exists()
    out, err = capfd.readouterr()
    assert "@example.com" not in out + err


def test_an_unknown_column_names_it(engine: Engine) -> None:
    with pytest.raises(EngineError) as caught:
        engine.bind(sqlglot.parse_one("SELECT emial FROM Customer_360"))  # type: ignore[arg-type]
    assert "emial" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_bind_types_a_query_without_reading_rows(engine: Engine) -> None:
    schema = engine.bind(
        sqlglot.parse_one("SELECT amperity_id, balance * 2 AS b FROM Customer_360")  # type: ignore[arg-type]
    )
    assert schema.names == ["amperity_id", "b"]


def test_sql_cannot_read_files(engine: Engine, lake: Path) -> None:
    path = lake / "Customer_360" / "part-0.parquet"
    with pytest.raises(EngineError):
        engine.query(f"SELECT * FROM parquet.`{path}`")


def test_query_files_joins_herald_s_files_for_that_query_only(
    engine: Engine, tmp_path: Path
) -> None:
    log = tmp_path / "log.parquet"
    pq.write_table(pa.table({"amperity_id": ["c0001", "c0003", "nobody"]}), log)
    query = sqlglot.parse_one(
        "SELECT c.amperity_id, c.visits FROM recipients AS r "
        "JOIN Customer_360 AS c ON c.amperity_id = r.amperity_id ORDER BY 1"
    )
    got = engine.query_files(query, {"recipients": [log]}).to_pylist()
    assert got == [{"amperity_id": "c0001", "visits": 1}, {"amperity_id": "c0003", "visits": 3}]
    with pytest.raises(EngineError):
        engine.query("SELECT * FROM recipients")


def test_two_engines_in_one_process_keep_their_own_tables(lake: Path, tmp_path: Path) -> None:
    require_spark()
    other = tmp_path / "Customer_360"
    other.mkdir()
    pq.write_table(pa.table({"amperity_id": ["only"]}), other / "part-0.parquet")
    first = create_engine("spark", **spark_options(tables={"Customer_360": str(other)}))
    second = create_engine(
        "spark", **spark_options(tables={"Customer_360": str(lake / "Customer_360")})
    )
    with first, second:
        assert first.query("SELECT count(*) AS n FROM Customer_360").to_pylist() == [{"n": 1}]
        assert second.query("SELECT count(*) AS n FROM Customer_360").to_pylist() == [{"n": ROWS}]


def test_a_missing_lake_table_says_which_and_where(tmp_path: Path) -> None:
    require_spark()
    with pytest.raises(EngineError) as caught:
        create_engine("spark", **spark_options(tables={"Orders": str(tmp_path / "nowhere")}))
    message = str(caught.value)
    assert message.startswith("Spark could not open the customer tables: ")
    assert "nowhere" in message
    assert "\n" not in message


def test_master_and_connect_together_are_refused() -> None:
    with pytest.raises(ConfigError, match="keep one"):
        create_engine("spark", master="local[1]", connect="sc://localhost:15002")


def test_without_pyspark_choosing_spark_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'herald\[spark\]'"):
        create_engine("spark", master="local[1]")


@pytest.mark.parametrize(
    ("engine_toml", "message"),
    [
        ('name = "duckdb"\nmaster = "local[2]"', "master only applies to Spark"),
        ('name = "spark"\nmaster = "local"\nconnect = "sc://h:15002"', "keep one of them"),
    ],
)
def test_engine_settings_of_the_wrong_engine_are_refused(
    tmp_path: Path, engine_toml: str, message: str
) -> None:
    (tmp_path / "herald.toml").write_text(f"[engine]\n{engine_toml}\n")
    with pytest.raises(ConfigError, match=message):
        load_settings(tmp_path / "herald.toml")


def test_pyspark_s_failure_loggers_stay_silent_and_plain(engine: Engine) -> None:
    """PySpark logs a failed query with its values; its logger kind would also put its JSON
    formatter on any handler attached to it (past Herald's redaction)."""
    with pytest.raises(EngineError):
        engine.query("SELECT nope FROM Customer_360")
    handler = logging.StreamHandler()
    formatter = handler.formatter
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        logger = logging.getLogger(name)
        assert logger.disabled
        logger.addHandler(handler)
        logger.removeHandler(handler)
    assert handler.formatter is formatter
