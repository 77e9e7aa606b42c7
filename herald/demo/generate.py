"""Generate a synthetic customer 360 database (DuckDB) with Amperity's standard tables.

The database is built entirely inside DuckDB with SQL: customers are ``range(customers)`` (kept
in a temporary plan table), orders are the customers' rows unnested, line items are the orders'
rows unnested. Every pseudo-random value is derived from ``hash(row_index, seed, 'purpose')``
(never from ``random()``, whose sequence depends on how DuckDB schedules threads), so the same
seed, as-of date and sizes give the same table contents on every run. The summary tables
(``Transaction_Attributes_Extended`` and the summary columns of ``Customer_360``) are computed
from the transactions, never drawn.

The data is deliberately dirty in the ways real customer data is: missing, malformed, shared and
oddly cased emails, phones in national and international formats, incomplete addresses,
non-ASCII names, missing birthdates and genders.

This module runs the steps; each table's SQL lives with its kind: `herald.demo._people` (the
plan and ``Merged_Customers``), `herald.demo._transactions` (orders and line items) and
`herald.demo._summaries` (the tables computed from them), over the macros of
`herald.demo._sql` and the value lists of `herald.demo._values`.
"""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import duckdb

from herald.atomic import atomic_path
from herald.demo._people import merged_customers_sql, people_macros, plan_sql
from herald.demo._sql import primitive_macros, value_macros
from herald.demo._summaries import (
    customer_360_sql,
    customer_attributes_sql,
    transaction_attributes_sql,
)
from herald.demo._transactions import (
    item_macros,
    itemized_transactions_sql,
    unified_transactions_sql,
)
from herald.engines.duckdb import connect_utc
from herald.exceptions import ConfigError

__all__ = ["TABLES", "DemoSummary", "generate_demo_database"]

#: The tables written, in the order they are created.
TABLES: tuple[str, ...] = (
    "Merged_Customers",
    "Unified_Itemized_Transactions",
    "Unified_Transactions",
    "Transaction_Attributes_Extended",
    "Customer_Attributes",
    "Customer_360",
)

# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoSummary:
    """What :func:`generate_demo_database` wrote.

    Attributes:
        path: the database file.
        rows: row count per table, in creation order.
        seconds: wall-clock time taken.
        customers: number of customers requested (and written).
        seed: the seed used.
        as_of: the date the data is anchored to; no order lies on or after it.
    """

    path: Path
    rows: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    seconds: float = 0.0
    customers: int = 0
    seed: int = 0
    as_of: datetime.date = datetime.date(1970, 1, 1)


def generate_demo_database(
    path: str | os.PathLike[str],
    *,
    customers: int = 100_000,
    seed: int = 42,
    as_of: datetime.date | None = None,
    orders_per_customer: float = 10.0,
    items: bool = True,
    progress: Callable[[str], None] | None = None,
    overwrite: bool = False,
) -> DemoSummary:
    """Write a new DuckDB demo database with Amperity's standard customer 360 tables.

    The file is built under a temporary name beside ``path`` and renamed when complete, so a
    crash never leaves half a database at ``path``.

    Args:
        path: the database file to create.
        customers: number of customers (rows of ``Customer_360``).
        seed: any integer; the same seed, ``as_of`` and sizes give the same table contents.
        as_of: the "now" of the data (default: today in UTC). Orders lie in the five years
            before it; none lies on or after it.
        orders_per_customer: average number of orders over all customers, prospects included.
        items: also write ``Unified_Itemized_Transactions`` (about 2.5 lines per order); order
            revenue is then the sum of the order's non-return item revenue.
        progress: called with a short message as each table is written.
        overwrite: replace ``path`` if it exists instead of refusing.

    Returns:
        A :class:`DemoSummary` with the row count of every table and the time taken.

    Raises:
        ConfigError: ``path`` exists and ``overwrite`` is false, its folder does not exist, or
            a size or the seed is out of range.
    """
    started = time.monotonic()
    target = Path(path)
    _validate(target, customers, seed, orders_per_customer, overwrite)
    as_of = as_of or datetime.datetime.now(datetime.UTC).date()
    say = progress or (lambda _message: None)

    with atomic_path(target) as temporary:
        rows = _write(temporary, customers, seed, as_of, orders_per_customer, items, say)
        if overwrite:
            # A stale write-ahead log beside the target would be replayed into the new file.
            Path(f"{target}.wal").unlink(missing_ok=True)
    seconds = time.monotonic() - started
    say(f"Wrote {target} in {seconds:.1f} s")
    return DemoSummary(
        path=target,
        rows=MappingProxyType(rows),
        seconds=seconds,
        customers=customers,
        seed=seed,
        as_of=as_of,
    )


