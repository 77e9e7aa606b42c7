from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

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
