"""The results query: each group's sufficient statistics over its window, in ONE query.

A run's recipients log (``herald.runs.snapshots.write_recipients_log``) says who was in which
group; the transactions table says who bought what when. The query joins the two in the
engine, never row by row in Python:

- ``recipients``: the log de-duplicated, one row per recipient of a (run, sub-audience, group)
  (the log has a row per destination), with the start of their window: the launch date at
  00:00 UTC, or the delivery date when there is none. Pooled over several runs, a customer
  counts once, in their first run's group (earliest delivery), from that run's start;
- ``starts``: the few distinct window starts (one per run);
- ``purchases``: each recipient's orders pre-aggregated per window start: orders and revenue
  in the window ``start <= t < start + window`` and revenue in the pre-period of the same
  length just before it, both clipped at ``as_of``. Only the recipients' orders are read (a
  semi join), and only those near a window;
- ``per_recipient``: every recipient with their figures, 0 without orders (intent to treat:
  every assigned recipient counts, whether or not a destination accepted them);
- the final aggregate: :class:`~herald.core.results.model.GroupSums`' columns per group, the
  exact revenue total (``revenue_total``, DECIMAL), and the window's first start and last end.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlglot import exp

from herald.core.catalog import Catalog, Table
from herald.core.results.model import GroupSums
from herald.core.segments.decimals import decimal_scale
from herald.exceptions import ConfigError

LOG_TABLE = "herald_recipients_log"
"""The name under which the engine shows the recipients logs (Parquet) to the query."""
LOG_GROUP_COLUMNS = ("sub_audience", "group", "is_control")
SUM_COLUMNS = tuple(GroupSums.__dataclass_fields__)
DEFAULT_WINDOW_DAYS = 30

_WINDOW = re.compile(r"^\s*(\d+)\s*(d|days?|w|weeks?)?\s*$", re.IGNORECASE)


def parse_window(text: str) -> int:
    """A results window in days: ``30d``, ``4w``, ``30``, ``30 days``.

    >>> parse_window("4w"), parse_window("30d"), parse_window("7")
    (28, 30, 7)

    Raises:
        ConfigError: anything else, or a window of 0 days.
    """
    match = _WINDOW.match(text)
    days = 0
    if match:
        days = int(match.group(1)) * (7 if (match.group(2) or "d")[0].lower() == "w" else 1)
    if not 0 < days <= 3660:
        msg = f"window '{text}' is not a number of days from 1 to 3660: write 30d (or 4w)"
        raise ConfigError(msg)
    return days


@dataclass(frozen=True)
class Transactions:
    """The transactions table and the columns results read: ``[database]
    transactions_table``, ``order_time_column`` and ``order_revenue_column``."""

    table: Table
    order_time: str
    revenue: str

    @property
    def name(self) -> str:
        return self.table.name


def transactions_table(catalog: Catalog) -> Transactions:
    """The transactions table, with the customer key, order time and revenue columns.

    Raises:
        ConfigError: the table or one of its columns is missing.
    """
    table = catalog.table(catalog.transactions_table)
    if table is None:
        msg = (
            f"results need the transactions table '{catalog.transactions_table}', which is not "
            "in the database; set [database] transactions_table in herald.toml"
        )
        raise ConfigError(msg)
    roles = (
        ("customer_key", catalog.customer_key),
        ("order_time_column", catalog.order_time_column),
        ("order_revenue_column", catalog.order_revenue_column),
    )
    for role, column in roles:
        if table.column(column) is None:
            msg = (
                f"results need the column '{column}' in the transactions table '{table.name}'; "
                f"set [database] {role} in herald.toml"
            )
            raise ConfigError(msg)
    # The columns as the engine spells them (the settings match without case).
    return Transactions(
        table, _named(table, catalog.order_time_column), _named(table, catalog.order_revenue_column)
    )


def _named(table: Table, column: str) -> str:
    found = table.column(column)
    assert found is not None, f"{column} was checked"
    return found.name


def results_query(
    catalog: Catalog,
    *,
    window_days: int,
    as_of: dt.datetime,
    per_run: bool,
    log_table: str = LOG_TABLE,
) -> exp.Select:
    """Each group's sums over its window, per run or pooled over the runs of ``log_table``.

    Args:
        catalog: the database's catalog (customer key, transactions table and its columns).
        window_days: the window's length, and the pre-period's.
        as_of: no order at or after this moment counts (UTC; naive means UTC).
        per_run: group by run too; else pool the runs, each customer once, in their first run.
        log_table: the table holding the recipients logs.

    Returns:
        One row per (``run_id``,) ``sub_audience, group, is_control``, with the
        :data:`SUM_COLUMNS`, ``revenue_total`` (DECIMAL), ``window_start`` and ``window_end``
        (the latest nominal end, which may be after ``as_of``).

    Raises:
        ConfigError: the transactions table or one of its columns is missing.

    >>> from herald.core.catalog import Catalog
    >>> cat = Catalog.from_columns(
    ...     [("Unified_Transactions", c, None, "") for c in
    ...      ("amperity_id", "order_datetime", "order_revenue")])
    >>> q = results_query(cat, window_days=30, as_of=dt.datetime(2026, 6, 30), per_run=True)
    >>> [s.alias_or_name for s in q.selects][:5]
    ['run_id', 'sub_audience', 'group', 'is_control', 'recipients']
    """
    tx = transactions_table(catalog)
    key = catalog.customer_key
    labels = (("run_id",) if per_run else ()) + LOG_GROUP_COLUMNS
    window = _days(window_days)
    recipients = _recipients(log_table, key, labels, per_run)
    starts = exp.select(_col("window_start")).distinct().from_("recipients")
    return (
        _final(labels, window)
        .with_("recipients", as_=recipients)
        .with_("starts", as_=starts)
        .with_("purchases", as_=_purchases(tx, key, window, _timestamp(as_of)))
        .with_("per_recipient", as_=_per_recipient(key, labels))
    )


def _recipients(log_table: str, key: str, labels: tuple[str, ...], per_run: bool) -> exp.Select:
    launch = _col("launch_date")
    delivered_day = exp.cast(_col("delivered_at"), exp.DataType.Type.DATE)
    start = exp.cast(
        exp.Coalesce(this=launch, expressions=[delivered_day]), exp.DataType.Type.TIMESTAMP
    )
    columns = [*(_col(c) for c in labels), _col(key), exp.alias_(start, "window_start")]
    if per_run:
        return exp.select(*columns).distinct().from_(_table(log_table))
    # Every row of the customer's first run (one per destination, and one per sub-audience
    # when sub-audiences overlap) ranks 1; the DISTINCT then keeps one per group.
    first = exp.Window(
        this=exp.DenseRank(),
        partition_by=[_col(key)],
        order=exp.Order(
            expressions=[exp.Ordered(this=_col("delivered_at")), exp.Ordered(this=_col("run_id"))]
        ),
    )
    ranked = exp.select(*columns, exp.alias_(first, "nth")).from_(_table(log_table))
    return (
        exp.select(*(_col(c) for c in (*labels, key, "window_start")))
        .distinct()
        .from_(ranked.subquery("ranked"))
        .where(exp.EQ(this=_col("nth"), expression=exp.Literal.number(1)))
    )


def _purchases(tx: Transactions, key: str, window: exp.Interval, as_of: exp.Expr) -> exp.Select:
    when = _col(tx.order_time, "t")
    start = _col("window_start", "s")
    near = exp.and_(
        exp.GTE(this=when, expression=exp.Sub(this=start, expression=window)),
        exp.LT(this=when, expression=exp.Add(this=start.copy(), expression=window.copy())),
    )
    recipients = exp.select(_col(key)).from_("recipients")
    in_window = exp.GTE(this=when.copy(), expression=start.copy())
    revenue = exp.Coalesce(this=_revenue(tx), expressions=[exp.Literal.number(0)])
    return (
        exp.select(
            exp.alias_(_col(key, "t"), key, quoted=True),
            start.copy(),
            exp.alias_(exp.Count(this=_when(in_window, exp.Literal.number(1))), "orders"),
            exp.alias_(exp.Sum(this=_when(in_window.copy(), revenue)), "y"),
            exp.alias_(exp.Sum(this=_when(in_window.copy().not_(), revenue.copy())), "x"),
        )
        .from_(exp.alias_(exp.to_table(tx.name, quoted=True), "t", table=True))
        .join(exp.alias_(exp.to_table("starts"), "s", table=True), on=near)
        .where(exp.In(this=_col(key, "t"), query=exp.Subquery(this=recipients)))
        .where(exp.LT(this=when.copy(), expression=as_of))
        .group_by(_col(key, "t"), start.copy())
    )


def _revenue(tx: Transactions) -> exp.Expr:
    """Order revenue as an exact DECIMAL: a DECIMAL column as it is, anything else to cents."""
    column = tx.table.column(tx.revenue)
    revenue = _col(tx.revenue, "t")
    if column is not None and decimal_scale(column.engine_type) is not None:
        return revenue
    return exp.cast(revenue, exp.DataType.build("DECIMAL(38, 2)"))


def _per_recipient(key: str, labels: tuple[str, ...]) -> exp.Select:
    zero = exp.Literal.number(0)
    figures = [
        exp.alias_(exp.Coalesce(this=_col(name, "p"), expressions=[zero.copy()]), name)
        for name in ("orders", "y", "x")
    ]
    on = exp.and_(
        exp.EQ(this=_col(key, "p"), expression=_col(key, "r")),
        exp.EQ(this=_col("window_start", "p"), expression=_col("window_start", "r")),
    )
    return (
        exp.select(*(_col(c, "r") for c in (*labels, "window_start")), *figures)
        .from_(exp.alias_(exp.to_table("recipients"), "r", table=True))
        .join(exp.alias_(exp.to_table("purchases"), "p", table=True), on=on, join_type="left")
    )


def _final(labels: tuple[str, ...], window: exp.Interval) -> exp.Select:
    y, x = _double("y"), _double("x")
    sums = {
        "recipients": exp.Count(this=exp.Star()),
        "purchasers": exp.Sum(
            this=_when(exp.GT(this=_col("orders"), expression=exp.Literal.number(0)), _one(), 0)
        ),
        "orders": exp.Sum(this=_col("orders")),
        "revenue": exp.Sum(this=y),
        "revenue_sq": exp.Sum(this=exp.Mul(this=y.copy(), expression=y.copy())),
        "pre_revenue": exp.Sum(this=x),
        "pre_revenue_sq": exp.Sum(this=exp.Mul(this=x.copy(), expression=x.copy())),
        "revenue_cross": exp.Sum(this=exp.Mul(this=x.copy(), expression=y.copy())),
    }
    counts = {"recipients", "purchasers", "orders"}
    selected = [
        exp.alias_(exp.cast(value, exp.DataType.Type.BIGINT) if name in counts else value, name)
        for name, value in sums.items()
    ]
    end = exp.Add(this=_col("window_start"), expression=window)
    return (
        exp.select(
            *(_col(c) for c in labels),
            *selected,
            exp.alias_(exp.Sum(this=_col("y")), "revenue_total"),
            exp.alias_(exp.Min(this=_col("window_start")), "window_start"),
            exp.alias_(exp.Max(this=end), "window_end"),
        )
        .from_("per_recipient")
        .group_by(*(_col(c) for c in labels))
        .order_by(*(_col(c) for c in labels))
    )


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table, quoted=True)


def _table(name: str) -> exp.Table:
    return exp.to_table(name, quoted=True)


def _one() -> exp.Expr:
    return exp.Literal.number(1)


def _when(condition: exp.Expr, value: exp.Expr, default: int | None = None) -> exp.Case:
    otherwise = None if default is None else exp.Literal.number(default)
    return exp.Case(ifs=[exp.If(this=condition, true=value)], default=otherwise)


def _double(name: str) -> exp.Expr:
    return exp.cast(_col(name), exp.DataType.Type.DOUBLE)


def _days(days: int) -> exp.Interval:
    return exp.Interval(this=exp.Literal.string(str(days)), unit=exp.Var(this="DAY"))


def _timestamp(moment: dt.datetime) -> exp.Expr:
    """A UTC moment as a TIMESTAMP literal (transaction times are UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    text = moment.isoformat(sep=" ")
    return exp.cast(exp.Literal.string(text), exp.DataType.Type.TIMESTAMP)


# --- cumulative conversion by day -----------------------------------------------------------


def daily_query(
    catalog: Catalog,
    *,
    window_days: int,
    as_of: dt.datetime,
    per_run: bool,
    log_table: str = LOG_TABLE,
) -> exp.Select:
    """New purchasers per group and day since the window's start, and the running total.

    The same recipients as :func:`results_query` (de-duplicated; pooled, each customer once, in
    their first run), each counted on the day of their first order in the window (clipped at
    ``as_of``): day 0 is the start's date. So the cumulative purchasers on the window's last
    day are the group's ``purchasers`` of :func:`results_query`.

    Args:
        catalog: the database's catalog (customer key, transactions table and its columns).
        window_days: the window's length.
        as_of: no order at or after this moment counts (UTC; naive means UTC).
        per_run: group by run too; else pool the runs, each customer once, in their first run.
        log_table: the table holding the recipients logs.

    Returns:
        One row per (``run_id``,) ``sub_audience, group, is_control`` and ``day`` on which some
        recipient first bought (``day`` NULL: the recipients who did not buy), with
        ``customers`` (who first bought that day, or did not buy), ``cumulative`` (purchasers by
        the end of that day; NULL on the NULL day), ``recipients`` (the group's, on every row)
        and ``window_start`` (the earliest of the row's customers), ordered by group and day.

    Raises:
        ConfigError: the transactions table or one of its columns is missing.

    >>> from herald.core.catalog import Catalog
    >>> cat = Catalog.from_columns(
    ...     [("Unified_Transactions", c, None, "") for c in
    ...      ("amperity_id", "order_datetime", "order_revenue")])
    >>> q = daily_query(cat, window_days=30, as_of=dt.datetime(2026, 6, 30), per_run=False)
    >>> [s.alias_or_name for s in q.selects]
    ['sub_audience', 'group', 'is_control', 'day', 'customers', 'cumulative', 'recipients', ...]
    """
    tx = transactions_table(catalog)
    key = catalog.customer_key
    labels = (("run_id",) if per_run else ()) + LOG_GROUP_COLUMNS
    recipients = _recipients(log_table, key, labels, per_run)
    starts = exp.select(_col("window_start")).distinct().from_("recipients")
    return (
        _daily_final(labels)
        .with_("recipients", as_=recipients)
        .with_("starts", as_=starts)
        .with_("first_orders", as_=_first_orders(tx, key, _days(window_days), _timestamp(as_of)))
        .with_("first_days", as_=_first_days(key, labels))
    )


def _first_orders(tx: Transactions, key: str, window: exp.Interval, as_of: exp.Expr) -> exp.Select:
    """Each recipient's first order time in each window start's window (a semi join on them)."""
    when = _col(tx.order_time, "t")
    start = _col("window_start", "s")
    inside = exp.and_(
        exp.GTE(this=when, expression=start),
        exp.LT(this=when.copy(), expression=exp.Add(this=start.copy(), expression=window)),
        exp.LT(this=when.copy(), expression=as_of),
    )
    recipients = exp.select(_col(key)).from_("recipients")
    return (
        exp.select(
            exp.alias_(_col(key, "t"), key, quoted=True),
            start.copy(),
            exp.alias_(exp.Min(this=when.copy()), "first_at"),
        )
        .from_(exp.alias_(exp.to_table(tx.name, quoted=True), "t", table=True))
        .join(exp.alias_(exp.to_table("starts"), "s", table=True), on=inside)
        .where(exp.In(this=_col(key, "t"), query=exp.Subquery(this=recipients)))
        .group_by(_col(key, "t"), start.copy())
    )


def _first_days(key: str, labels: tuple[str, ...]) -> exp.Select:
    """Every recipient with the day of their first order since their start (NULL: none)."""
    day = exp.DateDiff(
        this=_col("first_at", "f"), expression=_col("window_start", "r"), unit=exp.Var(this="DAY")
    )
    on = exp.and_(
        exp.EQ(this=_col(key, "f"), expression=_col(key, "r")),
        exp.EQ(this=_col("window_start", "f"), expression=_col("window_start", "r")),
    )
    return (
        exp.select(*(_col(c, "r") for c in (*labels, "window_start")), exp.alias_(day, "day"))
        .from_(exp.alias_(exp.to_table("recipients"), "r", table=True))
        .join(exp.alias_(exp.to_table("first_orders"), "f", table=True), on=on, join_type="left")
    )


def _daily_final(labels: tuple[str, ...]) -> exp.Select:
    group = [_col(c) for c in labels]
    count = exp.Count(this=exp.Star())
    bought = _when(exp.Not(this=exp.Is(this=_col("day"), expression=exp.Null())), count.copy())
    running = exp.Window(
        this=exp.Sum(this=bought),
        partition_by=[c.copy() for c in group],
        order=exp.Order(expressions=[exp.Ordered(this=_col("day"), nulls_first=False)]),
        spec=exp.WindowSpec(
            kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW"
        ),
    )
    total = exp.Window(this=exp.Sum(this=count.copy()), partition_by=[c.copy() for c in group])
    cumulative = _when(exp.Not(this=exp.Is(this=_col("day"), expression=exp.Null())), running)
    return (
        exp.select(
            *group,
            _col("day"),
            exp.alias_(exp.cast(count, exp.DataType.Type.BIGINT), "customers"),
            exp.alias_(exp.cast(cumulative, exp.DataType.Type.BIGINT), "cumulative"),
            exp.alias_(exp.cast(total, exp.DataType.Type.BIGINT), "recipients"),
            exp.alias_(exp.Min(this=_col("window_start")), "window_start"),
        )
        .from_("first_days")
        .group_by(*(c.copy() for c in group), _col("day"))
        .order_by(*(c.copy() for c in group), exp.Ordered(this=_col("day"), nulls_first=False))
    )
