"""Golden SQL: each definition in ``tests/fixtures/segments/*.yaml`` compiles to the SQL beside it.

The catalog and the date are fixed here, so a change in the compiler shows up as a diff of the
``.sql`` files. When a change is intended, rewrite the files and review the diff:

    HERALD_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/core/test_golden_sql.py

Segment conditions (``segment: X``) are resolved from the other golden files by name. Each
definition is also rendered for Spark and must parse back with sqlglot (no golden for Spark).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlglot
import yaml
from golden import check_golden, missing_goldens, read_golden

from herald.core.catalog import Catalog
from herald.core.segments import Segment, compile_segment, parse_segment
from herald.exceptions import SegmentError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "segments"
FIXED_DATE = dt.date(2024, 3, 15)

_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "Customer_360": [
        ("amperity_id", "VARCHAR"),
        ("email", "VARCHAR"),
        ("state", "VARCHAR"),
        ("country", "VARCHAR"),
        ("loyalty_tier", "VARCHAR"),
        ("birthdate", "DATE"),
        ("created_at", "TIMESTAMP"),
    ],
    "Merged_Customers": [
        ("amperity_id", "VARCHAR"),
        ("given_name", "VARCHAR"),
        ("surname", "VARCHAR"),
        ("email", "VARCHAR"),
        ("city", "VARCHAR"),
        ("postal", "VARCHAR"),
        ("gender", "VARCHAR"),
    ],
    "Customer_Attributes": [
        ("amperity_id", "VARCHAR"),
        ("contactable_email", "BOOLEAN"),
        ("is_opted_into_email", "BOOLEAN"),
        ("is_employee", "BOOLEAN"),
    ],
    "Transaction_Attributes_Extended": [
        ("amperity_id", "VARCHAR"),
        ("lifetime_order_revenue", "DECIMAL(38,2)"),
        ("lifetime_order_frequency", "BIGINT"),
        ("first_order_datetime", "TIMESTAMP"),
        ("latest_order_datetime", "TIMESTAMP"),
        ("days_since_latest_order", "INTEGER"),
    ],
    "Unified_Transactions": [
        ("amperity_id", "VARCHAR"),
        ("order_id", "VARCHAR"),
        ("order_datetime", "TIMESTAMP"),
        ("order_revenue", "DECIMAL(38,2)"),
        ("purchase_channel", "VARCHAR"),
    ],
    "Unified_Itemized_Transactions": [
        ("amperity_id", "VARCHAR"),
        ("order_id", "VARCHAR"),
        ("order_datetime", "TIMESTAMP"),
        ("product_category", "VARCHAR"),
        ("item_revenue", "DECIMAL(38,2)"),
        ("is_return", "BOOLEAN"),
    ],
}
_TYPES = {
    "VARCHAR": "string",
    "DATE": "date",
    "TIMESTAMP": "datetime",
    "BOOLEAN": "boolean",
    "DECIMAL(38,2)": "decimal",
    "BIGINT": "integer",
    "INTEGER": "integer",
}
CATALOG = Catalog.from_columns(
    (table, column, _TYPES[engine_type], engine_type)  # type: ignore[misc]
    for table, columns in _COLUMNS.items()
    for column, engine_type in columns
)

DEFINITIONS = sorted(FIXTURES.glob("*.yaml"))


def _load(path: Path) -> Segment:
    return parse_segment(yaml.safe_load(path.read_text(encoding="utf-8")), source=path.name)


def _resolver(name: str) -> Segment:
    for path in DEFINITIONS:
        segment = _load(path)
        if segment.name == name:
            return segment
    raise SegmentError(f"no golden segment named '{name}'")


def _compile(path: Path) -> sqlglot.exp.Select:
    return compile_segment(_load(path), CATALOG, today=FIXED_DATE, resolve_segment=_resolver)


def test_there_are_enough_goldens() -> None:
    assert len(DEFINITIONS) >= 12
    missing = missing_goldens(DEFINITIONS)
    assert not missing, f"no .sql golden for {missing}; run with HERALD_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("path", DEFINITIONS, ids=[p.stem for p in DEFINITIONS])
def test_duckdb_sql_matches_golden(path: Path) -> None:
    check_golden(path, _compile(path).sql("duckdb", pretty=True) + "\n")


@pytest.mark.parametrize("path", DEFINITIONS, ids=[p.stem for p in DEFINITIONS])
def test_golden_sql_runs_unchanged_through_sqlglot(path: Path) -> None:
    golden_sql = read_golden(path.with_suffix(".sql"))
    reparsed = sqlglot.parse_one(golden_sql, read="duckdb")
    assert reparsed.sql("duckdb") == _compile(path).sql("duckdb")


@pytest.mark.parametrize("path", DEFINITIONS, ids=[p.stem for p in DEFINITIONS])
def test_spark_sql_parses_back(path: Path) -> None:
    expression = _compile(path)
    spark_sql = expression.sql("spark", pretty=True)
    reparsed = sqlglot.parse_one(spark_sql, read="spark")
    assert isinstance(reparsed, sqlglot.exp.Select)
    assert reparsed.sql("spark") == expression.sql("spark")


def test_dates_in_goldens_come_from_the_fixed_date() -> None:
    sql = _compile(FIXTURES / "05-relative-dates.yaml").sql("duckdb")
    assert "'2024-02-14'" in sql  # 30 days before 2024-03-15
    assert "'2022-03-15'" in sql  # 2 years ago
    assert "'2024-03-14'" in sql  # yesterday
