from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import sqlglot

from herald.engines.base import create_engine
from herald.engines.duckdb import attribute_type
from herald.exceptions import ConfigError, EngineError


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "t.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE TABLE Customer_360 (amperity_id VARCHAR, b BOOLEAN, d DATE, ts TIMESTAMP, "
            "n DECIMAL(38,2), i BIGINT, s VARCHAR, tags VARCHAR[])"
        )
        con.execute(
            "INSERT INTO Customer_360 SELECT 'c' || range, range % 2 = 0, NULL, NULL, "
            "range, range, 'x', [] FROM range(250000)"
        )
    return path


def test_catalog_types_come_from_the_engine(db: Path) -> None:
    with create_engine("duckdb", database=db) as engine:
        table = engine.catalog().table("customer_360")
        assert table is not None
        types = {c.name: c.type for c in table.columns.values()}
    assert types == {
        "amperity_id": "string",
        "b": "boolean",
        "d": "date",
        "ts": "datetime",
        "n": "decimal",
        "i": "integer",
        "s": "string",
        "tags": None,
    }


def test_opened_read_only(db: Path) -> None:
    with (
        create_engine("duckdb", database=db) as engine,
        pytest.raises(EngineError, match="read-only"),
    ):
        engine.query("DELETE FROM Customer_360")


def test_batches_stream_the_whole_result(db: Path) -> None:
    with create_engine("duckdb", database=db) as engine:
        batches = list(engine.batches("SELECT amperity_id FROM Customer_360", batch_size=100_000))
    assert sum(b.num_rows for b in batches) == 250_000
    assert len(batches) >= 2


def test_missing_database_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="herald demo generate"):
        create_engine("duckdb", database=tmp_path / "none.duckdb")


def test_unknown_engine_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'duckdb'"):
        create_engine("duckbd")


@pytest.mark.parametrize(
    ("duck", "expected"),
    [
        ("BOOLEAN", "boolean"),
        ("DATE", "date"),
        ("TIMESTAMP", "datetime"),
        ("TIMESTAMP WITH TIME ZONE", "datetime"),
        ("DECIMAL(38,2)", "decimal"),
        ("DOUBLE", "decimal"),
        ("INTEGER", "integer"),
        ("HUGEINT", "integer"),
        ("VARCHAR", "string"),
        ("UUID", "string"),
        ("BLOB", None),
        ("STRUCT(a INTEGER)", None),
        ("INTEGER[]", None),
    ],
)
def test_type_mapping(duck: str, expected: str | None) -> None:
    assert attribute_type(duck) == expected


# --- the segment connection cannot leave the database (issue 8, item 2) ----------------------

SECRET = "TOP-SECRET-LINE-51c9"


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.csv"
    path.write_text(f"header\n{SECRET}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('{path}')",
        "SELECT * FROM '{path}'",
        'SELECT * FROM "{path}"',
        "SELECT * FROM read_text('{path}')",
        "SELECT CAST(column0 AS INTEGER) FROM read_csv('{path}', header = false)",
        "SELECT * FROM glob('{folder}/*')",
        "COPY (SELECT 1) TO '{folder}/out.csv'",
        "ATTACH '{folder}/other.duckdb'",
        "INSTALL httpfs",
    ],
)
def test_the_engine_connection_cannot_reach_files(db: Path, secret_file: Path, sql: str) -> None:
    statement = sql.format(path=secret_file, folder=secret_file.parent)
    with create_engine("duckdb", database=db) as engine, pytest.raises(EngineError) as caught:
        engine.query(statement)
    message = str(caught.value)
    assert SECRET not in message
    assert "disabled by configuration" in message
    assert "\n" not in message
    assert not (secret_file.parent / "out.csv").exists()


@pytest.mark.parametrize(
    "sql",
    [
        "SET enable_external_access = true",
        "RESET enable_external_access",
        "SET lock_configuration = false",
        "SET TimeZone = 'America/New_York'",
    ],
)
def test_the_engine_configuration_is_locked(db: Path, sql: str) -> None:
    with create_engine("duckdb", database=db) as engine:
        with pytest.raises(EngineError, match="locked"):
            engine.query(sql)
        [row] = engine.query(
            "SELECT current_setting('enable_external_access') AS external, "
            "current_setting('TimeZone') AS zone"
        ).to_pylist()
    assert row == {"external": False, "zone": "UTC"}


