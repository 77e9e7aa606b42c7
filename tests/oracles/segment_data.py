"""Generated customer databases and segment definitions for the differential segment tests.

Values are drawn from small pools that sit on the edges the rules care about (NULL, blank and
whitespace strings, unicode, ``%`` and ``_``, boundary numbers, leap days, day ends, month ends)
and condition values from the same pools, so that ``between`` and ``on or after`` meet their
end values often. Dates are relative to a "today" drawn from a few awkward ones.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
from hypothesis import strategies as st

from tests.oracles.segments import (
    BASE,
    ITEMS,
    KEY,
    SQL_SEGMENTS,
    TRANSACTIONS,
    Database,
    as_moment,
    operators_for,
    resolve_date,
)

ATTRIBUTES = "Customer_Attributes"

# table → (column, DuckDB type, attribute type); the key column first
SCHEMA: dict[str, list[tuple[str, str, str]]] = {
    BASE: [
        (KEY, "VARCHAR", "string"),
        ("is_vip", "BOOLEAN", "boolean"),
        ("birth_date", "DATE", "date"),
        ("last_seen_at", "TIMESTAMP", "datetime"),
        ("balance", "DECIMAL(38,2)", "decimal"),
        ("visits", "INTEGER", "integer"),
        ("nickname", "VARCHAR", "string"),
    ],
    ATTRIBUTES: [
        (KEY, "VARCHAR", "string"),
        ("is_opted_in", "BOOLEAN", "boolean"),
        ("tier", "VARCHAR", "string"),
        ("points", "BIGINT", "integer"),
        ("joined_on", "DATE", "date"),
        ("updated_at", "TIMESTAMPTZ", "datetime"),
    ],
    TRANSACTIONS: [
        (KEY, "VARCHAR", "string"),
        ("order_id", "VARCHAR", "string"),
        ("order_datetime", "TIMESTAMP", "datetime"),
        ("order_revenue", "DECIMAL(38,2)", "decimal"),
        ("purchase_channel", "VARCHAR", "string"),
    ],
    ITEMS: [
        (KEY, "VARCHAR", "string"),
        ("order_id", "VARCHAR", "string"),
        ("order_datetime", "TIMESTAMP", "datetime"),
        ("product_category", "VARCHAR", "string"),
        ("item_quantity", "INTEGER", "integer"),
        ("item_revenue", "DECIMAL(38,2)", "decimal"),
        ("is_return", "BOOLEAN", "boolean"),
    ],
}
TYPES = {table: {c: t for c, _, t in cols} for table, cols in SCHEMA.items()}
CUSTOMER_TABLES = frozenset({BASE, ATTRIBUTES})
FILTER_TABLES = (TRANSACTIONS, ITEMS)

TODAYS = [dt.date(2024, 3, 15), dt.date(2024, 3, 31), dt.date(2024, 2, 29), dt.date(2025, 1, 1)]
MAX_DECIMAL = Decimal("999999999999999999999999999999999999.99")
MIN_DECIMAL = Decimal("-999999999999999999999999999999999999.99")  # not -MAX: that rounds
DECIMALS = [Decimal(x) for x in ("-5.50", "-0.01", "0.00", "0.01", "99.99", "100.00", "100.01")]
INTEGERS = [-2147483648, -1, 0, 1, 9, 10, 11, 2147483647]
BIG = 9223372036854775807
_REVENUES = [Decimal(x) for x in ("-10.00", "0.00", "5.00", "40.00", "50.00", "70.00", "100.00")]
BLANKS = ["", " ", "   ", "\t\n", "\r\n "]
STRINGS = [
    *BLANKS,
    *("\xa0", "\u3000"),
    *("Alice", "alice", " Alice ", "ALICE", "Alice\t", "Bob"),
    *(
        "a_b",
        "aXb",
        "a%b",
        "50% off",
        "5000 off",
        "%",
        "_",
        "Zoë 東京 🎉",
        "O'Brien",
        "back\\slash",
    ),
]
ALPHABET = "aAb_% \t\n'\\ë東🎉\xa0"
TIMES = [
    dt.time(0),
    dt.time(0, 0, 1),
    dt.time(8, 30),
    dt.time(23, 59, 59),
    dt.time(23, 59, 59, 999999),
]
RELATIVE = [
    *("today", "yesterday", "tomorrow", "0 days ago", "7 days ago", "10 days ago"),
    *("1 week ago", "1 month ago", "12 months ago", "1 year ago"),
]
WITHIN = ["1 day", "7 days", "10 days", "1 week", "1 month", "12 months", "1 year"]


def date_pool(today: dt.date) -> list[dt.date]:
    days = [today + dt.timedelta(days=n) for n in (0, -1, 1, -7, -10)]
    month = today.replace(day=1) - dt.timedelta(days=1)  # the last day of last month
    fixed = [dt.date(2024, 2, 29), dt.date(2023, 3, 15), dt.date(1900, 1, 1), dt.date(9999, 12, 31)]
    return [*days, month, month.replace(day=min(today.day, month.day)), *fixed]


# --- data -------------------------------------------------------------------------------------


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def texts() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(BLANKS), st.sampled_from(STRINGS), st.text(ALPHABET, max_size=4)
    )


def datetimes(today: dt.date) -> st.SearchStrategy[dt.datetime]:
    return st.builds(dt.datetime.combine, st.sampled_from(date_pool(today)), st.sampled_from(TIMES))


def _utc_moments(today: dt.date) -> st.SearchStrategy[dt.datetime]:
    """Aware datetimes (a TIMESTAMPTZ column), in UTC or at an offset from it."""
    offsets = st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=2))])
    return st.builds(
        lambda moment, zone: moment.replace(tzinfo=dt.UTC).astimezone(zone),
        datetimes(today).filter(lambda m: dt.datetime(1900, 1, 2) < m < dt.datetime(9999, 12, 31)),
        offsets,
    )


@st.composite
def databases(draw: st.DrawFn) -> Database:
    """A small customer database: customers, a per-customer table with missing rows, orders and
    line items, dirty rows included (no key, orphan items)."""
    today = draw(st.sampled_from(TODAYS))
    keys = [f"c{i}" for i in range(draw(st.sampled_from([5, 2, 7, 1, 4])))]
    customers = [{KEY: key, **draw(_customer(today))} for key in keys]
    with_row = [key for key in keys if draw(st.booleans())]
    strangers = sorted(draw(st.sets(st.sampled_from(["", "zz"]))))  # "" stands for no key
    attributes = [{KEY: key or None, **draw(_attributes(today))} for key in with_row + strangers]
    count = draw(st.sampled_from([6, 3, 9, 0, 12]))  # st.integers favours tiny counts
    orders = [{"order_id": f"o{i}", **draw(_order(today, tuple(keys)))} for i in range(count)]
    items = [{**_of(o), **draw(_item())} for o in orders for _ in range(draw(st.integers(0, 2)))]
    if orders and draw(st.booleans()):  # a line item whose order is missing
        items.append({**_of(draw(st.sampled_from(orders))), "order_id": "x1", **draw(_item())})
    tables = {BASE: customers, ATTRIBUTES: attributes, TRANSACTIONS: orders, ITEMS: items}
    return Database(tables, TYPES, CUSTOMER_TABLES, today)


def _of(order: dict[str, Any]) -> dict[str, Any]:
    return {name: order[name] for name in (KEY, "order_id", "order_datetime")}


@cache
def _customer(today: dt.date) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "is_vip": _maybe(st.booleans()),
            "birth_date": _maybe(st.sampled_from(date_pool(today))),
            "last_seen_at": _maybe(datetimes(today)),
            "balance": _maybe(st.sampled_from([*DECIMALS, MAX_DECIMAL, MIN_DECIMAL])),
            "visits": _maybe(st.sampled_from(INTEGERS)),
            "nickname": _maybe(texts()),
        }
    )


@cache
def _attributes(today: dt.date) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "is_opted_in": _maybe(st.booleans()),
            "tier": _maybe(st.sampled_from(["Gold", "gold", "Silver", "", "  ", "Gold "])),
            "points": _maybe(st.sampled_from([-BIG, -1, 0, 1, 10, BIG])),
            "joined_on": _maybe(st.sampled_from(date_pool(today))),
            "updated_at": _maybe(_utc_moments(today)),
        }
    )


@cache
def _order(today: dt.date, keys: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    channels = ["Online", "online", "Store", "", "Mobile App"]
    return st.fixed_dictionaries(
        {
            KEY: st.sampled_from([*keys, None]),
            "order_datetime": _maybe(datetimes(today)),
            "order_revenue": _maybe(st.sampled_from(_REVENUES)),
            "purchase_channel": _maybe(st.sampled_from(channels)),
        }
    )


@cache
def _item() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "product_category": _maybe(st.sampled_from(["Shoes", "shoes", "Socks", "Bags", ""])),
            "item_quantity": _maybe(st.sampled_from([0, 1, 2])),
            "item_revenue": _maybe(st.sampled_from(_REVENUES)),
            "is_return": _maybe(st.booleans()),
        }
    )


def write_duckdb(db: Database, path: Path) -> None:
    """The database as a DuckDB file, one table per :data:`SCHEMA` entry."""
    con = duckdb.connect(str(path))
    try:
        con.execute("SET TimeZone = 'UTC'")
        for table, columns in SCHEMA.items():
            spec = ", ".join(f"{name} {sql_type}" for name, sql_type, _ in columns)
            con.execute(f"CREATE TABLE {table} ({spec})")
            rows = db.tables[table]
            if rows:  # one statement: executemany prepares and runs once per row
                marks = ", ".join([f"({', '.join('?' for _ in columns)})"] * len(rows))
                params = [_param(row[name]) for row in rows for name, _, _ in columns]
                con.execute(f"INSERT INTO {table} VALUES {marks}", params)
    finally:
        con.close()


def _param(value: Any) -> Any:
    # DuckDB's client turns a 38-digit Decimal into a DOUBLE; text casts to DECIMAL exactly.
    return str(value) if isinstance(value, Decimal) else value


# --- definitions ------------------------------------------------------------------------------

Column = tuple[str, str, str]  # table, column, attribute type


def columns(tables: tuple[str, ...]) -> list[Column]:
    return [(t, c, kind) for t in tables for c, _, kind in SCHEMA[t] if c not in (KEY, "order_id")]


@cache
def conditions(
    today: dt.date, tables: tuple[str, ...], ops: frozenset[str] | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """Attribute conditions on ``tables``' columns, with any operator of the column's type (or
    only ``ops``)."""
    # type, then operator, then column: every (operator, type) pair comes up often
    by_op: dict[tuple[str, str], list[Column]] = {}
    for column in columns(tables):
        for op in operators_for(column[2]):
            if ops is None or op in ops:
                by_op.setdefault((column[2], op), []).append(column)
    kinds = sorted({kind for kind, _ in by_op})

    @cache
    def pick(kind: str) -> st.SearchStrategy[dict[str, Any]]:
        pairs = sorted(pair for pair in by_op if pair[0] == kind)
        return st.sampled_from(pairs).flatmap(
            lambda pair: st.sampled_from(by_op[pair]).flatmap(
                lambda column: _condition(today, column, pair[1])
            )
        )

    return st.sampled_from(kinds).flatmap(pick)


@cache
def _condition(today: dt.date, column: Column, op: str) -> st.SearchStrategy[dict[str, Any]]:
    table, name, kind = column
    written = st.sampled_from([op, op.replace("_", " ")])
    base = st.builds(lambda o: {"attribute": f"{table}.{name}", "op": o}, written)
    if op in ("is_true", "is_false", "is_null", "is_not_null", "is_empty", "is_not_empty"):
        return base
    one = _values(today, kind)
    if op in ("between", "not_between"):
        rank = _rank(kind, today)
        # distinct and ascending: an equal or reversed pair is refused, and the refusal is
        # covered by the purchase windows already
        pair = st.lists(one, min_size=2, max_size=2, unique_by=rank).map(
            lambda p: sorted(p, key=rank)
        )
        return st.builds(lambda d, v: {**d, "values": v}, base, pair)
    if op in ("in_list", "not_in_list"):
        return st.builds(
            lambda d, v: {**d, "values": v}, base, st.lists(one, min_size=1, max_size=3)
        )
    return st.builds(lambda d, v: {**d, "value": v}, base, one)


def _rank(kind: str, today: dt.date) -> Callable[[Any], Any]:
    """Where a value sits on the column's line, by the oracle's reading of it."""

    def rank(value: Any) -> Any:
        if kind in ("date", "datetime"):
            return as_moment(resolve_date(value, today)[0])
        return Decimal(str(value))

    return rank


def _values(today: dt.date, kind: str) -> st.SearchStrategy[Any]:
    if kind == "string":
        return texts()
    if kind == "integer":
        return st.sampled_from([*INTEGERS, 3000000000, -BIG, BIG, 10.0])
    if kind == "decimal":
        return st.sampled_from([*DECIMALS, 100, 0, -5.5, 99.99, 70, 70.01, MAX_DECIMAL])
    dates = st.sampled_from(date_pool(today))
    day_values = st.one_of(dates, dates.map(dt.date.isoformat), st.sampled_from(RELATIVE))
    if kind == "date":
        return day_values
    return st.one_of(day_values, _moment_values(today))


def _moment_values(today: dt.date) -> st.SearchStrategy[Any]:
    """Values with a time of day: text (with or without an offset) or Python datetimes."""
    moments = datetimes(today).filter(
        lambda m: dt.datetime(1900, 1, 2) < m < dt.datetime(9999, 12, 31)
    )
    plus_two = dt.timezone(dt.timedelta(hours=2))
    return st.one_of(
        moments,
        moments.map(lambda m: m.isoformat(sep=" ")),
        moments.map(lambda m: m.replace(tzinfo=dt.UTC).astimezone(plus_two).isoformat()),
        moments.map(lambda m: m.replace(tzinfo=dt.UTC).astimezone(plus_two)),
    )


@cache
def purchases(
    today: dt.date, filter_ops: frozenset[str] | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """Has purchased / has not purchased, with any mix of filters, window and thresholds."""
    # 9999-12-31 as ``until`` crashes the compiler: pinned in test_until_the_last_date
    days = [d for d in date_pool(today) if d.year < 9999]
    day = st.one_of(st.sampled_from(days).map(dt.date.isoformat), st.sampled_from(RELATIVE))
    filters = st.one_of(
        conditions(today, (TRANSACTIONS,), filter_ops),
        conditions(today, (ITEMS,), filter_ops),
        st.lists(conditions(today, FILTER_TABLES, filter_ops), min_size=1, max_size=2),
        st.tuples(
            conditions(today, (TRANSACTIONS,), filter_ops), conditions(today, (ITEMS,), filter_ops)
        ).map(list),
        st.lists(conditions(today, FILTER_TABLES, filter_ops), min_size=1, max_size=2).map(
            lambda c: {"not": c}
        ),
    )
    body = st.fixed_dictionaries(
        {},
        optional={
            "where": filters,
            "within": st.sampled_from(WITHIN),
            "since": day,
            "until": day,
            "min_count": st.integers(1, 3),
            "min_total": st.sampled_from([0.01, 5, 50, 70, 100, 100.01, Decimal("120.00")]),
        },
    )
    kind = st.sampled_from(["has_purchased", "has_not_purchased"])
    return st.builds(lambda k, b: {k: _ordered_window(b, today) or None}, kind, body)


def _ordered_window(body: dict[str, Any], today: dt.date) -> dict[str, Any]:
    """``since`` no later than ``until`` (``within`` may still make the window empty)."""
    if "since" in body and "until" in body:
        rank = _rank("date", today)
        body["since"], body["until"] = sorted([body["since"], body["until"]], key=rank)
    return body


def trees(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """AND / OR / NOT groups of ``leaves``, nested."""

    def groups(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        kind = st.sampled_from(["all", "any", "not"])
        return st.builds(
            lambda k, items: {k: items}, kind, st.lists(children, min_size=1, max_size=3)
        )

    return st.recursive(leaves, groups, max_leaves=6)


ALL_KINDS = ("attribute", "segment", "purchase")


@cache
def definitions(
    today: dt.date,
    segment_names: tuple[str, ...],
    ops: frozenset[str] | None = None,
    kinds: tuple[str, ...] = ALL_KINDS,
) -> st.SearchStrategy[Any]:
    """Segment ``where`` trees of ``kinds`` of conditions: attributes of every table (only
    ``ops`` when given), membership in ``segment_names``, purchases."""
    leaves = []
    if "attribute" in kinds:
        attribute = conditions(today, tuple(SCHEMA), ops)
        leaves += [attribute, attribute]  # the operators are most of the rules
    if segment_names and "segment" in kinds:
        leaves.append(
            st.builds(
                lambda name, op: {"segment": name, "op": op},
                st.sampled_from(segment_names),
                st.sampled_from(["in", "not in"]),
            )
        )
    if "purchase" in kinds:
        leaves.append(purchases(today, ops))
    kind = st.sampled_from(["all", "any", "not"])
    tree = trees(st.one_of(leaves))
    # a group of a few trees at the top: more conditions per query run
    return st.one_of(
        tree, st.builds(lambda k, items: {k: items}, kind, st.lists(tree, min_size=2, max_size=4))
    )


@st.composite
def scenarios(
    draw: st.DrawFn,
    ops: frozenset[str] | None = None,
    kinds: tuple[str, ...] = ALL_KINDS,
    count: int = 12,
) -> tuple[Database, list[Any]]:
    """A database with two conditions segments and a SQL segment, and ``count`` definitions."""
    db = draw(databases())
    segments: dict[str, dict[str, Any]] = {}
    for name in ("Seg A", "Seg B"):
        where = draw(definitions(db.today, tuple(segments), ops, kinds))
        segments[name] = {"name": name, "status": "active", "where": where}
    sql = draw(st.sampled_from(sorted(SQL_SEGMENTS)))
    segments["Seg Sql"] = {"name": "Seg Sql", "status": "active", "sql": sql}
    db = Database(db.tables, db.types, db.customer_tables, db.today, segments)
    wheres = draw(
        st.lists(definitions(db.today, tuple(segments), ops, kinds), min_size=count, max_size=count)
    )
    return db, wheres
