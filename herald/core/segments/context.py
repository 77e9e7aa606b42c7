"""What compiling a segment needs besides its definition, and the table lookups every part of
the compiler shares."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlglot import exp

from herald.core.catalog import Catalog, Column, Table, did_you_mean
from herald.core.segments.model import Segment
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

    def member(self, key: exp.Expr, keys: exp.Select) -> exp.Expr:
        """``key`` is one of ``keys`` (a SELECT of one column without NULLs): the semi join.

        DuckDB gets ``key IN (keys)``. Spark plans an IN subquery that is negated or sits in
        a CASE WHEN with NULL-aware semantics (a nested-loop join, quadratic in customers),
        so it gets the equivalent ``EXISTS (SELECT 1 FROM (keys) m WHERE m.k = key)``, a hash
        join. The two agree whenever ``key`` is not NULL, which the customer rows ensure
        (:meth:`CustomerRows.from_base` leaves out rows without a key).
        """
        if self.dialect != "spark":
            return exp.In(this=key, query=exp.Subquery(this=keys))
        name = keys.selects[0].alias_or_name
        found = exp.EQ(this=exp.column(name, "m", quoted=True), expression=key)
        match = exp.select(exp.Literal.number(1)).from_(keys.subquery("m", copy=False), copy=False)
        return exp.Exists(this=match.where(found, copy=False))

    def inside(self, segment: str) -> Context:
        """The context of a segment named in a condition of this one."""
        return Context(
            self.catalog, self.today, self.resolve_segment, self.dialect, (*self.stack, segment)
        )

    def is_base(self, table: Table) -> bool:
        return table.name.lower() == self.catalog.base_table.lower()


def base_table(catalog: Catalog) -> Table:
    """The table every segment starts from, with its customer key.

    Raises:
        SegmentError: the table or its key column is missing.
    """
    table = catalog.table(catalog.base_table)
    if table is None:
        msg = (
            f"the base table '{catalog.base_table}' is not in the database; "
            "set [database] base_table in herald.toml."
            f"{did_you_mean(catalog.base_table, catalog.table_names())}"
        )
        raise SegmentError(msg)
    require_column(table, catalog.customer_key, "the customer key", None)
    return table


def require_column(table: Table, name: str, what: str, location: str | None) -> Column:
    column = table.column(name)
    if column is None:
        hint = did_you_mean(name, table.column_names())
        msg = f"unknown {what} '{name}' in table '{table.name}'.{hint}"
        raise SegmentError(msg, location=location)
    return column


def aliased_table(name: str, alias: str) -> exp.Table:
    return exp.Table(
        this=exp.to_identifier(name, quoted=True),
        alias=exp.TableAlias(this=exp.to_identifier(alias)),
    )


def and_all(parts: Sequence[exp.Expr]) -> exp.Expr:
    """``parts`` joined by AND, flat; TRUE when there are none."""
    if not parts:
        return exp.true()
    return parts[0] if len(parts) == 1 else exp.and_(*parts, copy=False)


def combine_group(kind: str, parts: list[exp.Expr]) -> exp.Expr:
    """A group's items combined: ``all`` (AND), ``any`` (OR) or ``not`` (NOT of AND).

    One flat connector: folding pairs nests a parenthesis per condition, and sqlglot then
    recurses once per level (a few hundred conditions exceeded Python's recursion limit).
    """
    if kind == "any":
        return exp.or_(*parts, copy=False)
    combined = exp.and_(*parts, copy=False)
    return exp.not_(combined, copy=False) if kind == "not" else combined