def test_two_engines_on_one_file_share_the_locked_settings(db: Path, secret_file: Path) -> None:
    with (
        create_engine("duckdb", database=db) as first,
        create_engine("duckdb", database=db) as second,
    ):
        for engine in (first, second):
            assert engine.query("SELECT count(*) AS n FROM Customer_360").to_pylist() == [
                {"n": 250_000}
            ]
            with pytest.raises(EngineError, match="disabled by configuration"):
                engine.query(f"SELECT * FROM read_csv('{secret_file}')")


def test_write_parquet_writes_the_whole_result(db: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "recipients.parquet"
    query = sqlglot.parse_one(
        "SELECT amperity_id, n, i FROM Customer_360 WHERE i < 200000", read="duckdb"
    )
    with create_engine("duckdb", database=db) as engine:
        rows = engine.write_parquet(query, target)
    assert rows == 200_000
    table = pq.read_table(target)
    assert table.num_rows == 200_000
    assert table.column_names == ["amperity_id", "n", "i"]
    assert str(table.schema.field("n").type) == "decimal128(38, 2)"
    assert [p.name for p in target.parent.iterdir()] == ["recipients.parquet"]


def test_write_parquet_error_is_one_line_and_leaves_no_file(db: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "recipients.parquet"
    query = sqlglot.parse_one("SELECT CAST(s || amperity_id AS INTEGER) FROM Customer_360")
    with create_engine("duckdb", database=db) as engine, pytest.raises(EngineError) as caught:
        engine.write_parquet(query, target)
    assert "recipients.parquet" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert list(target.parent.iterdir()) == []


def test_bind_types_a_query_without_reading_rows(db: Path) -> None:
    with create_engine("duckdb", database=db) as engine:
        good = sqlglot.parse_one("SELECT amperity_id, n FROM Customer_360", read="duckdb")
        schema = engine.bind(good)
        bad = sqlglot.parse_one("SELECT amperity_id FROM Customer_360 WHERE nn > 1")
        with pytest.raises(EngineError) as caught:
            engine.bind(bad)
    assert schema.names == ["amperity_id", "n"]
    assert str(schema.field("n").type) == "decimal128(38, 2)"
    assert str(caught.value) == (
        'Binder Error: Referenced column "nn" not found in FROM clause! Candidate bindings: "n"'
    )


# --- every connection in UTC (issue 8, item 12) ----------------------------------------------

# Two instants a few hours from midnight UTC: 02:00 on 1 March falls on 28 February west of
# Greenwich, 20:00 on 28 February on 1 March east of it.
DAYS = (
    "SELECT string_agg(CAST(CAST(t AS DATE) AS VARCHAR), ',' ORDER BY t) FROM (VALUES "
    "(TIMESTAMPTZ '2026-03-01 02:00:00+00'), (TIMESTAMPTZ '2026-02-28 20:00:00+00')) v(t)"
)
UTC_PROBE = f"""
import sys
from herald.engines.base import create_engine
from herald.engines.duckdb import connect_utc
with create_engine("duckdb", database=sys.argv[1]) as engine:
    engine_days = engine.query({DAYS!r}).column(0)[0].as_py()
with connect_utc() as con:
    local_days = con.execute({DAYS!r}).fetchone()[0]
    zone_of_cursor = con.cursor().execute("SELECT current_setting('TimeZone')").fetchone()[0]
print(engine_days, local_days, zone_of_cursor)
"""


@pytest.mark.parametrize("zone", ["America/Los_Angeles", "Asia/Tokyo", "UTC"])
def test_timestamptz_is_cut_to_utc_days_whatever_tz_says(db: Path, zone: str) -> None:
    # DuckDB reads TZ once per process, so each zone gets its own interpreter.
    result = subprocess.run(
        [sys.executable, "-c", UTC_PROBE, str(db)],
        env={**os.environ, "TZ": zone},
        capture_output=True,
        text=True,
        check=True,
    )
    utc_days = "2026-02-28,2026-03-01"
    assert result.stdout.split() == [utc_days, utc_days, "UTC"]


def test_every_duckdb_connection_goes_through_the_utc_helper() -> None:
    herald = Path(__file__).resolve().parents[2] / "herald"
    helper = herald / "engines" / "duckdb.py"
    offenders = [
        f"{path.relative_to(herald)}:{number}"
        for path in herald.rglob("*.py")
        if path != helper
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "duckdb.connect(" in line
    ]
    assert offenders == [], "open DuckDB with herald.engines.duckdb.connect_utc"


def test_query_files_joins_herald_parquet_files_for_that_query_only(
    db: Path, tmp_path: Path
) -> None:
    """The locked connection reads Herald's own files when given them (recipients logs), and
    only for the query that asked; a file the query only names stays unreachable."""
    first, second = tmp_path / "log1.parquet", tmp_path / "log2.parquet"
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT 'c' || range AS amperity_id FROM range(3)) TO '{first}'")
        con.execute(f"COPY (SELECT 'c' || range AS amperity_id FROM range(5, 7)) TO '{second}'")
    query = sqlglot.parse_one(
        "SELECT count(*) AS n, sum(c.i) AS total FROM log JOIN Customer_360 c USING (amperity_id)",
        read="duckdb",
    )
    with create_engine("duckdb", database=db) as engine:
        found = engine.query_files(query, {"log": [first, second]}).to_pylist()
        with pytest.raises(EngineError, match="log"):
            engine.query("SELECT * FROM log")
        with pytest.raises(EngineError, match="disabled by configuration"):
            engine.query_files(sqlglot.parse_one(f"SELECT * FROM '{first}'"), {"log": [first]})
        with pytest.raises(EngineError) as caught:
            engine.query_files(query, {"log": [tmp_path / "missing.parquet"]})
    assert found == [{"n": 5, "total": 0 + 1 + 2 + 5 + 6}]
    assert "\n" not in str(caught.value)


# --- lake tables: Parquet locations instead of (or beside) a database file -------------------


def _lake(folder: Path) -> dict[str, str]:
    (folder / "Customer_360").mkdir(parents=True)
    with duckdb.connect() as con:
        target = folder / "Customer_360" / "part-0.parquet"
        con.execute(
            f"COPY (SELECT 'c' || range AS amperity_id, range::DECIMAL(38,2) AS n "
            f"FROM range(10)) TO '{target}' (FORMAT parquet)"
        )
        con.execute(f"COPY (SELECT 'x' AS k) TO '{folder / 'extra.parquet'}' (FORMAT parquet)")
    return {"Customer_360": str(folder / "Customer_360"), "Extra": str(folder / "extra.parquet")}


def test_lake_tables_without_a_database_file(tmp_path: Path) -> None:
    tables = _lake(tmp_path / "lake")
    with create_engine("duckdb", database=None, tables=tables) as engine:
        catalog = engine.catalog()
        assert sorted(catalog.table_names()) == ["Customer_360", "Extra"]
        assert catalog.table("customer_360").column("n").engine_type == "DECIMAL(38,2)"  # type: ignore[union-attr]
        assert engine.query('SELECT count(*) AS n FROM "Customer_360"').to_pylist() == [{"n": 10}]
        assert engine.data_version() is None  # the lake changes without Herald seeing it
        # still locked: the lake is read through its datasets, SQL cannot open files
        with pytest.raises(EngineError):
            engine.query(f"SELECT * FROM read_parquet('{tmp_path / 'lake' / 'extra.parquet'}')")


def test_lake_tables_beside_a_database_file(db: Path, tmp_path: Path) -> None:
    tables = _lake(tmp_path / "lake")
    with create_engine("duckdb", database=db, tables={"Extra": tables["Extra"]}) as engine:
        assert {"Customer_360", "Extra"} <= set(engine.catalog().table_names())


def test_a_missing_lake_table_says_which_and_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        create_engine("duckdb", database=None, tables={"Orders": str(tmp_path / "nowhere")})
    message = str(caught.value)
    assert message.startswith("cannot read the table Orders at ")
    assert "[engine.tables]" in message
    assert "\n" not in message


def test_a_workspace_reads_lake_tables_relative_to_its_folder(tmp_path: Path) -> None:
    from herald.workspace import Workspace

    _lake(tmp_path / "data" / "lake")
    (tmp_path / "herald.toml").write_text(
        '[engine]\nname = "duckdb"\n\n[engine.tables]\nCustomer_360 = "data/lake/Customer_360"\n'
    )
    with Workspace.open(tmp_path) as ws:
        assert ws.engine.query('SELECT count(*) AS n FROM "Customer_360"').to_pylist() == [
            {"n": 10}
        ]
