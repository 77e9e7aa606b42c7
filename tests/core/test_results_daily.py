"""The daily conversion query on hand-made rows: each recipient counted once, on the day of their
first order in the window; the running total ends at the results query's purchasers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pytest

from herald.core.catalog import Catalog
from herald.core.results.query import LOG_TABLE, daily_query, results_query

LAUNCH = dt.date(2026, 5, 1)

# run, sub-audience, group, control, destination, delivered at, launch date, key
LOG = [
    ("r1", "S", "T", False, "files", "2026-04-30 10:00", LAUNCH, "a"),
    ("r1", "S", "T", False, "klaviyo", "2026-04-30 10:00", LAUNCH, "a"),  # a second destination
    ("r1", "S", "T", False, "files", "2026-04-30 10:00", LAUNCH, "b"),
    ("r1", "S", "T", False, "files", "2026-04-30 10:00", LAUNCH, "f"),  # never buys
    ("r1", "S", "C", True, None, "2026-04-30 10:00", LAUNCH, "c"),
    ("r2", "S", "T", False, "files", "2026-05-08 10:00", None, "a"),  # again, a week later
    ("r2", "S", "T", False, "files", "2026-05-08 10:00", None, "d"),
]
# key, order time
ORDERS = [
    ("a", "2026-05-01 00:00:00"),  # day 0 of r1's window
    ("a", "2026-05-03 09:00:00"),  # a second order: a counts on day 0 only
    ("a", "2026-05-09 09:00:00"),  # r2's window (05-08 on): day 1 there
    ("b", "2026-04-30 23:59:59"),  # before the window: not a purchase
    ("b", "2026-05-30 23:59:59"),  # the window's last day, 29
    ("c", "2026-05-03 08:00:00"),  # day 2
    ("c", "2026-05-31 00:00:00"),  # at the window's end: out
    ("d", "2026-05-08 00:00:00"),  # day 0 of r2's window
    ("z", "2026-05-03 00:00:00"),  # not a recipient
]


def catalog() -> Catalog:
    return Catalog.from_columns(
        [
            ("Unified_Transactions", name, None, kind)
            for name, kind in (
                ("amperity_id", "VARCHAR"),
                ("order_datetime", "TIMESTAMP"),
                ("order_revenue", "DECIMAL(18,2)"),
            )
        ]
    )


@pytest.fixture(scope="module")
def con() -> Any:
    con = duckdb.connect()
    con.execute(
        f'CREATE TABLE {LOG_TABLE} (run_id VARCHAR, sub_audience VARCHAR, "group" VARCHAR, '
        "is_control BOOLEAN, destination VARCHAR, delivered_at TIMESTAMP, launch_date DATE, "
        "amperity_id VARCHAR)"
    )
    con.executemany(f"INSERT INTO {LOG_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?)", LOG)
    con.execute(
        "CREATE TABLE Unified_Transactions (amperity_id VARCHAR, order_datetime TIMESTAMP, "
        "order_revenue DECIMAL(18,2))"
    )
    con.executemany("INSERT INTO Unified_Transactions VALUES (?, ?, 1.00)", ORDERS)
    yield con
    con.close()


def rows(con: Any, query: Any) -> list[dict[str, Any]]:
    cursor = con.execute(query.sql("duckdb"))
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def daily(con: Any, *, per_run: bool, as_of: dt.datetime = dt.datetime(2026, 7, 1)) -> Any:
    query = daily_query(catalog(), window_days=30, as_of=as_of, per_run=per_run)
    return [
        (r.get("run_id"), r["group"], r["day"], r["customers"], r["cumulative"], r["recipients"])
        for r in rows(con, query)
    ]


def test_per_run_first_order_day_and_running_total(con: Any) -> None:
    assert daily(con, per_run=True) == [
        ("r1", "C", 2, 1, 1, 1),
        ("r1", "T", 0, 1, 1, 3),  # a, once, on day 0
        ("r1", "T", 29, 1, 2, 3),  # b on the last day
        ("r1", "T", None, 1, None, 3),  # f never bought
        ("r2", "T", 0, 1, 1, 2),  # d
        ("r2", "T", 1, 1, 2, 2),  # a again, from r2's own start (its delivery day)
    ]


def test_pooled_counts_a_customer_once_in_their_first_run(con: Any) -> None:
    assert [r for r in daily(con, per_run=False) if r[1] == "T"] == [
        (None, "T", 0, 2, 2, 4),  # a (r1's day 0) and d (r2's day 0)
        (None, "T", 29, 1, 3, 4),
        (None, "T", None, 1, None, 4),
    ]


def test_orders_from_as_of_on_do_not_count(con: Any) -> None:
    found = daily(con, per_run=True, as_of=dt.datetime(2026, 5, 3, 8, tzinfo=dt.UTC))
    assert ("r1", "C", None, 1, None, 1) in found  # c's order is at 08:00: not yet
    assert ("r1", "T", 29, 1, 2, 3) not in found


@pytest.mark.parametrize("per_run", [True, False])
def test_the_last_running_total_is_the_results_purchasers(con: Any, per_run: bool) -> None:
    as_of = dt.datetime(2026, 7, 1)
    sums = rows(con, results_query(catalog(), window_days=30, as_of=as_of, per_run=per_run))
    final: dict[Any, int] = {}
    for run, group, day, _, cumulative, _ in daily(con, per_run=per_run):
        if day is not None:
            final[(run, group)] = cumulative
    for row in sums:
        assert final.get((row.get("run_id"), row["group"]), 0) == row["purchasers"]
