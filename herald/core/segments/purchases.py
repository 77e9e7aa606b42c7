"""Purchase behaviour (DESIGN §1.2): "has purchased" and "has not purchased", with row
filters on transaction and item columns, a window, and thresholds on orders and revenue."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from herald.core.catalog import Catalog, Table
from herald.core.dates import parse_duration, shift
from herald.core.segments import values as v
from herald.core.segments.context import (
    Context,
    aliased_table,
    and_all,
    combine_group,
    require_column,
)
from herald.core.segments.model import Attribute, Group, Node, Purchase
from herald.core.segments.predicates import predicate, resolve
from herald.exceptions import SegmentError


@dataclass(frozen=True)
class PurchaseRows:
    """The customer keys a purchase condition selects (``source``, before ``negate``), read
    from the table aliased ``driving``."""

    source: exp.Select
    driving: str

    def restricted_to(self, candidates: exp.Select, ctx: Context) -> exp.Select:
        """The same keys, reading only the orders of ``candidates``' customers: grouping the
        orders of a few customers is much cheaper than grouping everyone's first."""
        key = ctx.key(self.driving)
        only = ctx.member(key, candidates)
        return self.source.where(only, copy=False)


def purchase_rows(cond: Purchase, ctx: Context) -> PurchaseRows:
    """The purchase condition's customers, as a SELECT of keys.

    Raises:
        SegmentError: a missing table or column, a filter on another table, a bad window.
    """
    tx = _purchase_table(ctx.catalog, ctx.catalog.transactions_table, cond, _TX_COLUMNS)
    items = ctx.catalog.table(ctx.catalog.items_table)
    allowed = tuple(t.name for t in (tx, items) if t is not None)
    filters = _row_filters(cond.where, ctx, allowed) if cond.where is not None else None
    uses_items = filters is not None and "it" in filters[1]
    uses_tx = filters is None or "tx" in filters[1]
    driving = "tx" if uses_tx else "it"
    if uses_items:
        _purchase_table(ctx.catalog, ctx.catalog.items_table, cond, _ITEM_COLUMNS)
    source: exp.Select = exp.select(ctx.key(driving)).from_(
        aliased_table(tx.name if uses_tx else allowed[1], driving)
    )
    if uses_items and uses_tx:
        source = source.join(
            aliased_table(allowed[1], "it"),
            on=exp.and_(
                _eq(
                    exp.column("order_id", "it", quoted=True),
                    exp.column("order_id", "tx", quoted=True),
                ),
                _eq(ctx.key("it"), ctx.key("tx")),
            ),
        )
    # Rows without a customer key belong to nobody; a NULL in the IN list would also turn
    # "not in" (has not purchased) into NULL for every customer.
    known = ctx.key(driving).is_(exp.null()).not_()
    conditions = [
        c
        for c in [known, filters[0] if filters else None, *_window(cond, driving, ctx)]
        if c is not None
    ]
    if conditions:
        source = source.where(and_all(conditions), copy=False)
    return PurchaseRows(_thresholds(source, cond, driving, uses_items, ctx), driving)


def aggregates(cond: Purchase) -> bool:
    """Whether the condition counts or sums each customer's orders (a GROUP BY)."""
    return (cond.min_count or 1) > 1 or cond.min_total is not None


_TX_COLUMNS = ("order_id", "order_datetime", "order_revenue")
_ITEM_COLUMNS = ("order_id", "order_datetime", "item_revenue")


def _purchase_table(catalog: Catalog, name: str, cond: Purchase, columns: tuple[str, ...]) -> Table:
    table = catalog.table(name)
    if table is None:
        msg = f"purchase behaviour needs the table '{name}', which is not in the database"
        raise SegmentError(msg, location=cond.location)
    for column in (catalog.customer_key, *columns):
        require_column(table, column, "column (needed for purchase behaviour)", cond.location)
    return table


