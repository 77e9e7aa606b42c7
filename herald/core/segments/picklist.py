"""Picklists and overlaps: the pure queries behind the Segment Editor's value inputs and the
segments page's Venn counts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlglot import exp

from herald.core.catalog import Catalog, Column, Table

MAX_VALUES = 10_000
"""A column with more distinct values than this is not listed whole: the editor asks the user
to type, and lists only the values matching what was typed."""

PicklistStatus = Literal["values", "too_many", "private"]


@dataclass(frozen=True)
class PicklistValue:
    """One distinct value and how many rows hold it."""

    value: Any
    count: int


@dataclass(frozen=True)
class Picklist:
    """The values a marketer can pick for ``table.column``, most frequent first.

    Attributes:
        status: ``values`` (listed), ``too_many`` (more than ``MAX_VALUES`` distinct values:
            only the matches of a search are listed), ``private`` (personal data such as emails
            and phones, the customer key: never listed).
        values: at most ``limit`` values, NULL excluded, ties in value order.
        distinct: the column's number of distinct non-NULL values (None when private; an
            estimate within a few percent when ``too_many``).
        matches: how many distinct values match ``search`` (all of them without a search).
        message: what the editor shows instead of a list, when it shows none.
    """

    table: str
    column: str
    status: PicklistStatus
    values: tuple[PicklistValue, ...] = ()
    distinct: int | None = None
    matches: int | None = None
    search: str | None = None
    message: str | None = None


def is_private(column: Column, catalog: Catalog) -> bool:
    """Whether a column holds contact details or the key, whose values are never listed.

    >>> cat = Catalog.from_columns([("Customer_360", "amperity_id", "string", "VARCHAR")])
    >>> is_private(Column("email", "string"), cat), is_private(Column("contactable_email",
    ...     "boolean"), cat), is_private(Column("AMPERITY_ID", "string"), cat)
    (True, False, True)
    """
    name = column.name.lower()
    if name == catalog.customer_key.lower():
        return True
    return column.type == "string" and any(word in name for word in ("email", "phone"))


def value_counts_query(
    table: Table, column: Column, *, search: str | None = None, limit: int = MAX_VALUES + 1
) -> exp.Select:
    """Distinct non-NULL values with their row counts, most frequent first, and the number of
    distinct values (``distinct_values``, the same on every row) in one pass.

    >>> t = Table("T", {"state": Column("state", "string")})
    >>> print(value_counts_query(t, t.column("state"), search="C", limit=5).sql("duckdb"))
    SELECT "state" AS value, COUNT(*) AS n, COUNT(*) OVER () AS distinct_values FROM "T" \
WHERE NOT "state" IS NULL AND STRPOS(LOWER(CAST("state" AS TEXT)), 'c') > 0 GROUP BY "state" \
ORDER BY n DESC, value LIMIT 5
    """
    col = exp.column(column.name, quoted=True)
    condition: exp.Expr = col.is_(exp.null()).not_()
    if search:
        found = exp.StrPosition(
            this=exp.Lower(this=exp.cast(col, exp.DataType.Type.VARCHAR)),
            substr=exp.Literal.string(search.lower()),
        )
        condition = exp.and_(condition, exp.GT(this=found, expression=exp.Literal.number(0)))
    return (
        exp.select(
            exp.alias_(col, "value"),
            exp.alias_(exp.Count(this=exp.Star()), "n"),
            exp.alias_(exp.Window(this=exp.Count(this=exp.Star())), "distinct_values"),
        )
        .from_(exp.Table(this=exp.to_identifier(table.name, quoted=True)))
        .where(condition)
        .group_by(col)
        .order_by(exp.Ordered(this=exp.column("n"), desc=True), exp.column("value"))
        .limit(limit)
    )


def approx_distinct_query(table: Table, column: Column) -> exp.Select:
    """An estimate of the number of distinct values (HyperLogLog: one cheap pass, no hash table
    of every value), to tell a listable column from one with too many values.

    >>> t = Table("T", {"state": Column("state", "string")})
    >>> print(approx_distinct_query(t, t.column("state")).sql("duckdb"))
    SELECT APPROX_COUNT_DISTINCT("state") AS approx FROM "T"
    """
    return exp.select(
        exp.alias_(exp.ApproxDistinct(this=exp.column(column.name, quoted=True)), "approx")
    ).from_(exp.Table(this=exp.to_identifier(table.name, quoted=True)))


def matching(values: tuple[PicklistValue, ...], search: str | None) -> list[PicklistValue]:
    """The values whose text contains ``search``, ignoring case (all without a search).

    >>> matching((PicklistValue("Seattle", 3), PicklistValue("Tacoma", 1)), "AT")
    [PicklistValue(value='Seattle', count=3)]
    """
    if not search:
        return list(values)
    needle = search.lower()
    return [v for v in values if needle in _text(v.value).lower()]


def _text(value: Any) -> str:
    # as the engine's CAST(… AS VARCHAR) writes it, so both search paths agree
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Overlap:
    """How 2–4 segments overlap: the customers of every region of their Venn diagram.

    Attributes:
        names: the segments, in the order of each region's membership flags.
        regions: (in first?, in second?, …) → customers, for every combination with at
            least one "in" (regions without customers included, with 0).
    """

    names: tuple[str, ...]
    regions: Mapping[tuple[bool, ...], int]

    def size(self, name: str) -> int:
        """The customers in ``name`` (whatever their other memberships)."""
        i = self.names.index(name)
        return sum(n for flags, n in self.regions.items() if flags[i])

    def intersection(self, *names: str) -> int:
        """The customers in every one of ``names``."""
        wanted = [self.names.index(name) for name in names]
        return sum(n for flags, n in self.regions.items() if all(flags[i] for i in wanted))

    @property
    def union(self) -> int:
        """The customers in at least one of the segments."""
        return sum(self.regions.values())


def overlap_query(base: exp.Select, members: list[exp.Expr]) -> exp.Select:
    """Customers per combination of memberships (``m0``, ``m1``, …), in one pass over
    ``base`` (``FROM`` the base table with the joins ``members`` read); customers in none of
    the segments are left out."""
    flags = base.select(
        *(
            exp.alias_(exp.Coalesce(this=m, expressions=[exp.false()]), f"m{i}")
            for i, m in enumerate(members)
        )
    )
    names = [exp.column(f"m{i}") for i in range(len(members))]
    return (
        exp.select(*names, exp.alias_(exp.Count(this=exp.Star()), "n"))
        .from_(flags.subquery("flags"))
        .where(exp.or_(*names))
        .group_by(*names)
    )
