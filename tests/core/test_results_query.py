"""The results query on hand-made rows whose figures are known: window edges, NULL revenue,
de-duplication, pooling, and the checks of the transactions table."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from herald.core.catalog import Catalog
from herald.core.results.query import LOG_TABLE, parse_window, results_query
from herald.exceptions import ConfigError

KEY = "customer key"  # a key that needs quoting
TX_COLUMNS = ((KEY, "VARCHAR"), ("order_datetime", "TIMESTAMP"), ("order_revenue", "DECIMAL(18,2)"))
LAUNCH = dt.date(2026, 5, 1)

# run, sub-audience, group, control, destination, delivered at, launch date, key
LOG = [
    ("r1", "S", "T", False, "files", "2026-04-30 10:00", LAUNCH, "a"),
    ("r1", "S", "T", False, "klaviyo", "2026-04-30 10:00", LAUNCH, "a"),  # a second destination
    ("r1", "S", "T", False, "files", "2026-04-30 10:00", LAUNCH, "b"),
    ("r1", "S", "C", True, None, "2026-04-30 10:00", LAUNCH, "c"),
    ("r2", "S", "T", False, "files", "2026-05-08 10:00", None, "a"),  # again, a week later
    ("r2", "S", "T", False, "files", "2026-05-08 10:00", None, "d"),
    ("r1", "S2", "C", True, None, "2026-04-30 10:00", LAUNCH, "e"),  # moves on to S in r2
    ("r2", "S", "T", False, "files", "2026-05-08 10:00", None, "e"),
]
# key, order time, revenue
ORDERS = [
    ("a", "2026-05-01 00:00:00", "10.10"),  # at the start: in the window
    ("a", "2026-05-30 23:59:59", None),  # an order without revenue: counts, for 0
    ("a", "2026-05-31 00:00:00", "1000.00"),  # at start + 30 days: out
    ("a", "2026-04-01 00:00:00", "5.05"),  # at start - 30 days: pre-period
    ("a", "2026-03-31 23:59:59", "7.00"),  # before the pre-period
    ("b", "2026-05-02 12:00:00", "0.01"),
    ("c", "2026-05-20 08:00:00", "3.30"),
    ("c", "2026-04-30 23:59:59", "2.20"),  # pre-period
    ("d", "2026-05-09 00:00:00", "4.00"),  # r2's window starts on its delivery day, 05-08
    ("e", "2026-05-10 00:00:00", "0.50"),
    ("z", "2026-05-03 00:00:00", "99.99"),  # not a recipient
    (None, "2026-05-03 00:00:00", "99.99"),  # nobody's
]


def catalog(columns: tuple[tuple[str, str], ...] = TX_COLUMNS, **roles: str) -> Catalog:
    return Catalog.from_columns(
        [("Unified_Transactions", name, None, kind) for name, kind in columns],
        customer_key=KEY,
        **roles,
    )


def results(
    per_run: bool,
    as_of: dt.datetime = dt.datetime(2026, 7, 1),
    *,
    time: str = "order_datetime",
    revenue: str = "order_revenue",
) -> dict[Any, Any]:
    con = duckdb.connect()
    con.execute(
        f'CREATE TABLE {LOG_TABLE} (run_id VARCHAR, sub_audience VARCHAR, "group" VARCHAR, '
        "is_control BOOLEAN, destination VARCHAR, delivered_at TIMESTAMP, launch_date DATE, "
        f'"{KEY}" VARCHAR)'
    )
    con.executemany(f"INSERT INTO {LOG_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?)", LOG)
    con.execute(
        f'CREATE TABLE Unified_Transactions ("{KEY}" VARCHAR, "{time}" TIMESTAMP, '
        f'"{revenue}" DECIMAL(18,2))'
    )
    con.executemany("INSERT INTO Unified_Transactions VALUES (?, ?, ?)", ORDERS)
    columns = ((KEY, "VARCHAR"), (time, "TIMESTAMP"), (revenue, "DECIMAL(18,2)"))
    roles = {"order_time_column": time, "order_revenue_column": revenue}
    query = results_query(catalog(columns, **roles), window_days=30, as_of=as_of, per_run=per_run)
    cursor = con.execute(query.sql("duckdb"))
    names = [d[0] for d in cursor.description or []]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    con.close()
    return {(r.get("run_id"), r["sub_audience"], r["group"]): r for r in rows}


def test_per_run_window_edges_null_revenue_and_one_row_per_recipient() -> None:
    found = results(per_run=True)
    r1_t = found[("r1", "S", "T")]
    assert (r1_t["recipients"], r1_t["purchasers"], r1_t["orders"]) == (2, 2, 3)
    assert r1_t["revenue_total"] == Decimal("10.11")  # 10.10 + NULL as 0 + 0.01
    assert r1_t["revenue_sq"] == pytest.approx(10.10**2 + 0.01**2)
    assert r1_t["pre_revenue"] == pytest.approx(5.05)
    assert r1_t["pre_revenue_sq"] == pytest.approx(5.05**2)
    assert r1_t["revenue_cross"] == pytest.approx(5.05 * 10.10)
    r1_c = found[("r1", "S", "C")]
    assert (r1_c["recipients"], r1_c["is_control"], r1_c["revenue_total"]) == (
        1,
        True,
        Decimal("3.30"),
    )
    assert r1_c["pre_revenue"] == pytest.approx(2.20)
    assert (r1_t["window_start"], r1_t["window_end"]) == (
        dt.datetime(2026, 5, 1),
        dt.datetime(2026, 5, 31),
    )
    r2 = found[("r2", "S", "T")]  # no launch date: from the delivery day, 00:00
    assert r2["window_start"] == dt.datetime(2026, 5, 8)
    # a: 05-30 (no revenue) and 05-31 (1000.00) fall in 05-08 … 06-07; d: 4.00
    assert (r2["recipients"], r2["orders"], r2["revenue_total"]) == (3, 4, Decimal("1004.50"))
    assert r2["pre_revenue"] == pytest.approx(10.10)  # a in 04-08 … 05-08 (not 04-01)


def test_pooled_counts_a_customer_once_in_their_first_run() -> None:
    found = results(per_run=False)
    treated = found[(None, "S", "T")]
    # a (from r1's window), b, d (from r2's): a's r2 row is left out, and e counts in S2 only
    assert (treated["recipients"], treated["orders"]) == (3, 4)
    assert treated["revenue_total"] == Decimal("14.11")
    moved = found[(None, "S2", "C")]
    assert (moved["recipients"], moved["orders"], moved["revenue_total"]) == (1, 1, Decimal("0.50"))
    assert treated["window_start"] == dt.datetime(2026, 5, 1)
    assert treated["window_end"] == dt.datetime(2026, 6, 7)  # the latest end: d's


def test_orders_from_as_of_on_do_not_count() -> None:
    found = results(per_run=True, as_of=dt.datetime(2026, 5, 2, 12, tzinfo=dt.UTC))
    assert found[("r1", "S", "T")]["revenue_total"] == Decimal("10.10")  # b's order is at 12:00
    assert found[("r1", "S", "C")]["purchasers"] == 0


def test_revenue_that_is_not_decimal_is_summed_exactly_in_cents() -> None:
    columns = (*TX_COLUMNS[:2], ("order_revenue", "DOUBLE"))
    sql = results_query(
        catalog(columns), window_days=7, as_of=dt.datetime(2026, 1, 1), per_run=False
    ).sql("duckdb")
    assert 'CAST("t"."order_revenue" AS DECIMAL(38, 2))' in sql
    assert "DECIMAL" not in results_query(
        catalog(), window_days=7, as_of=dt.datetime(2026, 1, 1), per_run=False
    ).sql("duckdb")


@pytest.mark.parametrize(
    ("columns", "needle"),
    [
        ((), "transactions table 'Unified_Transactions', which is not in the database"),
        (TX_COLUMNS[:2], "column 'order_revenue' in the transactions table"),
        (TX_COLUMNS[1:], f"column '{KEY}' in the transactions table"),
    ],
)
def test_a_missing_table_or_column_is_named(
    columns: tuple[tuple[str, str], ...], needle: str
) -> None:
    cat = catalog(columns) if columns else Catalog.from_columns([], customer_key=KEY)
    with pytest.raises(ConfigError, match=needle):
        results_query(cat, window_days=30, as_of=dt.datetime(2026, 1, 1), per_run=True)


def test_the_order_time_and_revenue_columns_are_the_configured_ones() -> None:
    renamed = results(per_run=True, time="Ordered At", revenue="amount")
    assert renamed == results(per_run=True)
    with pytest.raises(ConfigError, match=r"'order_datetime'.*set \[database\] order_time_column"):
        results_query(
            catalog(((KEY, "VARCHAR"), ("Ordered At", "TIMESTAMP"), ("amount", "DOUBLE"))),
            window_days=30,
            as_of=dt.datetime(2026, 1, 1),
            per_run=True,
        )


@pytest.mark.parametrize(("text", "days"), [("30d", 30), ("4w", 28), ("7", 7), ("14 days", 14)])
def test_parse_window(text: str, days: int) -> None:
    assert parse_window(text) == days


@pytest.mark.parametrize("text", ["", "0d", "30h", "-3d", "thirty", "9999d"])
def test_parse_window_refuses(text: str) -> None:
    with pytest.raises(ConfigError, match="write 30d"):
        parse_window(text)
