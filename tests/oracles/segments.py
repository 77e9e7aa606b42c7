"""The segment oracle (DESIGN §1.1–§1.2, README "Segments"): who a definition selects, in
plain Python over the rows of a small customer database.

Production compiles a definition to one SQL query (:mod:`herald.core.segments.compile`). The
differential tests check that query, run on DuckDB, against this module, which shares none of
its code: it walks the definition as the plain mapping a YAML file holds, one customer at a
time, with Python's own comparisons, and resolves relative dates with its own calendar
arithmetic. Keep it that way: an oracle that reuses the compiler cannot catch its bugs.

The rules it states, each from DESIGN §1.2 unless said otherwise:

- A segment starts from every customer of the base table (``Customer_360``) and narrows them.
- ``all`` is AND, ``any`` is OR, ``not`` is the complement of ``all`` of its items over every
  customer, so customers with NULLs in its columns are selected (not SQL's three-valued NOT).
- NULL means never set and matches no comparison: ``is not``, ``is not exactly``,
  ``not in list``, ``does not contain``, ``not between`` never select a NULL; only ``is null``
  and ``is empty`` do. ``is not null`` includes blank strings.
- ``is empty`` is NULL or blank after trimming. "Blank" is read as: nothing left once the
  characters in :data:`BLANK` (space, tab, carriage return, line feed) are removed from both
  ends. The rules do not name the characters; a no-break space or an ideographic space is
  therefore *not* blank here.
- Strings compare case-sensitively and literally (``%`` and ``_`` are plain characters) and are
  never trimmed, except by ``is empty``.
- ``between`` excludes both ends on every type; ``not between`` is its complement among known
  values, so it includes both ends; ``on or after`` / ``on or before`` include the value.
- Numbers compare exactly (decimals as :class:`decimal.Decimal`).
- Dates: ``YYYY-MM-DD``, ``YYYY-MM-DD HH:MM:SS[.ffffff]`` with an optional UTC offset (the same
  moment in UTC), Python dates and datetimes, or relative dates (``today``, ``yesterday``,
  ``tomorrow``, ``N days|weeks|months|years ago``) resolved against the fixed "today"; months
  and years keep the day of the month, clamped to the month's last day. On a datetime column,
  date-only values compare whole UTC days (the column truncated to its date); a value with a
  time of day compares moments, and a date-only value beside it means 00:00 of that day.
- A per-customer table (one row per customer): a customer without a row there counts as NULL in
  every column; a row without a customer key belongs to nobody. Any other table (orders, line
  items): an attribute condition means "has at least one row where …".
- Segment membership: ``in`` / ``not in`` another segment's members (computed by the same rules,
  or by the Python statement of a SQL segment in :data:`SQL_SEGMENTS`), always within the base
  table's customers.
- Purchase behaviour (README): "has purchased" selects customers with at least one matching
  order; "has not purchased" is its complement over every customer. A matching order has a
  customer key, passes the row filters (``where``, on ``Unified_Transactions`` and/or
  ``Unified_Itemized_Transactions`` columns, evaluated per row with the same operator rules;
  filters on both tables pair each line item with its order by order id and customer) and lies
  in the window: ``since`` and ``until`` are whole days, both included; ``within N units`` means
  since N units before today (the later of the two when ``since`` is also given); an order with
  no date is in no window. With a window and item filters only, the window reads the line item's
  order date. ``min_count`` counts distinct matching orders; ``min_total`` is the sum of the
  known revenue of the matching orders, or of the matching line items when there are item
  filters, and must be reached (equal counts). When every matching revenue is unknown the rules
  do not say whether the total is 0 or none; the generated minimums are all positive, where both
  readings agree. Returns and cancellations have no rule of their own: ``is_return`` is a
  line-item column like any other.
- Refused definitions (:class:`Refused`): ``between`` / ``not between`` whose first value is not
  below the second, a time of day on a date column, and a purchase window whose start is after
  its end. Herald must refuse them too.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

BLANK = " \t\r\n"
KEY = "amperity_id"
BASE = "Customer_360"
TRANSACTIONS = "Unified_Transactions"
ITEMS = "Unified_Itemized_Transactions"

OPERATORS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "boolean": ("is_true", "is_false", "is_null", "is_not_null"),
    "date": (
        "is",
        "is_not",
        "after",
        "before",
        "on_or_after",
        "on_or_before",
        "between",
        "not_between",
        "is_null",
        "is_not_null",
    ),
    "number": (
        "is",
        "is_not",
        "greater_than",
        "greater_than_or_equal",
        "less_than",
        "less_than_or_equal",
        "between",
        "not_between",
        "in_list",
        "not_in_list",
        "is_null",
        "is_not_null",
    ),
    "string": (
        "contains",
        "does_not_contain",
        "starts_with",
        "ends_with",
        "is_exactly",
        "is_not_exactly",
        "in_list",
        "not_in_list",
        "is_empty",
        "is_not_empty",
        "is_null",
        "is_not_null",
    ),
}
"""The README's operator table, by type; datetime shares date's, integer and decimal share
number's."""


