"""Compile a segment into one sqlglot SELECT of customer keys (DESIGN §1.2).

Every condition compiles to a two-valued boolean (never NULL), so ``not`` is a true complement
over all customers. A condition on another table becomes a semi-join (``key IN (SELECT …)``):

- per-customer tables (one row per customer): a customer without a row behaves as if every
  column were NULL, so only the null and empty checks select them;
- other tables (transactions, items, custom tables): "has at least one row where …".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import reduce
from typing import Any

from sqlglot import exp

from herald.core.catalog import AttributeType, Catalog, Column, Table, did_you_mean
from herald.core.dates import parse_duration, shift
from herald.core.segments import values as v
from herald.core.segments.decimals import decimal_scale, finer_than_column, fits
from herald.core.segments.model import Attribute, Group, InSegment, Node, Purchase, Segment
from herald.core.segments.operators import Operator, lookup_operator, operators_for
from herald.core.segments.sql import validate_sql_segment
from herald.exceptions import SegmentError

BASE = "base"
SegmentResolver = Callable[[str], Segment]


@dataclass(frozen=True)
class Context:
    """What compilation needs besides the definition; pure data, no connections."""

    catalog: Catalog
    today: dt.date
    resolve_segment: SegmentResolver | None = None
    dialect: str = "duckdb"
    stack: tuple[str, ...] = field(default=())

    def key(self, alias: str) -> exp.Column:
        return exp.column(self.catalog.customer_key, alias, quoted=True)


def compile_segment(
    segment: Segment,
    catalog: Catalog,
    *,
    today: dt.date,
    resolve_segment: SegmentResolver | None = None,
    dialect: str = "duckdb",
) -> exp.Select:
    """The SELECT of the customer keys in ``segment``, as a sqlglot tree.

    Args:
        segment: the definition.
        catalog: tables and column types of the customer database.
        today: the UTC date relative dates are resolved against.
        resolve_segment: returns the active definition of a segment named in a condition.
        dialect: the SQL dialect SQL segments are written in.

    Raises:
        SegmentError: an unknown table or column, an operator not valid for the column's type,
            a value of the wrong type, or a SQL segment that is not one read-only SELECT.
    """
    ctx = Context(catalog, today, resolve_segment, dialect, (segment.name,))
    return _compile(segment, ctx)


def condition_compiler(
    segment: Segment,
    catalog: Catalog,
    *,
    today: dt.date,
    resolve_segment: SegmentResolver | None = None,
    dialect: str = "duckdb",
) -> tuple[exp.Select, Callable[[Node], exp.Expr]]:
    """The base query (every customer, the base table aliased ``base``) and a function that
    compiles one node of ``segment`` to its two-valued boolean over that base.

    The waterfall and overlap queries use it to evaluate each condition as a column.

    Raises:
        SegmentError: as :func:`compile_segment`, when the base table or its key is missing.
    """
    ctx = Context(catalog, today, resolve_segment, dialect, (segment.name,))
    base = _base_table(catalog)
    _require_column(base, catalog.customer_key, "the customer key", None)
    return exp.select().from_(_table(base.name, BASE)), lambda node: _node(node, ctx)


def _compile(segment: Segment, ctx: Context) -> exp.Select:
    base = _base_table(ctx.catalog)
    _require_column(base, ctx.catalog.customer_key, "the customer key", None)
    query = exp.select(ctx.key(BASE)).from_(_table(base.name, BASE))
    if segment.sql is not None:
        user_query = validate_sql_segment(segment.sql, ctx.catalog, dialect=ctx.dialect)
        return query.where(exp.In(this=ctx.key(BASE), query=exp.Subquery(this=user_query)))
    if segment.where is not None:
        query = query.where(_node(segment.where, ctx))
    return query


def _base_table(catalog: Catalog) -> Table:
    table = catalog.table(catalog.base_table)
    if table is None:
        msg = (
            f"the base table '{catalog.base_table}' is not in the database; "
            "set [database] base_table in herald.toml."
            f"{did_you_mean(catalog.base_table, catalog.table_names())}"
        )
        raise SegmentError(msg)
    return table


def _node(node: Node, ctx: Context) -> exp.Expr:
    if isinstance(node, Group):
        return _group(node, [_node(item, ctx) for item in node.items])
    if isinstance(node, Attribute):
        return _attribute(node, ctx)
    if isinstance(node, InSegment):
        return _in_segment(node, ctx)
    return _purchase(node, ctx)


def _group(group: Group, parts: list[exp.Expr]) -> exp.Expr:
    # One flat connector: folding pairs nests a parenthesis per condition, and sqlglot then
    # recurses once per level (a few hundred conditions exceeded Python's recursion limit).
    if group.kind == "any":
        return exp.or_(*parts)
    combined = exp.and_(*parts)
    return exp.not_(combined) if group.kind == "not" else combined


# --- attribute conditions -------------------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    table: Table
    column: Column
    op: Operator
    attr_type: AttributeType


def _resolve(
    cond: Attribute, ctx: Context, allowed_tables: tuple[str, ...] | None = None
) -> Resolved:
    table_name, _, column_name = cond.attribute.rpartition(".")
    table_name = table_name or ctx.catalog.base_table
    table = ctx.catalog.table(table_name)
    candidates = allowed_tables or tuple(ctx.catalog.table_names())
    if table is None or (
        allowed_tables and table.name.lower() not in {t.lower() for t in allowed_tables}
    ):
        where = "" if table is None else " here"
        msg = (
            f"unknown table '{table_name}'{where}.{did_you_mean(table_name, candidates)} "
            f"Tables: {', '.join(candidates)}"
        )
        raise SegmentError(msg, location=f"{cond.location}.attribute")
    column = _require_column(table, column_name, "column", f"{cond.location}.attribute")
    if column.type is None:
        msg = (
            f"column '{table.name}.{column.name}' has type {column.engine_type}, "
            "which segments cannot filter on"
        )
        raise SegmentError(msg, location=f"{cond.location}.attribute")
    op = lookup_operator(cond.op)
    if op is None or column.type not in op.types:
        valid = ", ".join(operators_for(column.type))
        what = (
            f"unknown operator '{cond.op}'"
            if op is None
            else f"operator '{op.name}' does not apply to"
        )
        subject = "" if op is None else f" {column.type} column '{table.name}.{column.name}'"
        hint = did_you_mean(cond.op, operators_for(column.type)) if op is None else ""
        msg = f"{what}{subject}.{hint} Valid for {column.type}: {valid}"
        raise SegmentError(msg, location=f"{cond.location}.op")
    return Resolved(table, column, op, column.type)


def _require_column(table: Table, name: str, what: str, location: str | None) -> Column:
    column = table.column(name)
    if column is None:
        hint = did_you_mean(name, table.column_names())
        msg = f"unknown {what} '{name}' in table '{table.name}'.{hint}"
        raise SegmentError(msg, location=location)
    return column


def _attribute(cond: Attribute, ctx: Context) -> exp.Expr:
    res = _resolve(cond, ctx)
    alias = BASE if res.table.name.lower() == ctx.catalog.base_table.lower() else "t"
    predicate = _predicate(cond, res, exp.column(res.column.name, alias, quoted=True), ctx)
    if alias == BASE:
        return predicate
    rows = _semi_join_rows(res, predicate, ctx)
    return exp.not_(rows) if _null_row_selects(res, ctx) else rows


def _null_row_selects(res: Resolved, ctx: Context) -> bool:
    return res.op.matches_null and ctx.catalog.is_customer_table(res.table.name)


def _semi_join_rows(res: Resolved, predicate: exp.Expr, ctx: Context) -> exp.Expr:
    """``key IN (rows where P)``, or for a null check on a per-customer table the complement
    ``key NOT IN (rows where NOT P)``, so customers with no row count as NULL."""
    key = ctx.key("t")
    condition = exp.not_(predicate) if _null_row_selects(res, ctx) else predicate
    rows = (
        exp.select(key)
        .from_(_table(res.table.name, "t"))
        .where(exp.and_(key.is_(exp.null()).not_(), condition))
    )
    return exp.In(this=ctx.key(BASE), query=exp.Subquery(this=rows))


def _predicate(cond: Attribute, res: Resolved, col: exp.Expr, ctx: Context) -> exp.Expr:
    """A two-valued predicate on ``col``: NULL never leaks out of it."""
    try:
        raw = _raw_predicate(cond, res, col, ctx)
    except v.ValueProblem as problem:
        field_name = "values" if res.op.arity in ("two", "many") else "value"
        msg = f"{res.table.name}.{res.column.name} ({res.attr_type}), {res.op.name}: {problem}"
        raise SegmentError(msg, location=f"{cond.location}.{field_name}") from None
    if res.op.name in ("is_null", "is_not_null", "is_empty", "is_not_empty"):
        return raw
    return exp.Coalesce(this=raw, expressions=[exp.false()])


def _raw_predicate(cond: Attribute, res: Resolved, col: exp.Expr, ctx: Context) -> exp.Expr:
    op, kind = res.op.name, res.attr_type
    operands = _operands(cond, res)
    if op in _NO_VALUE:
        return _NO_VALUE[op](col)
    if kind in ("date", "datetime"):
        col, literals = _temporal_operands(col, operands, kind, ctx.today)
    elif kind in ("integer", "decimal"):
        literals = [v.number_literal(x, kind) for x in operands]
        if res.op.arity == "two" and Decimal(str(operands[0])) >= Decimal(str(operands[1])):
            msg = "the first value must be less than the second (both ends are excluded)"
            raise v.ValueProblem(msg)
        scale = decimal_scale(res.column.engine_type) if kind == "decimal" else None
        if scale is not None and not all(fits(x, scale) for x in operands):
            return finer_than_column(op, col, [Decimal(str(x)) for x in operands], scale)
    else:
        literals = [v.string_literal(x) for x in operands]
    return _COMPARE[op](col, literals)


def _operands(cond: Attribute, res: Resolved) -> list[Any]:
    op = res.op
    if op.arity == "none":
        if cond.value is not None or cond.values is not None:
            msg = f"'{op.name}' takes no value; remove it"
            raise v.ValueProblem(msg)
        return []
    if op.arity == "one":
        if cond.values is not None or isinstance(cond.value, list | tuple):
            msg = f"'{op.name}' takes one 'value', not a list"
            raise v.ValueProblem(msg)
        if cond.value is None:
            msg = f"'{op.name}' needs a 'value'"
            raise v.ValueProblem(msg)
        return [cond.value]
    items = cond.values if cond.values is not None else cond.value
    if not isinstance(items, list | tuple):
        shape = "[low, high]" if op.arity == "two" else "[a, b, …]"
        msg = f"'{op.name}' needs 'values: {shape}'"
        raise v.ValueProblem(msg)
    if op.arity == "two" and len(items) != 2:
        msg = f"'{op.name}' needs exactly two values [low, high], got {len(items)}"
        raise v.ValueProblem(msg)
    if op.arity == "many" and not items:
        msg = f"'{op.name}' needs at least one value"
        raise v.ValueProblem(msg)
    return list(items)


def _temporal_operands(
    col: exp.Expr, operands: list[Any], kind: AttributeType, today: dt.date
) -> tuple[exp.Expr, list[exp.Expr]]:
    values = [v.temporal(x, kind, today) for x in operands]
    as_timestamp = any(x.has_time for x in values)
    _check_order(values)
    if kind == "datetime" and not as_timestamp:
        # A date value on a datetime column means the whole day: compare dates (DESIGN §1.2).
        col = exp.cast(col, exp.DataType.Type.DATE)
    return col, [x.literal(as_timestamp) for x in values]


def _check_order(values: list[v.TemporalValue]) -> None:
    if len(values) == 2:
        low, high = (_as_datetime(x) for x in values)
        if low >= high:
            msg = "the first value must be before the second (both ends are excluded)"
            raise v.ValueProblem(msg)


def _as_datetime(x: v.TemporalValue) -> dt.datetime:
    return x.value if isinstance(x.value, dt.datetime) else dt.datetime.combine(x.value, dt.time())


def _blank(col: exp.Expr) -> exp.Expr:
    """Only spaces, tabs, carriage returns and line feeds (or nothing): as ``TRIM(col, ' \t\r
    \n') = ''``, but one regular-expression pass instead of a copy of every value (five times
    faster on DuckDB), and rendered for any engine (``RLIKE`` on Spark)."""
    return exp.RegexpLike(this=col, expression=exp.Literal.string(r"^[ \t\r\n]*$"))


def _between(col: exp.Expr, lit: list[exp.Expr]) -> exp.Expr:
    return exp.and_(exp.GT(this=col, expression=lit[0]), exp.LT(this=col, expression=lit[1]))


def _not_between(col: exp.Expr, lit: list[exp.Expr]) -> exp.Expr:
    return exp.or_(exp.LTE(this=col, expression=lit[0]), exp.GTE(this=col, expression=lit[1]))


_NO_VALUE: dict[str, Callable[[exp.Expr], exp.Expr]] = {
    "is_null": lambda c: c.is_(exp.null()),
    "is_not_null": lambda c: c.is_(exp.null()).not_(),
    "is_true": lambda c: exp.EQ(this=c, expression=exp.true()),
    "is_false": lambda c: exp.EQ(this=c, expression=exp.false()),
    "is_empty": lambda c: exp.or_(c.is_(exp.null()), _blank(c)),
    "is_not_empty": lambda c: exp.and_(c.is_(exp.null()).not_(), exp.not_(_blank(c))),
}

_COMPARE: dict[str, Callable[[exp.Expr, list[exp.Expr]], exp.Expr]] = {
    "is": lambda c, lit: exp.EQ(this=c, expression=lit[0]),
    "is_exactly": lambda c, lit: exp.EQ(this=c, expression=lit[0]),
    "is_not": lambda c, lit: exp.NEQ(this=c, expression=lit[0]),
    "is_not_exactly": lambda c, lit: exp.NEQ(this=c, expression=lit[0]),
    "after": lambda c, lit: exp.GT(this=c, expression=lit[0]),
    "greater_than": lambda c, lit: exp.GT(this=c, expression=lit[0]),
    "on_or_after": lambda c, lit: exp.GTE(this=c, expression=lit[0]),
    "greater_than_or_equal": lambda c, lit: exp.GTE(this=c, expression=lit[0]),
    "before": lambda c, lit: exp.LT(this=c, expression=lit[0]),
    "less_than": lambda c, lit: exp.LT(this=c, expression=lit[0]),
    "on_or_before": lambda c, lit: exp.LTE(this=c, expression=lit[0]),
    "less_than_or_equal": lambda c, lit: exp.LTE(this=c, expression=lit[0]),
    "between": _between,
    "not_between": _not_between,
    "in_list": lambda c, lit: exp.In(this=c, expressions=lit),
    "not_in_list": lambda c, lit: exp.not_(exp.In(this=c, expressions=lit)),
    "contains": lambda c, lit: exp.GT(
        this=exp.StrPosition(this=c, substr=lit[0]), expression=exp.Literal.number(0)
    ),
    "does_not_contain": lambda c, lit: exp.EQ(
        this=exp.StrPosition(this=c, substr=lit[0]), expression=exp.Literal.number(0)
    ),
    "starts_with": lambda c, lit: exp.StartsWith(this=c, expression=lit[0]),
    "ends_with": lambda c, lit: exp.EndsWith(this=c, expression=lit[0]),
}


# --- segment membership ---------------------------------------------------------------------


def _in_segment(cond: InSegment, ctx: Context) -> exp.Expr:
    if cond.segment in ctx.stack:
        cycle = " → ".join([*ctx.stack, cond.segment])
        msg = f"segments refer to each other in a cycle: {cycle}"
        raise SegmentError(msg, location=f"{cond.location}.segment")
    if ctx.resolve_segment is None:
        msg = f"cannot look up segment '{cond.segment}' here (no segment store)"
        raise SegmentError(msg, location=f"{cond.location}.segment")
    try:
        other = ctx.resolve_segment(cond.segment)
    except SegmentError as error:
        raise SegmentError(error.message, location=f"{cond.location}.segment") from None
    try:
        inner = _compile(
            other,
            Context(
                ctx.catalog, ctx.today, ctx.resolve_segment, ctx.dialect, (*ctx.stack, cond.segment)
            ),
        )
    except SegmentError as error:
        if error.location and error.location.startswith(cond.location):
            raise
        msg = f"segment '{cond.segment}' no longer compiles: {error.message}"
        raise SegmentError(msg, location=f"{cond.location}.segment") from None
    # NOT IN over a NULL key would select nobody; keys are never NULL in a member list.
    inner = inner.where(ctx.key(BASE).is_(exp.null()).not_())
    member = exp.In(this=ctx.key(BASE), query=exp.Subquery(this=inner))
    return exp.not_(member) if cond.negate else member


# --- purchase behaviour ---------------------------------------------------------------------


def _purchase(cond: Purchase, ctx: Context) -> exp.Expr:
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
        _table(tx.name if uses_tx else allowed[1], driving)
    )
    if uses_items and uses_tx:
        source = source.join(
            _table(allowed[1], "it"),
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
        source = source.where(reduce(lambda a, b: exp.and_(a, b), conditions))
    source = _thresholds(source, cond, driving, uses_items, ctx)
    member = exp.In(this=ctx.key(BASE), query=exp.Subquery(this=source))
    return exp.not_(member) if cond.negate else member


_TX_COLUMNS = ("order_id", "order_datetime", "order_revenue")
_ITEM_COLUMNS = ("order_id", "order_datetime", "item_revenue")


def _purchase_table(catalog: Catalog, name: str, cond: Purchase, columns: tuple[str, ...]) -> Table:
    table = catalog.table(name)
    if table is None:
        msg = f"purchase behaviour needs the table '{name}', which is not in the database"
        raise SegmentError(msg, location=cond.location)
    for column in (catalog.customer_key, *columns):
        _require_column(table, column, "column (needed for purchase behaviour)", cond.location)
    return table


def _row_filters(where: Group, ctx: Context, allowed: tuple[str, ...]) -> tuple[exp.Expr, set[str]]:
    """Row-level filters on transaction/item columns, and which of the two tables they use."""
    used: set[str] = set()

    def walk(node: Node) -> exp.Expr:
        if isinstance(node, Group):
            return _group(node, [walk(item) for item in node.items])
        if not isinstance(node, Attribute):
            msg = "purchase filters take attribute conditions on transaction or item columns only"
            raise SegmentError(msg, location=node.location)
        res = _resolve(node, ctx, allowed)
        alias = "tx" if res.table.name.lower() == allowed[0].lower() else "it"
        used.add(alias)
        return _predicate(node, res, exp.column(res.column.name, alias, quoted=True), ctx)

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
    return source.group_by(ctx.key(driving)).having(reduce(lambda a, b: exp.and_(a, b), having))


def _eq(a: exp.Expr, b: exp.Expr) -> exp.Expr:
    return exp.EQ(this=a, expression=b)


def _table(name: str, alias: str) -> exp.Table:
    return exp.Table(
        this=exp.to_identifier(name, quoted=True),
        alias=exp.TableAlias(this=exp.to_identifier(alias)),
    )
