"""Compile a segment into one sqlglot SELECT of customer keys (DESIGN §1.2).

Every condition keeps the rules' semantics exactly: ``not`` is a true complement over all
customers, a customer without a row in a per-customer table behaves as if every column were
NULL, and a condition on another table (transactions, items, custom tables) means "has at
least one row where …". The query is shaped as an expert writes it (see :mod:`.rows`): one
pass over the base table, each per-customer table joined once and shared, semi joins built on
the small side, and purchase aggregations restricted to the candidates.

The parts: :mod:`.predicates` (an attribute condition as a boolean), :mod:`.purchases`
(purchase behaviour), :mod:`.rows` (the pass over the base table), :mod:`.sql` (SQL segments).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlglot import exp

from herald.core.catalog import Catalog
from herald.core.segments.context import BASE, Context, SegmentResolver
from herald.core.segments.model import Node, Segment
from herald.core.segments.rows import CustomerRows, sql_keys

__all__ = ["BASE", "SegmentResolver", "compile_segment", "condition_rows"]


def compile_segment(
    segment: Segment,
    catalog: Catalog,
    *,
    today: dt.date,
    resolve_segment: SegmentResolver | None = None,
    dialect: str = "duckdb",
    columns: Sequence[tuple[str, str, str]] = (),
) -> exp.Select:
    """The SELECT of the customer keys in ``segment``, as a sqlglot tree.

    Args:
        segment: the definition.
        catalog: tables and column types of the customer database.
        today: the UTC date relative dates are resolved against.
        resolve_segment: returns the active definition of a segment named in a condition.
        dialect: the SQL dialect SQL segments are written in.
        columns: ``(name, table, column)`` of per-customer columns to select beside the key,
            from the same pass (the insights' metrics): a table a condition reads is joined
            once for both.

    Raises:
        SegmentError: an unknown table or column, an operator not valid for the column's type,
            a value of the wrong type, or a SQL segment that is not one read-only SELECT.
    """
    ctx = Context(catalog, today, resolve_segment, dialect, (segment.name,))
    roots = [segment.where] if segment.where is not None else []
    rows = CustomerRows(ctx, roots, {table for _, table, _ in columns})
    outputs = [(name, rows.column(table, column)) for name, table, column in columns]
    if segment.sql is None:
        return rows.select(segment.where, outputs)
    member = ctx.member(ctx.key(BASE), sql_keys(segment, ctx))
    return rows.select(None, outputs).where(member, copy=False)


def condition_rows(
    segment: Segment,
    roots: Sequence[Node],
    catalog: Catalog,
    *,
    today: dt.date,
    resolve_segment: SegmentResolver | None = None,
    dialect: str = "duckdb",
) -> CustomerRows:
    """The pass over the base table that evaluates each of ``roots`` (conditions of
    ``segment``, or segments named in conditions) as a column: the waterfall and overlap
    queries.

    Raises:
        SegmentError: as :func:`compile_segment`, when the base table or its key is missing.
    """
    return CustomerRows(Context(catalog, today, resolve_segment, dialect, (segment.name,)), roots)