def operators_for(attr_type: str) -> tuple[str, ...]:
    """The operators of an attribute type, as the README's table lists them."""
    family = {"datetime": "date", "integer": "number", "decimal": "number"}
    return OPERATORS_BY_TYPE[family.get(attr_type, attr_type)]


class Refused(Exception):
    """A definition the rules refuse (and Herald must refuse with a SegmentError)."""


@dataclass(frozen=True)
class Database:
    """A customer database as Python rows, and what the oracle needs besides.

    Args:
        tables: rows (column name → value) by table name.
        types: attribute type by table name and column name.
        customer_tables: tables with at most one row per customer.
        today: the UTC date relative dates resolve against.
        segments: other segments' definitions (mappings with ``where`` or ``sql``) by name.
    """

    tables: Mapping[str, list[dict[str, Any]]]
    types: Mapping[str, Mapping[str, str]]
    customer_tables: frozenset[str]
    today: dt.date
    segments: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def customers(self) -> list[str]:
        return [row[KEY] for row in self.tables[BASE]]

    def rows_of(self, table: str, customer: str) -> list[dict[str, Any]]:
        return [row for row in self.tables[table] if row[KEY] == customer]


def members(where: Any, db: Database) -> frozenset[str]:
    """The customers a definition's ``where`` selects (None: every customer).

    Raises:
        Refused: the rules refuse the definition.
    """
    _check(where, db)
    return frozenset(c for c in db.customers() if where is None or _node(where, c, db))


def segment_members(name: str, db: Database) -> frozenset[str]:
    """The members of another segment of ``db``: its conditions, or its SQL's Python twin."""
    doc = db.segments[name]
    if "sql" in doc:
        return frozenset(db.customers()) & SQL_SEGMENTS[doc["sql"]](db)
    return members(doc.get("where"), db)


# --- refusals, checked over the whole tree first (a refused condition never runs) -------------


def _check(node: Any, db: Database) -> None:
    if node is None:
        return
    for item in walk(node):
        if "segment" in item and "where" in db.segments[item["segment"]]:
            _check(db.segments[item["segment"]]["where"], db)
        if "attribute" in item:
            table, column = split(item["attribute"])
            _operands(item, db.types[table][column], db.today)
        for kind in ("has_purchased", "has_not_purchased"):
            if kind in item:
                _window(item[kind] or {}, db.today)


def walk(node: Any) -> Iterable[Mapping[str, Any]]:
    if isinstance(node, list):
        for item in node:
            yield from walk(item)
        return
    yield node
    for kind in ("all", "any", "not"):
        if kind in node:
            yield from walk(node[kind])
    for kind in ("has_purchased", "has_not_purchased"):
        body = node.get(kind) or {}
        if body.get("where") is not None:
            yield from walk(body["where"])


# --- the tree, one customer at a time --------------------------------------------------------