# --------------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------------


def _validate(
    target: Path, customers: int, seed: int, orders_per_customer: float, overwrite: bool
) -> None:
    problem = None
    if isinstance(customers, bool) or not isinstance(customers, int) or customers < 1:
        problem = f"customers must be a whole number of at least 1, got {customers!r}."
    elif customers > 1_000_000_000:
        problem = f"customers must be at most 1,000,000,000, got {customers:,}."
    elif isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        problem = f"seed must be a whole number from 0 to 2**63 - 1, got {seed!r}."
    elif not 0 <= orders_per_customer <= 1000:
        problem = f"orders_per_customer must be between 0 and 1000, got {orders_per_customer!r}."
    elif target.exists() and not overwrite:
        problem = (
            f"{target} already exists; choose another path or pass overwrite=True "
            "(--overwrite) to replace it."
        )
    elif not target.parent.is_dir():
        problem = f"The folder {target.parent} does not exist; create it first."
    if problem:
        raise ConfigError(problem)


def _write(
    temporary: Path,
    customers: int,
    seed: int,
    as_of: datetime.date,
    orders_per_customer: float,
    items: bool,
    say: Callable[[str], None],
) -> dict[str, int]:
    """Build the whole database in the file ``temporary``; return the row count per table."""
    # A crash can leave an earlier attempt's file under the same temporary name: DuckDB would
    # open it and find its tables, so start from nothing.
    wal = Path(f"{temporary}.wal")
    for leftover in (temporary, wal):
        leftover.unlink(missing_ok=True)
    try:
        with connect_utc(str(temporary)) as con:
            _configure(con)
            rows = _build(con, customers, seed, as_of, orders_per_customer, items, say)
            con.execute("CHECKPOINT")
    finally:
        # The log belongs to the temporary name; after the rename nothing would ever read it.
        wal.unlink(missing_ok=True)
    return rows


def _configure(con: duckdb.DuckDBPyConnection) -> None:
    # Row order is irrelevant to the tables; not preserving it lets DuckDB stream in parallel
    # with bounded memory.
    con.execute("SET preserve_insertion_order = false")
    # A library call must not draw DuckDB's progress bar on the caller's terminal.
    con.execute("SET enable_progress_bar = false")


def _build(
    con: duckdb.DuckDBPyConnection,
    customers: int,
    seed: int,
    as_of: datetime.date,
    orders_per_customer: float,
    items: bool,
    say: Callable[[str], None],
) -> dict[str, int]:
    for statement in _macro_statements(seed, customers):
        con.execute(statement)

    steps: list[tuple[str, str, bool]] = [
        ("_plan", plan_sql(customers, seed, as_of, orders_per_customer), False),
        ("Merged_Customers", merged_customers_sql(customers), True),
    ]
    if items:
        steps.append(("Unified_Itemized_Transactions", itemized_transactions_sql(), True))
    steps += [
        ("Unified_Transactions", unified_transactions_sql(items), True),
        ("Transaction_Attributes_Extended", transaction_attributes_sql(as_of), True),
        ("Customer_Attributes", customer_attributes_sql(), True),
        ("Customer_360", customer_360_sql(), True),
    ]

    rows: dict[str, int] = {}
    for name, sql, is_output in steps:
        step_started = time.monotonic()
        say(f"Writing {name} …" if is_output else "Planning customers and orders …")
        con.execute(sql)
        count = con.execute(f"SELECT count(*) FROM {name}").fetchone()
        n = int(count[0]) if count else 0
        if is_output:
            rows[name] = n
        say(f"{name}: {n:,} rows ({time.monotonic() - step_started:.1f} s)")
    if items:
        con.execute("ALTER TABLE Unified_Itemized_Transactions DROP COLUMN oi")
    con.execute("DROP TABLE _plan")
    return rows


def _macro_statements(seed: int, customers: int) -> list[str]:
    """Temporary macros: the random primitives and the value lists (not stored in the file)."""
    return [
        *primitive_macros(seed),
        *value_macros(),
        *people_macros(seed, customers),
        *item_macros(),
    ]
