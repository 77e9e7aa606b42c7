"""Every operator on every attribute type it supports, run on DuckDB against hand-checked answers.

The database is built by hand in a fixture: 14 customers ``c01`` … ``c14`` whose values sit on the
edges the rules of DESIGN §1.1–1.2 care about (NULL, empty and blank strings, boundary numbers and
dates, unicode, ``%`` and ``_``), a per-customer table where some customers have no row, and a
few orders with line items. "Today" is fixed at 2024-03-15 (a leap year: 2024-02-29 exists).

Every expected set below was worked out by hand from the rows in ``CUSTOMERS``, ``ATTRIBUTES``,
``ORDERS`` and ``ITEMS``; none is computed by the code under test. ``test_every_operator_type_pair
_is_covered`` fails when an operator (or a type for one) is added without a case here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from spark_engine import ENGINES, open_engine

from herald.core.catalog import Catalog
from herald.core.segments import Segment, compile_segment, parse_segment
from herald.core.segments.operators import OPERATORS, lookup_operator
from herald.engines.base import Engine
from herald.exceptions import SegmentError

FIXED_DATE = dt.date(2024, 3, 15)
D = dt.date
T = dt.datetime
MAX_DECIMAL = Decimal("999999999999999999999999999999999999.99")  # the largest DECIMAL(38,2)

# amperity_id, is_vip, signup_date, last_seen_at, balance, visits, nickname
CUSTOMERS: list[tuple[Any, ...]] = [
    ("c01", True, D(2024, 3, 15), T(2024, 3, 15, 8, 30), Decimal("100.00"), 10, "Alice"),
    ("c02", False, D(2024, 3, 14), T(2024, 3, 14, 23, 59, 59), Decimal("99.99"), 9, "alice"),
    ("c03", None, None, None, None, None, None),
    ("c04", True, D(2024, 3, 5), T(2024, 3, 5), Decimal("0.00"), 0, ""),
    ("c05", False, D(2024, 2, 15), T(2024, 2, 15, 12), Decimal("-5.50"), -3, "   "),
    ("c06", True, D(2023, 3, 15), T(2023, 3, 15, 18), Decimal("100.01"), 11, "50% off"),
    ("c07", None, D(2024, 3, 16), T(2024, 3, 16), Decimal("200.00"), 20, "5000 off"),
    ("c08", False, D(2000, 1, 1), T(2000, 1, 1), MAX_DECIMAL, 2147483647, "a_b"),
    ("c09", True, D(1900, 1, 1), T(1970, 1, 1), Decimal("-0.01"), -2147483648, "aXb"),
    (
        "c10",
        False,
        D(2024, 2, 29),
        T(2024, 2, 29, 23, 59, 59, 999999),
        Decimal("50.00"),
        5,
        "Zoë 東京 🎉",
    ),
    ("c11", True, D(2024, 1, 1), T(2024, 1, 1), Decimal("150.00"), 15, " Alice "),
    ("c12", None, None, None, None, None, "\t\n"),
    ("c13", False, D(2024, 3, 10), T(2024, 3, 15, 23, 59, 59), Decimal("1.00"), 1, "Bob"),
    ("c14", True, D(9999, 12, 31), T(2024, 3, 15), Decimal("100.00"), 10, "ALICE"),
]

# A per-customer table: c07, c08, c09, c11, c12 and c14 have no row; c03 has a row of NULLs;
# a row with a NULL key must not disturb anything.
# amperity_id, is_opted_in, tier, points, joined_on
ATTRIBUTES: list[tuple[Any, ...]] = [
    ("c01", True, "Gold", 100, D(2020, 1, 1)),
    ("c02", False, "Silver", 50, D(2021, 6, 1)),
    ("c03", None, None, None, None),
    ("c04", True, "", 0, D(2024, 3, 15)),
    ("c05", False, "Gold", None, None),
    ("c06", True, "Platinum", 500, D(2019, 12, 31)),
    ("c10", None, "Bronze", 10, D(2023, 5, 5)),
    ("c13", False, "  ", 0, D(2022, 2, 2)),
    (None, True, "Gold", 1, D(2020, 1, 1)),
]

# amperity_id, order_id, order_datetime, order_revenue, purchase_channel.
# Customers without orders: c03, c05, c07, c08, c09, c11, c12, c13, c14.
# o10 is an orphan order with no customer key (dirty data happens).
ORDERS: list[tuple[Any, ...]] = [
    ("c01", "o1", T(2024, 3, 10, 10), Decimal("50.00"), "Online"),
    ("c01", "o2", T(2023, 1, 10, 9), Decimal("20.00"), "Store"),
    ("c02", "o3", T(2024, 3, 15, 9), Decimal("300.00"), "Online"),
    ("c02", "o4", T(2024, 3, 1, 12), Decimal("10.00"), "Mobile App"),
    ("c04", "o5", T(2022, 6, 1, 12), Decimal("80.00"), "Store"),
    ("c06", "o6", T(2024, 2, 15), Decimal("40.00"), "Online"),
    ("c06", "o7", T(2024, 2, 16), Decimal("40.00"), "Online"),
    ("c06", "o8", T(2024, 2, 17), Decimal("40.00"), None),
    ("c10", "o9", T(2023, 3, 15), Decimal("5.00"), "Store"),
    (None, "o10", T(2024, 3, 1), Decimal("999.00"), "Online"),
]

# amperity_id, order_id, product_category, item_quantity, item_revenue, is_return (o9 has no items)
ITEMS: list[tuple[Any, ...]] = [
    ("c01", "o1", "Shoes", 1, Decimal("50.00"), False),
    ("c01", "o2", "Socks", 2, Decimal("20.00"), False),
    ("c02", "o3", "Shoes", 1, Decimal("100.00"), False),
    ("c02", "o3", "Bags", 1, Decimal("200.00"), False),
    ("c02", "o4", "Socks", 1, Decimal("10.00"), True),
    ("c04", "o5", "Shoes", 1, Decimal("80.00"), True),
    ("c06", "o6", "Shoes", 2, Decimal("40.00"), False),
    ("c06", "o7", "Socks", 1, Decimal("40.00"), False),
    ("c06", "o8", "Hats", 1, Decimal("40.00"), None),
    (None, "o10", "Shoes", 1, Decimal("999.00"), False),
]

ALL = frozenset(f"c{i:02d}" for i in range(1, 15))


def ids(*numbers: int) -> frozenset[str]:
    return frozenset(f"c{n:02d}" for n in numbers)


def but(*numbers: int) -> frozenset[str]:
    return ALL - ids(*numbers)


def build_database(path: Path) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute(
            "CREATE TABLE Customer_360 (amperity_id VARCHAR, is_vip BOOLEAN, signup_date DATE, "
            "last_seen_at TIMESTAMP, balance DECIMAL(38,2), visits INTEGER, nickname VARCHAR)"
        )
        con.executemany("INSERT INTO Customer_360 VALUES (?, ?, ?, ?, ?, ?, ?)", CUSTOMERS)
        con.execute(
            "CREATE TABLE Customer_Attributes (amperity_id VARCHAR, is_opted_in BOOLEAN, "
            "tier VARCHAR, points INTEGER, joined_on DATE)"
        )
        con.executemany("INSERT INTO Customer_Attributes VALUES (?, ?, ?, ?, ?)", ATTRIBUTES)
        con.execute(
            "CREATE TABLE Unified_Transactions (amperity_id VARCHAR, order_id VARCHAR, "
            "order_datetime TIMESTAMP, order_revenue DECIMAL(38,2), purchase_channel VARCHAR)"
        )
        con.executemany("INSERT INTO Unified_Transactions VALUES (?, ?, ?, ?, ?)", ORDERS)
        con.execute(
            "CREATE TABLE Unified_Itemized_Transactions (amperity_id VARCHAR, order_id VARCHAR, "
            "order_datetime TIMESTAMP, product_category VARCHAR, item_quantity INTEGER, "
            "item_revenue DECIMAL(38,2), is_return BOOLEAN)"
        )
        when = {order_id: moment for _, order_id, moment, _, _ in ORDERS}
        con.executemany(
            "INSERT INTO Unified_Itemized_Transactions VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(key, order, when[order], *rest) for key, order, *rest in ITEMS],
        )
    finally:
        con.close()


@pytest.fixture(scope="module", params=ENGINES)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """The database on each engine: every case holds on DuckDB and on Spark (issue 15)."""
    path = tmp_path_factory.mktemp("matrix") / "customers.duckdb"
    build_database(path)
    with open_engine(request.param, path) as eng:
        yield eng


@pytest.fixture(scope="module")
def catalog(engine: Engine) -> Catalog:
    return engine.catalog()


def cond(
    attribute: str, op: str, value: Any = None, values: list[Any] | None = None
) -> dict[str, Any]:
    doc: dict[str, Any] = {"attribute": attribute, "op": op}
    if value is not None:
        doc["value"] = value
    if values is not None:
        doc["values"] = values
    return doc


def run(engine: Engine, catalog: Catalog, where: Any, resolver: Any = None) -> frozenset[str]:
    segment = parse_segment({"name": "under test", "where": where})
    query = compile_segment(
        segment, catalog, today=FIXED_DATE, resolve_segment=resolver, dialect=engine.dialect
    )
    keys = engine.query(query).column(0).to_pylist()
    assert len(keys) == len(set(keys)), f"duplicate customers in {keys}"
    return frozenset(keys)


# --- attribute conditions: (id, condition, expected customers) --------------------------------

C = "Customer_360."
A = "Customer_Attributes."

ATTRIBUTE_CASES: list[tuple[str, dict[str, Any], frozenset[str]]] = [
    # boolean
    ("bool-is_true", cond(C + "is_vip", "is true"), ids(1, 4, 6, 9, 11, 14)),
    ("bool-is_false", cond(C + "is_vip", "is false"), ids(2, 5, 8, 10, 13)),
    ("bool-is_null", cond(C + "is_vip", "is null"), ids(3, 7, 12)),
    ("bool-is_not_null", cond(C + "is_vip", "is not null"), but(3, 7, 12)),
    # date
    ("date-is-today", cond(C + "signup_date", "is", "today"), ids(1)),
    ("date-is-iso-leap-day", cond(C + "signup_date", "is", "2024-02-29"), ids(10)),
    ("date-is-yaml-date", cond(C + "signup_date", "=", D(2024, 3, 10)), ids(13)),
    ("date-is-yesterday", cond(C + "signup_date", "is", "yesterday"), ids(2)),
    ("date-is-10-days-ago", cond(C + "signup_date", "is", "10 days ago"), ids(4)),
    ("date-is-1-month-ago", cond(C + "signup_date", "is", "1 month ago"), ids(5)),
    ("date-is-1-year-ago", cond(C + "signup_date", "is", "1 year ago"), ids(6)),
    ("date-is_not-today", cond(C + "signup_date", "is not", "today"), but(1, 3, 12)),
    ("date-after-yesterday", cond(C + "signup_date", "after", "yesterday"), ids(1, 7, 14)),
    (
        "date-before-10-days-ago",
        cond(C + "signup_date", "before", "10 days ago"),
        ids(5, 6, 8, 9, 10, 11),
    ),
    (
        "date-on_or_after-10-days-ago",
        cond(C + "signup_date", "on or after", "10 days ago"),
        ids(1, 2, 4, 7, 13, 14),
    ),
    (
        "date-on_or_before-1-month-ago",
        cond(C + "signup_date", "on or before", "1 month ago"),
        ids(5, 6, 8, 9, 11),
    ),
    (
        "date-between-excludes-ends",
        cond(C + "signup_date", "between", values=["2024-02-15", "2024-03-15"]),
        ids(2, 4, 10, 13),
    ),
    (
        "date-not_between-includes-ends",
        cond(C + "signup_date", "not between", values=["2024-02-15", "2024-03-15"]),
        ids(1, 5, 6, 7, 8, 9, 11, 14),
    ),
    ("date-is_null", cond(C + "signup_date", "is null"), ids(3, 12)),
    ("date-is_not_null", cond(C + "signup_date", "is not null"), but(3, 12)),
    # datetime compared with dates: truncated to the day
    ("datetime-is-today", cond(C + "last_seen_at", "is", "today"), ids(1, 13, 14)),
    ("datetime-is-yesterday", cond(C + "last_seen_at", "is", "yesterday"), ids(2)),
    (
        "datetime-is_not-today",
        cond(C + "last_seen_at", "is not", "today"),
        ids(2, 4, 5, 6, 7, 8, 9, 10, 11),
    ),
    ("datetime-after-today", cond(C + "last_seen_at", "after", "today"), ids(7)),
    (
        "datetime-before-yesterday",
        cond(C + "last_seen_at", "before", "yesterday"),
        ids(4, 5, 6, 8, 9, 10, 11),
    ),
    (
        "datetime-on_or_after-yesterday",
        cond(C + "last_seen_at", "on or after", "yesterday"),
        ids(1, 2, 7, 13, 14),
    ),
    (
        "datetime-on_or_before-10-days-ago",
        cond(C + "last_seen_at", "on or before", "10 days ago"),
        ids(4, 5, 6, 8, 9, 10, 11),
    ),
    (
        "datetime-between-dates-excludes-end-days",
        cond(C + "last_seen_at", "between", values=["2024-02-29", "2024-03-15"]),
        ids(2, 4),
    ),
    (
        "datetime-not_between-dates",
        cond(C + "last_seen_at", "not between", values=["2024-02-29", "2024-03-15"]),
        ids(1, 5, 6, 7, 8, 9, 10, 11, 13, 14),
    ),
    ("datetime-is_null", cond(C + "last_seen_at", "is null"), ids(3, 12)),
    ("datetime-is_not_null", cond(C + "last_seen_at", "is not null"), but(3, 12)),
    # datetime compared with datetimes: to the second
    ("datetime-is-moment", cond(C + "last_seen_at", "is", "2024-03-15 08:30:00"), ids(1)),
    ("datetime-is-yaml-datetime", cond(C + "last_seen_at", "is", T(2024, 3, 5)), ids(4)),
    (
        "datetime-is-offset-text-means-utc",
        cond(C + "last_seen_at", "is", "2024-03-15T10:30:00+02:00"),
        ids(1),
    ),
    (
        "datetime-is-aware-datetime-means-utc",
        cond(
            C + "last_seen_at",
            "is",
            T(2024, 3, 15, 3, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        ),
        ids(1),
    ),
    ("datetime-after-moment", cond(C + "last_seen_at", "after", "2024-03-15 08:30:00"), ids(7, 13)),
    (
        "datetime-before-midnight",
        cond(C + "last_seen_at", "before", "2024-03-05 00:00:00"),
        ids(5, 6, 8, 9, 10, 11),
    ),
    (
        "datetime-on_or_before-midnight",
        cond(C + "last_seen_at", "on or before", "2024-03-05T00:00:00"),
        ids(4, 5, 6, 8, 9, 10, 11),
    ),
    (
        "datetime-on_or_after-moment",
        cond(C + "last_seen_at", "on or after", "2024-03-15 08:30:00"),
        ids(1, 7, 13),
    ),
    (
        "datetime-between-moments-excludes-ends",
        cond(C + "last_seen_at", "between", values=["2024-03-14 23:59:59", "2024-03-15 08:30:00"]),
        ids(14),
    ),
    (
        "datetime-not_between-moments",
        cond(
            C + "last_seen_at", "not between", values=["2024-03-14 23:59:59", "2024-03-15 08:30:00"]
        ),
        ids(1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 13),
    ),
    (
        "datetime-between-date-and-moment",
        cond(C + "last_seen_at", "between", values=["2024-03-15", "2024-03-15 12:00:00"]),
        ids(1),
    ),
    # decimal
    ("decimal-is", cond(C + "balance", "is", 100), ids(1, 14)),
    ("decimal-is-cents", cond(C + "balance", "=", 99.99), ids(2)),
    ("decimal-is_not", cond(C + "balance", "is not", 100), ids(2, 4, 5, 6, 7, 8, 9, 10, 11, 13)),
    ("decimal-greater_than", cond(C + "balance", ">", 100), ids(6, 7, 8, 11)),
    (
        "decimal-greater_than_or_equal",
        cond(C + "balance", "greater than or equal", 100),
        ids(1, 6, 7, 8, 11, 14),
    ),
    ("decimal-less_than", cond(C + "balance", "less than", 0), ids(5, 9)),
    ("decimal-less_than_or_equal", cond(C + "balance", "≤", 0), ids(4, 5, 9)),
    (
        "decimal-between-excludes-ends",
        cond(C + "balance", "between", values=[99.99, 100.01]),
        ids(1, 14),
    ),
    (
        "decimal-not_between-includes-ends",
        cond(C + "balance", "not between", values=[99.99, 100.01]),
        ids(2, 4, 5, 6, 7, 8, 9, 10, 11, 13),
    ),
    ("decimal-in_list", cond(C + "balance", "in list", values=[100, -5.5, 1]), ids(1, 5, 13, 14)),
    (
        "decimal-not_in_list",
        cond(C + "balance", "not in list", values=[100, -5.5, 1]),
        ids(2, 4, 6, 7, 8, 9, 10, 11),
    ),
    (
        "decimal-greater_than-near-max",
        cond(C + "balance", ">", Decimal("999999999999999999999999999999999999.98")),
        ids(8),
    ),
    ("decimal-is_null", cond(C + "balance", "is null"), ids(3, 12)),
    ("decimal-is_not_null", cond(C + "balance", "is not null"), but(3, 12)),
    # integer
    ("integer-is", cond(C + "visits", "is", 10), ids(1, 14)),
    ("integer-is_not", cond(C + "visits", "≠", 10), ids(2, 4, 5, 6, 7, 8, 9, 10, 11, 13)),
    ("integer-greater_than", cond(C + "visits", "is greater than", 10), ids(6, 7, 8, 11)),
    ("integer-greater_than_or_equal", cond(C + "visits", ">=", 10), ids(1, 6, 7, 8, 11, 14)),
    ("integer-less_than", cond(C + "visits", "<", 0), ids(5, 9)),
    ("integer-less_than_or_equal", cond(C + "visits", "less than or equal", 0), ids(4, 5, 9)),
    ("integer-between-excludes-ends", cond(C + "visits", "between", values=[9, 11]), ids(1, 14)),
    (
        "integer-between-int32-bounds",
        cond(C + "visits", "between", values=[-2147483648, 2147483647]),
        ids(1, 2, 4, 5, 6, 7, 10, 11, 13, 14),
    ),
    (
        "integer-not_between-includes-ends",
        cond(C + "visits", "not between", values=[9, 11]),
        ids(2, 4, 5, 6, 7, 8, 9, 10, 11, 13),
    ),
    ("integer-in_list", cond(C + "visits", "in", values=[10, -3, 1]), ids(1, 5, 13, 14)),
    (
        "integer-not_in_list",
        cond(C + "visits", "not in list", values=[10, -3, 1]),
        ids(2, 4, 6, 7, 8, 9, 10, 11),
    ),
    ("integer-is_null", cond(C + "visits", "is null"), ids(3, 12)),
    ("integer-is_not_null", cond(C + "visits", "is not null"), but(3, 12)),
    # string: case-sensitive, no trimming, % and _ literal
    ("string-contains-case-sensitive", cond(C + "nickname", "contains", "lic"), ids(1, 2, 11)),
    ("string-contains-percent", cond(C + "nickname", "contains", "50%"), ids(6)),
    ("string-contains-underscore", cond(C + "nickname", "contains", "a_b"), ids(8)),
    ("string-contains-emoji", cond(C + "nickname", "contains", "東京"), ids(10)),
    (
        "string-does_not_contain",
        cond(C + "nickname", "does not contain", "lic"),
        ids(4, 5, 6, 7, 8, 9, 10, 12, 13, 14),
    ),
    ("string-does_not_contain-percent", cond(C + "nickname", "does not contain", "%"), but(3, 6)),
    ("string-starts_with", cond(C + "nickname", "starts with", "A"), ids(1, 14)),
    ("string-starts_with-percent", cond(C + "nickname", "starts with", "50%"), ids(6)),
    ("string-starts_with-underscore", cond(C + "nickname", "starts with", "a_"), ids(8)),
    ("string-ends_with", cond(C + "nickname", "ends with", "off"), ids(6, 7)),
    ("string-ends_with-underscore", cond(C + "nickname", "ends with", "_b"), ids(8)),
    ("string-ends_with-emoji", cond(C + "nickname", "ends with", "🎉"), ids(10)),
    ("string-is_exactly", cond(C + "nickname", "is exactly", "Alice"), ids(1)),
    ("string-is_exactly-no-trim", cond(C + "nickname", "is exactly", " Alice "), ids(11)),
    ("string-is_exactly-empty", cond(C + "nickname", "is exactly", ""), ids(4)),
    ("string-is_exactly-unicode", cond(C + "nickname", "is exactly", "Zoë 東京 🎉"), ids(10)),
    ("string-is_not_exactly", cond(C + "nickname", "is not exactly", "Alice"), but(1, 3)),
    ("string-in_list", cond(C + "nickname", "in list", values=["Alice", "Bob"]), ids(1, 13)),
    (
        "string-not_in_list",
        cond(C + "nickname", "not in list", values=["Alice", "Bob"]),
        but(1, 3, 13),
    ),
    ("string-is_empty", cond(C + "nickname", "is empty"), ids(3, 4, 5, 12)),
    ("string-is_not_empty", cond(C + "nickname", "is not empty"), but(3, 4, 5, 12)),
    ("string-is_null", cond(C + "nickname", "is null"), ids(3)),
    ("string-is_not_null-includes-blanks", cond(C + "nickname", "is not null"), but(3)),
    # names are case-insensitive; a bare column is on the base table
    ("bare-column-on-base-table", cond("visits", "is", 10), ids(1, 14)),
    ("case-insensitive-names", cond("customer_360.VISITS", "is", 10), ids(1, 14)),
    # per-customer table: a customer without a row is NULL in every column
    ("per-customer-bool-is_true", cond(A + "is_opted_in", "is true"), ids(1, 4, 6)),
    (
        "per-customer-bool-is_false-no-row-not-selected",
        cond(A + "is_opted_in", "is false"),
        ids(2, 5, 13),
    ),
    (
        "per-customer-bool-is_null-no-row-selected",
        cond(A + "is_opted_in", "is null"),
        ids(3, 7, 8, 9, 10, 11, 12, 14),
    ),
    (
        "per-customer-bool-is_not_null",
        cond(A + "is_opted_in", "is not null"),
        ids(1, 2, 4, 5, 6, 13),
    ),
    (
        "per-customer-string-is_empty",
        cond(A + "tier", "is empty"),
        ids(3, 4, 7, 8, 9, 11, 12, 13, 14),
    ),
    ("per-customer-string-is_not_empty", cond(A + "tier", "is not empty"), ids(1, 2, 5, 6, 10)),
    ("per-customer-string-is_exactly", cond(A + "tier", "is exactly", "Gold"), ids(1, 5)),
    (
        "per-customer-string-not_in_list",
        cond(A + "tier", "not in list", values=["Gold"]),
        ids(2, 4, 6, 10, 13),
    ),
    ("per-customer-integer-greater_than", cond(A + "points", ">", 0), ids(1, 2, 6, 10)),
    ("per-customer-integer-is_not", cond(A + "points", "is not", 0), ids(1, 2, 6, 10)),
    ("per-customer-integer-is_null", cond(A + "points", "is null"), ids(3, 5, 7, 8, 9, 11, 12, 14)),
    ("per-customer-date-before", cond(A + "joined_on", "before", "2021-01-01"), ids(1, 6)),
    ("per-customer-date-is-today", cond(A + "joined_on", "is", "today"), ids(4)),
]


@pytest.mark.parametrize(
    ("condition", "expected"), [pytest.param(c, e, id=i) for i, c, e in ATTRIBUTE_CASES]
)
def test_attribute_condition(
    engine: Engine, catalog: Catalog, condition: dict[str, Any], expected: frozenset[str]
) -> None:
    assert run(engine, catalog, {"all": [condition]}) == expected


# --- groups: `not` is a complement over all customers ----------------------------------------

GROUP_CASES: list[tuple[str, Any, frozenset[str]]] = [
    ("not-contains-keeps-nulls", {"not": [cond(C + "nickname", "contains", "lic")]}, but(1, 2, 11)),
    ("not-greater_than-keeps-nulls", {"not": [cond(C + "visits", ">", 10)]}, but(6, 7, 8, 11)),
    ("not-is_true-keeps-nulls", {"not": [cond(C + "is_vip", "is true")]}, but(1, 4, 6, 9, 11, 14)),
    (
        "not-of-all",
        {"not": [cond(C + "is_vip", "is true"), cond(C + "visits", ">=", 10)]},
        but(1, 6, 11, 14),
    ),
    ("not-per-customer-keeps-no-row", {"not": [cond(A + "tier", "is exactly", "Gold")]}, but(1, 5)),
    (
        "not-per-customer-is_null",
        {"not": [cond(A + "is_opted_in", "is null")]},
        ids(1, 2, 4, 5, 6, 13),
    ),
    ("not-not", {"not": [{"not": [cond(C + "is_vip", "is true")]}]}, ids(1, 4, 6, 9, 11, 14)),
    (
        "any",
        {"any": [cond(C + "nickname", "starts with", "A"), cond(C + "visits", "<", 0)]},
        ids(1, 5, 9, 14),
    ),
    (
        "all-any-not-nested",
        {
            "all": [
                {"any": [cond(C + "nickname", "starts with", "A"), cond(C + "visits", "<", 0)]},
                {"not": [cond(C + "is_vip", "is false")]},
            ]
        },
        ids(1, 9, 14),
    ),
    (
        "list-is-all",
        [cond(C + "is_vip", "is true"), cond(A + "is_opted_in", "is true")],
        ids(1, 4, 6),
    ),
    (
        "any-across-tables",
        {"any": [cond(A + "is_opted_in", "is false"), cond(C + "nickname", "is empty")]},
        ids(2, 3, 4, 5, 12, 13),
    ),
]


@pytest.mark.parametrize(
    ("where", "expected"), [pytest.param(w, e, id=i) for i, w, e in GROUP_CASES]
)
def test_group(engine: Engine, catalog: Catalog, where: Any, expected: frozenset[str]) -> None:
    assert run(engine, catalog, where) == expected


def test_no_where_is_every_customer(engine: Engine, catalog: Catalog) -> None:
    query = compile_segment(Segment("everyone"), catalog, today=FIXED_DATE)
    assert frozenset(engine.query(query).column(0).to_pylist()) == ALL


# --- segment membership ----------------------------------------------------------------------

OTHER_SEGMENTS = {
    "Vips": {"name": "Vips", "status": "active", "where": {"all": [cond(C + "is_vip", "is true")]}},
    "Big Spenders": {
        "name": "Big Spenders",
        "status": "active",
        "where": [cond(C + "balance", ">=", 100)],
    },
    "Both": {
        "name": "Both",
        "status": "active",
        "where": {"all": [{"segment": "Vips"}, {"segment": "Big Spenders"}]},
    },
    "Sql Vips": {
        "name": "Sql Vips",
        "status": "active",
        "sql": "SELECT amperity_id FROM Customer_360 WHERE is_vip",
    },
    "Opted Out": {
        "name": "Opted Out",
        "status": "active",
        "where": {"not": [cond(A + "is_opted_in", "is true")]},
    },
}


def resolve(name: str) -> Segment:
    if name not in OTHER_SEGMENTS:
        raise SegmentError(f"no segment named '{name}'")
    return parse_segment(OTHER_SEGMENTS[name])


SEGMENT_CASES: list[tuple[str, Any, frozenset[str]]] = [
    ("in", {"segment": "Vips"}, ids(1, 4, 6, 9, 11, 14)),
    ("in-explicit-op", {"segment": "Vips", "op": "in"}, ids(1, 4, 6, 9, 11, 14)),
    ("not-in-keeps-nulls", {"segment": "Vips", "op": "not in"}, ids(2, 3, 5, 7, 8, 10, 12, 13)),
    ("in-nested-segment", {"segment": "Both"}, ids(1, 6, 11, 14)),
    ("not-in-nested-segment", {"segment": "Both", "op": "not_in"}, but(1, 6, 11, 14)),
    ("in-sql-segment", {"segment": "Sql Vips"}, ids(1, 4, 6, 9, 11, 14)),
    ("not-in-sql-segment", {"segment": "Sql Vips", "op": "not in"}, ids(2, 3, 5, 7, 8, 10, 12, 13)),
    (
        "in-and-not-in",
        {"all": [{"segment": "Vips"}, {"segment": "Big Spenders", "op": "not in"}]},
        ids(4, 9),
    ),
    ("in-complement-segment", {"segment": "Opted Out"}, but(1, 4, 6)),
    ("not-in-complement-segment", {"segment": "Opted Out", "op": "not in"}, ids(1, 4, 6)),
]


@pytest.mark.parametrize(
    ("where", "expected"), [pytest.param(w, e, id=i) for i, w, e in SEGMENT_CASES]
)
def test_segment_membership(
    engine: Engine, catalog: Catalog, where: Any, expected: frozenset[str]
) -> None:
    assert run(engine, catalog, where, resolve) == expected


# --- purchase behaviour (today 2024-03-15) ----------------------------------------------------

BUYERS = ids(1, 2, 4, 6, 10)
TX = "Unified_Transactions."
IT = "Unified_Itemized_Transactions."

PURCHASE_CASES: list[tuple[str, Any, frozenset[str]]] = [
    ("has_purchased", {"has_purchased": {}}, BUYERS),
    ("has_purchased-null-body", {"has_purchased": None}, BUYERS),
    ("has_not_purchased", {"has_not_purchased": {}}, ALL - BUYERS),
    ("within-30-days", {"has_purchased": {"within": "30 days"}}, ids(1, 2, 6)),
    ("within-1-week", {"has_purchased": {"within": "1 week"}}, ids(1, 2)),
    ("within-1-year-includes-start-day", {"has_purchased": {"within": "1 year"}}, ids(1, 2, 6, 10)),
    ("not-within-1-year", {"has_not_purchased": {"within": "1 year"}}, but(1, 2, 6, 10)),
    ("not-group-of-purchase", {"not": [{"has_purchased": {"within": "30 days"}}]}, but(1, 2, 6)),
    ("since", {"has_purchased": {"since": "2024-02-16"}}, ids(1, 2, 6)),
    ("until-includes-day", {"has_purchased": {"until": "2024-02-15"}}, ids(1, 4, 6, 10)),
    (
        "since-until-one-day",
        {"has_purchased": {"since": "2024-02-16", "until": "2024-02-16"}},
        ids(6),
    ),
    (
        "since-until-relative",
        {"has_purchased": {"since": "1 year ago", "until": "1 month ago"}},
        ids(6, 10),
    ),
    ("since-yaml-date", {"has_purchased": {"since": D(2024, 3, 15)}}, ids(2)),
    (
        "transaction-filter",
        {"has_purchased": {"where": [cond(TX + "purchase_channel", "is exactly", "Online")]}},
        ids(1, 2, 6),
    ),
    (
        "transaction-filter-is_null",
        {"has_purchased": {"where": [cond(TX + "purchase_channel", "is null")]}},
        ids(6),
    ),
    (
        "item-filter",
        {"has_purchased": {"where": [cond(IT + "product_category", "is exactly", "Shoes")]}},
        ids(1, 2, 4, 6),
    ),
    (
        "item-filters-all",
        {
            "has_purchased": {
                "where": {
                    "all": [
                        cond(IT + "product_category", "is exactly", "Shoes"),
                        cond(IT + "is_return", "is false"),
                    ]
                }
            }
        },
        ids(1, 2, 6),
    ),
    (
        "item-filter-not-keeps-null-rows",
        {"has_purchased": {"where": {"not": [cond(IT + "is_return", "is true")]}}},
        ids(1, 2, 6),
    ),
    (
        "item-and-transaction-filters-join-on-order",
        {
            "has_purchased": {
                "where": [
                    cond(IT + "product_category", "is exactly", "Socks"),
                    cond(TX + "purchase_channel", "is exactly", "Online"),
                ]
            }
        },
        ids(6),
    ),
    (
        "item-and-transaction-filters-within",
        {
            "has_purchased": {
                "within": "30 days",
                "where": [
                    cond(IT + "product_category", "is exactly", "Shoes"),
                    cond(TX + "purchase_channel", "in list", values=["Online", "Mobile App"]),
                ],
            }
        },
        ids(1, 2, 6),
    ),
    (
        "item-filter-within",
        {
            "has_purchased": {
                "within": "7 days",
                "where": [cond(IT + "product_category", "is exactly", "Shoes")],
            }
        },
        ids(1, 2),
    ),
    ("min_count-2", {"has_purchased": {"min_count": 2}}, ids(1, 2, 6)),
    ("min_count-3", {"has_purchased": {"min_count": 3}}, ids(6)),
    ("min_count-2-within", {"has_purchased": {"min_count": 2, "within": "30 days"}}, ids(2, 6)),
    (
        "min_count-2-item-filter-counts-orders",
        {"has_purchased": {"min_count": 2, "where": [cond(IT + "is_return", "is false")]}},
        ids(1, 6),
    ),
    (
        "min_count-2-join-counts-orders-not-items",
        {
            "has_purchased": {
                "min_count": 2,
                "where": [
                    cond(IT + "product_category", "in list", values=["Shoes", "Bags"]),
                    cond(TX + "purchase_channel", "is not empty"),
                ],
            }
        },
        frozenset(),
    ),
    ("min_total-100", {"has_purchased": {"min_total": 100}}, ids(2, 6)),
    ("min_total-includes-equal", {"has_purchased": {"min_total": 70}}, ids(1, 2, 4, 6)),
    ("min_total-cents", {"has_purchased": {"min_total": 70.01}}, ids(2, 4, 6)),
    (
        "min_total-item-revenue",
        {
            "has_purchased": {
                "min_total": 100,
                "where": [cond(IT + "product_category", "is exactly", "Shoes")],
            }
        },
        ids(2),
    ),
    ("min_count-and-min_total", {"has_purchased": {"min_count": 2, "min_total": 100}}, ids(2, 6)),
    (
        "has_not_purchased-filtered-within",
        {
            "has_not_purchased": {
                "within": "30 days",
                "where": [cond(TX + "purchase_channel", "is exactly", "Online")],
            }
        },
        but(1, 2, 6),
    ),
    ("has_not_purchased-min_count", {"has_not_purchased": {"min_count": 2}}, but(1, 2, 6)),
    (
        "purchase-and-attribute",
        {"all": [{"has_purchased": {}}, cond(C + "is_vip", "is true")]},
        ids(1, 4, 6),
    ),
]


@pytest.mark.parametrize(
    ("where", "expected"), [pytest.param(w, e, id=i) for i, w, e in PURCHASE_CASES]
)
def test_purchase(engine: Engine, catalog: Catalog, where: Any, expected: frozenset[str]) -> None:
    assert run(engine, catalog, where) == expected


# --- coverage: every (operator, type) pair has a case ----------------------------------------


def _covered_pairs(catalog: Catalog) -> set[tuple[str, str]]:
    covered = set()
    for _, condition, _ in ATTRIBUTE_CASES:
        table, _, column = condition["attribute"].rpartition(".")
        col = catalog.table(table or "Customer_360").column(column)  # type: ignore[union-attr]
        op = lookup_operator(condition["op"])
        assert op is not None
        assert col is not None
        assert col.type is not None
        covered.add((op.name, col.type))
    return covered


def test_every_operator_type_pair_is_covered(catalog: Catalog) -> None:
    wanted = {(op.name, attr_type) for op in OPERATORS.values() for attr_type in op.types}
    missing = sorted(wanted - _covered_pairs(catalog))
    assert not missing, f"operator/type pairs without a case in ATTRIBUTE_CASES: {missing}"


def test_fixture_has_one_column_of_each_type(catalog: Catalog) -> None:
    base = catalog.table("Customer_360")
    assert base is not None
    types = {c.name: c.type for c in base.columns.values()}
    assert types == {
        "amperity_id": "string",
        "is_vip": "boolean",
        "signup_date": "date",
        "last_seen_at": "datetime",
        "balance": "decimal",
        "visits": "integer",
        "nickname": "string",
    }