def _node(node: Any, customer: str, db: Database) -> bool:
    if isinstance(node, list):
        return all(_node(item, customer, db) for item in node)
    if "all" in node:
        return all(_node(item, customer, db) for item in _items(node["all"]))
    if "any" in node:
        return any(_node(item, customer, db) for item in _items(node["any"]))
    if "not" in node:
        return not all(_node(item, customer, db) for item in _items(node["not"]))
    if "segment" in node:
        inside = customer in segment_members(node["segment"], db)
        return not inside if normal_op(node.get("op", "in")) == "not_in" else inside
    if "attribute" in node:
        return _attribute(node, customer, db)
    if "has_purchased" in node:
        return _purchased(node["has_purchased"] or {}, customer, db)
    return not _purchased(node["has_not_purchased"] or {}, customer, db)


def _items(items: Any) -> list[Any]:
    return items if isinstance(items, list) else [items]


def normal_op(text: str) -> str:
    return "_".join(text.strip().lower().replace("-", " ").split())


def split(attribute: str) -> tuple[str, str]:
    table, _, column = attribute.rpartition(".")
    return table or BASE, column


def _attribute(cond: Mapping[str, Any], customer: str, db: Database) -> bool:
    table, column = split(cond["attribute"])
    attr_type = db.types[table][column]
    if table in db.customer_tables:
        rows = db.rows_of(table, customer) or [{}]  # no row: NULL in every column
        return all(_holds(cond, attr_type, row.get(column), db.today) for row in rows)
    return any(
        _holds(cond, attr_type, row[column], db.today) for row in db.rows_of(table, customer)
    )


# --- one operator on one value ----------------------------------------------------------------


def _holds(cond: Mapping[str, Any], attr_type: str, value: Any, today: dt.date) -> bool:
    op = normal_op(cond["op"])
    if op in ("is_null", "is_not_null"):
        return (value is None) == (op == "is_null")
    if op in ("is_empty", "is_not_empty"):
        empty = value is None or value.strip(BLANK) == ""
        return empty == (op == "is_empty")
    if value is None:  # NULL matches no comparison
        return False
    if op in ("is_true", "is_false"):
        return value is (op == "is_true")
    if attr_type == "string":
        return _STRING[op](value, _operands(cond, attr_type, today))
    value, operands = _comparable(value, attr_type, _operands(cond, attr_type, today))
    return _ORDERED[op](value, operands)


_STRING: dict[str, Callable[[str, list[Any]], bool]] = {
    "contains": lambda x, v: v[0] in x,
    "does_not_contain": lambda x, v: v[0] not in x,
    "starts_with": lambda x, v: x.startswith(v[0]),
    "ends_with": lambda x, v: x.endswith(v[0]),
    "is_exactly": lambda x, v: x == v[0],
    "is_not_exactly": lambda x, v: x != v[0],
    "in_list": lambda x, v: x in v,
    "not_in_list": lambda x, v: x not in v,
}

_ORDERED: dict[str, Callable[[Any, list[Any]], bool]] = {
    "is": lambda x, v: x == v[0],
    "is_not": lambda x, v: x != v[0],
    "after": lambda x, v: x > v[0],
    "greater_than": lambda x, v: x > v[0],
    "on_or_after": lambda x, v: x >= v[0],
    "greater_than_or_equal": lambda x, v: x >= v[0],
    "before": lambda x, v: x < v[0],
    "less_than": lambda x, v: x < v[0],
    "on_or_before": lambda x, v: x <= v[0],
    "less_than_or_equal": lambda x, v: x <= v[0],
    "between": lambda x, v: v[0] < x < v[1],
    "not_between": lambda x, v: x <= v[0] or x >= v[1],
    "in_list": lambda x, v: x in v,
    "not_in_list": lambda x, v: x not in v,
}


def _operands(cond: Mapping[str, Any], attr_type: str, today: dt.date) -> list[Any]:
    """The condition's values in the column's terms; refuses what the rules refuse."""
    raw = cond.get("values", cond.get("value"))
    values = list(raw) if isinstance(raw, list | tuple) else [] if raw is None else [raw]
    if attr_type in ("string", "boolean"):
        return values
    if attr_type in ("integer", "decimal"):
        numbers = [Decimal(str(x)) for x in values]
        resolved: list[Any] = numbers
        ends = numbers
    else:
        resolved = [resolve_date(x, today) for x in values]
        if attr_type == "date" and any(has_time for _, has_time in resolved):
            raise Refused("a time of day on a date column")
        ends = [as_moment(x) for x, _ in resolved]
    if normal_op(cond["op"]) in ("between", "not_between") and not ends[0] < ends[1]:
        raise Refused("between needs its first value below its second")
    return resolved


