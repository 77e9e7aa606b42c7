"""Golden SQL: each definition in ``tests/fixtures/segments/*.yaml`` compiles to the SQL beside it.

The catalog and the date are fixed here, so a change in the compiler shows up as a diff of the
``.sql`` files. When a change is intended, rewrite the files and review the diff:

    HERALD_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/core/test_golden_sql.py

Segment conditions (``segment: X``) are resolved from the other golden files by name. Each
definition is also rendered for Spark and must parse back with sqlglot (no golden for Spark).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import sqlglot
import yaml
from golden import check_golden, missing_goldens, read_golden
from spark_engine import open_engine

from herald.core.catalog import Catalog
from herald.core.segments import Segment, compile_segment, parse_segment
from herald.engines.base import Engine
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


# --- parity: every golden definition selects the same customers on DuckDB and on Spark --------


def _literals(node: object) -> Iterator[object]:
    """Every value written in a definition, so the generated rows hit the conditions."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("value", "values", "where", "all", "any", "not") or isinstance(
                value, (dict, list)
            ):
                yield from _literals(value)
    elif isinstance(node, list):
        for item in node:
            yield from _literals(item)
    elif node is not None:
        yield node


def _golden_rows(customers: int, seed: int) -> dict[str, list[tuple[object, ...]]]:
    """Seeded rows for the golden catalog: values drawn from what the definitions compare
    with, NULLs, missing per-customer rows, and orders around the fixed date."""
    rnd = random.Random(seed)
    words = sorted(
        {str(v) for p in DEFINITIONS for v in _literals(yaml.safe_load(p.read_text()))}
        | {"", "  ", "Gold", "CA", "US", "Shoes"}
    )
    moment = dt.datetime(2024, 3, 15, 12)

    def value(kind: str) -> object:
        if rnd.random() < 0.12:
            return None
        return {
            "VARCHAR": lambda: rnd.choice(words),
            "DATE": lambda: FIXED_DATE - dt.timedelta(days=rnd.randint(-30, 9000)),
            "TIMESTAMP": lambda: moment - dt.timedelta(minutes=rnd.randint(-9000, 900_000)),
            "BOOLEAN": lambda: rnd.random() < 0.5,
            "DECIMAL(38,2)": lambda: Decimal(rnd.randint(-500, 300_000)) / 100,
            "BIGINT": lambda: rnd.randint(-3, 40),
            "INTEGER": lambda: rnd.randint(-3, 400),
        }[kind]()

    rows: dict[str, list[tuple[object, ...]]] = {}
    for table, columns in _COLUMNS.items():
        per_customer = not table.startswith("Unified")
        count = customers if per_customer else customers * 3
        rows[table] = []
        for i in range(count):
            if per_customer and table != "Customer_360" and rnd.random() < 0.2:
                continue  # no row: all NULL there
            key = f"c{i:04d}" if per_customer else f"c{rnd.randrange(customers):04d}"
            rest = [value(kind) for _, kind in columns[1:]]
            if not per_customer:
                rest[0] = f"o{i % (customers * 2)}"  # order ids shared by items and orders
            rows[table].append((key, *rest))
    return rows


@pytest.fixture(scope="module")
def golden_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("golden") / "customers.duckdb"
    with duckdb.connect(str(path)) as con:
        for table, rows in _golden_rows(400, seed=15).items():
            columns = ", ".join(f"{c} {t}" for c, t in _COLUMNS[table])
            con.execute(f'CREATE TABLE "{table}" ({columns})')
            marks = ", ".join("?" for _ in _COLUMNS[table])
            con.executemany(f'INSERT INTO "{table}" VALUES ({marks})', rows)
    return path


def _members(engine: Engine) -> dict[str, frozenset[str]]:
    catalog = engine.catalog()
    found = {}
    for path in DEFINITIONS:
        query = compile_segment(
            _load(path), catalog, today=FIXED_DATE, resolve_segment=_resolver, dialect="duckdb"
        )
        found[path.stem] = frozenset(engine.query(query).column(0).to_pylist())
    return found


@pytest.mark.spark
@pytest.mark.slow
def test_every_golden_selects_the_same_customers_on_both_engines(golden_database: Path) -> None:
    with open_engine("duckdb", golden_database) as duck:
        expected = _members(duck)
    with open_engine("spark", golden_database) as spark:
        assert spark.name == "spark"
        got = _members(spark)
    assert got == expected
    # the data must make the comparison mean something: most goldens select some, not all
    between = [name for name, keys in expected.items() if 0 < len(keys) < 400]
    assert len(between) >= len(DEFINITIONS) // 2, {k: len(v) for k, v in expected.items()}