def _row_filters(where: Group, ctx: Context, allowed: tuple[str, ...]) -> tuple[exp.Expr, set[str]]:
    """Row-level filters on transaction/item columns, and which of the two tables they use.

    A filter is a WHERE clause: its conditions may yield NULL for false, except under a
    ``not``, whose complement must be exact (``negative``).
    """
    used: set[str] = set()

    def walk(node: Node, negative: bool = False) -> exp.Expr:
        if isinstance(node, Group):
            inner = negative != (node.kind == "not")
            return combine_group(node.kind, [walk(item, inner) for item in node.items])
        if not isinstance(node, Attribute):
            msg = "purchase filters take attribute conditions on transaction or item columns only"
            raise SegmentError(msg, location=node.location)
        res = resolve(node, ctx, allowed)
        alias = "tx" if res.table.name.lower() == allowed[0].lower() else "it"
        used.add(alias)
        column = exp.column(res.column.name, alias, quoted=True)
        return predicate(node, res, column, ctx, two_valued=negative)

    return walk(where), used


def _window(cond: Purchase, alias: str, ctx: Context) -> list[exp.Expr]:
    when = exp.column("order_datetime", alias, quoted=True)
    since = _window_date(cond.since, "since", cond, ctx)
    if cond.within is not None:
        try:
            amount, unit = parse_duration(cond.within)
        except ValueError as problem:
            raise SegmentError(str(problem), location=f"{cond.location}.within") from None
        since = max(filter(None, [since, shift(ctx.today, -amount, unit)]))
    until = _window_date(cond.until, "until", cond, ctx)
    if since and until and since > until:
        msg = f"the window is empty: since {since} is after until {until}"
        raise SegmentError(msg, location=f"{cond.location}.until")
    out: list[exp.Expr] = []
    if since is not None:
        out.append(exp.GTE(this=when, expression=v.TemporalValue(since, False).literal(True)))
    if until == dt.date.max:  # no day after it: through its last microsecond
        last = v.TemporalValue(dt.datetime.combine(until, dt.time.max), True)
        out.append(exp.LTE(this=when, expression=last.literal(True)))
    elif until is not None:
        day_after = v.TemporalValue(until + dt.timedelta(days=1), False)
        out.append(exp.LT(this=when, expression=day_after.literal(True)))
    return out


def _window_date(value: Any, key: str, cond: Purchase, ctx: Context) -> dt.date | None:
    if value is None:
        return None
    try:
        resolved = v.temporal(value, "date", ctx.today).value
    except v.ValueProblem as problem:
        raise SegmentError(str(problem), location=f"{cond.location}.{key}") from None
    assert isinstance(resolved, dt.date)
    return resolved


def _thresholds(
    source: exp.Select, cond: Purchase, driving: str, uses_items: bool, ctx: Context
) -> exp.Select:
    min_count = cond.min_count or 1
    if min_count == 1 and cond.min_total is None:
        return source
    having: list[exp.Expr] = []
    if min_count > 1:
        # Unified_Transactions has one row per order, so counting rows counts orders (and is
        # several times cheaper than COUNT(DISTINCT)); line items need the distinct count.
        order_id = exp.column("order_id", driving, quoted=True)
        orders = exp.Count(this=exp.Distinct(expressions=[order_id]) if uses_items else exp.Star())
        having.append(exp.GTE(this=orders, expression=exp.Literal.number(min_count)))
    if cond.min_total is not None:
        try:
            total = v.number_literal(cond.min_total, "decimal")
        except v.ValueProblem as problem:
            msg = f"min_total: {problem}"
            raise SegmentError(msg, location=f"{cond.location}.min_total") from None
        revenue = "item_revenue" if uses_items else "order_revenue"
        spent = exp.Sum(this=exp.column(revenue, "it" if uses_items else driving, quoted=True))
        having.append(exp.GTE(this=spent, expression=total))
    return source.group_by(ctx.key(driving), copy=False).having(and_all(having), copy=False)


def _eq(a: exp.Expr, b: exp.Expr) -> exp.Expr:
    return exp.EQ(this=a, expression=b)