def _comparable(value: Any, attr_type: str, operands: list[Any]) -> tuple[Any, list[Any]]:
    if attr_type in ("integer", "decimal"):
        return Decimal(value), operands
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    if any(has_time for _, has_time in operands):
        return as_moment(value), [as_moment(x) for x, _ in operands]
    day = value.date() if isinstance(value, dt.datetime) else value
    return day, [x for x, _ in operands]


def as_moment(value: dt.date) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime(value.year, value.month, value.day)


# --- dates ------------------------------------------------------------------------------------

_AGO = re.compile(r"(\d+) (day|week|month|year)s? ago")
_SPAN = re.compile(r"(\d+) (day|week|month|year)s?")
_NAMED = {"today": 0, "yesterday": -1, "tomorrow": 1}


def resolve_date(value: Any, today: dt.date) -> tuple[dt.date, bool]:
    """(the date or UTC moment, whether it has a time of day)."""
    if isinstance(value, dt.datetime):
        return _utc(value), True
    if isinstance(value, dt.date):
        return value, False
    text = value.strip().lower()
    if text in _NAMED:
        return today + dt.timedelta(days=_NAMED[text]), False
    ago = _AGO.fullmatch(text)
    if ago:
        return _back(today, int(ago.group(1)), ago.group(2)), False
    if len(text) == 10:
        return dt.date.fromisoformat(text), False
    return _utc(dt.datetime.fromisoformat(value.strip())), True


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def _back(today: dt.date, amount: int, unit: str) -> dt.date:
    """``amount`` units before ``today``; months and years clamp to the month's last day."""
    if unit in ("day", "week"):
        return today - dt.timedelta(days=amount * (7 if unit == "week" else 1))
    months = today.year * 12 + (today.month - 1) - amount * (12 if unit == "year" else 1)
    year, month = months // 12, months % 12 + 1
    return dt.date(year, month, min(today.day, calendar.monthrange(year, month)[1]))


# --- purchase behaviour ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Unit:
    """One candidate purchase: an order, a line item, or a line item paired with its order."""

    rows: Mapping[str, Mapping[str, Any]]  # table → row
    order_id: Any
    when: dt.datetime | None
    revenue: Decimal | None


def _purchased(body: Mapping[str, Any], customer: str, db: Database) -> bool:
    since, until = _window(body, db.today)
    where = body.get("where")
    matching = [
        unit
        for unit in _units(customer, tables_used(where), db)
        if (where is None or _row_node(where, unit, db)) and _in_window(unit.when, since, until)
    ]
    orders = {unit.order_id for unit in matching}
    if len(orders) < (body.get("min_count") or 1) or not matching:
        return False
    if body.get("min_total") is None:
        return True
    known = [unit.revenue for unit in matching if unit.revenue is not None]
    return sum(known, Decimal(0)) >= Decimal(str(body["min_total"]))


def _window(body: Mapping[str, Any], today: dt.date) -> tuple[dt.date | None, dt.date | None]:
    since = resolve_date(body["since"], today)[0] if body.get("since") is not None else None
    until = resolve_date(body["until"], today)[0] if body.get("until") is not None else None
    if body.get("within") is not None:
        span = _SPAN.fullmatch(body["within"].strip().lower())
        assert span is not None, body["within"]
        start = _back(today, int(span.group(1)), span.group(2))
        since = start if since is None else max(since, start)
    if since is not None and until is not None and since > until:
        raise Refused("the purchase window is empty")
    return since, until


def _in_window(when: dt.datetime | None, since: dt.date | None, until: dt.date | None) -> bool:
    if since is None and until is None:
        return True
    if when is None:
        return False
    day = when.date()
    return (since is None or day >= since) and (until is None or day <= until)


def tables_used(where: Any) -> set[str]:
    if where is None:
        return set()
    return {split(item["attribute"])[0] for item in walk(where) if "attribute" in item}


def _units(customer: str, tables: set[str], db: Database) -> list[_Unit]:
    orders = db.rows_of(TRANSACTIONS, customer)
    if ITEMS not in tables:
        return [
            _Unit({TRANSACTIONS: o}, o["order_id"], o["order_datetime"], o["order_revenue"])
            for o in orders
        ]
    items = db.rows_of(ITEMS, customer)
    if TRANSACTIONS not in tables:
        return [
            _Unit({ITEMS: i}, i["order_id"], i["order_datetime"], i["item_revenue"]) for i in items
        ]
    return [
        _Unit({TRANSACTIONS: o, ITEMS: i}, o["order_id"], o["order_datetime"], i["item_revenue"])
        for o in orders
        for i in items
        if i["order_id"] == o["order_id"]
    ]


def _row_node(node: Any, unit: _Unit, db: Database) -> bool:
    if isinstance(node, list):
        return all(_row_node(item, unit, db) for item in node)
    for kind, combine in (("all", all), ("any", any)):
        if kind in node:
            return combine(_row_node(item, unit, db) for item in _items(node[kind]))
    if "not" in node:
        return not all(_row_node(item, unit, db) for item in _items(node["not"]))
    table, column = split(node["attribute"])
    return _holds(node, db.types[table][column], unit.rows[table][column], db.today)


# --- SQL segments, each with its statement in Python ------------------------------------------


def _points_above_zero(db: Database) -> frozenset[str]:
    rows = db.tables["Customer_Attributes"]
    return frozenset(r[KEY] for r in rows if r[KEY] is not None and (r["points"] or 0) > 0)


def _ordered_online(db: Database) -> frozenset[str]:
    rows = db.tables[TRANSACTIONS]
    return frozenset(r[KEY] for r in rows if r["purchase_channel"] == "Online")


SQL_SEGMENTS: dict[str, Callable[[Database], frozenset[str]]] = {
    "SELECT amperity_id FROM Customer_Attributes WHERE points > 0": _points_above_zero,
    # The orphan order's NULL key is in this result: membership must not turn into NULL.
    "SELECT amperity_id FROM Unified_Transactions WHERE purchase_channel = 'Online'": (
        _ordered_online
    ),
}
"""SQL segments the generated definitions may name, with what each selects."""


# --- campaign audience (DESIGN §1.3) ----------------------------------------------------------

REMAINDER = "All Remaining Recipients"


@dataclass(frozen=True)
class SubAudience:
    """A sub-audience: its name and either a ``where`` tree or the name of a segment."""

    name: str
    where: Any = None
    segment: str | None = None


def campaign_members(
    include: list[str],
    exclude: list[str],
    subs: list[SubAudience],
    *,
    remainder: bool,
    first_match: bool,
    db: Database,
) -> frozenset[tuple[str, str]]:
    """(customer, sub-audience) for every recipient of a campaign.

    The audience is the union of the include segments minus every customer in any exclude
    segment. With "first match only" a member lands in the first sub-audience (in order) they
    match, otherwise in every one they match; members matching none form "All Remaining
    Recipients", which receives nothing unless it has groups (``remainder``).

    Raises:
        Refused: a segment or a sub-audience's criteria are refused.
    """
    audience = frozenset().union(*(segment_members(name, db) for name in include))
    audience -= frozenset().union(*(segment_members(name, db) for name in exclude))
    matches = [
        segment_members(sub.segment, db) if sub.segment else members(sub.where, db) for sub in subs
    ]
    out: set[tuple[str, str]] = set()
    for customer in audience:
        names = [sub.name for sub, keys in zip(subs, matches, strict=True) if customer in keys]
        names = names[:1] if first_match else names
        if not names and remainder:
            names = [REMAINDER]
        out.update((customer, name) for name in names)
    return frozenset(out)
