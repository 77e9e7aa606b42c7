"""One pass over the base table for a segment's conditions, shaped as an expert writes it.

- A condition on the base table is a plain predicate on its row.
- A per-customer table (at most one row per customer) that two conditions or more read, or
  whose columns are wanted beside the conditions (insights metrics, campaign attributes), is
  LEFT JOINed once, and every condition reads the joined row. A customer without a row has
  every column NULL there, which is the rule: only the null and empty checks select them.
- A per-customer table that one condition reads is a semi join, ``key IN (SELECT key FROM t
  WHERE …)``: the engine builds its hash table on the matching keys only, often a few.
- Any other table (transactions, items, custom tables) means "has at least one row where …":
  a semi join too.
- A segment named in a condition is inlined: its conditions over the same row and joins.
- Purchase behaviour that counts or sums orders, as a top-level condition beside others, reads
  only the orders of the customers who pass the others (the ``candidates``).

Where a NULL cannot change the answer (under AND and OR only, up to the WHERE clause) a
condition is a bare comparison, which the engine can push into its scan; under a ``not`` each
condition is two-valued (DESIGN §1.2: ``not`` is a true complement over all customers).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from sqlglot import exp

from herald.core.catalog import Table
from herald.core.segments.context import (
    BASE,
    Context,
    aliased_table,
    and_all,
    base_table,
    combine_group,
    require_column,
)
from herald.core.segments.model import Attribute, Group, InSegment, Node, Purchase, Segment
from herald.core.segments.predicates import Resolved, predicate, resolve
from herald.core.segments.purchases import PurchaseRows, aggregates, purchase_rows
from herald.core.segments.sql import validate_sql_segment
from herald.exceptions import SegmentError

CANDIDATES = "candidates"
# LEFT: a customer without a row stays, with every column NULL (DESIGN §1.2).
_PER_CUSTOMER_JOIN = "left"


class CustomerRows:
    """The base table's rows with the per-customer tables that ``roots`` read more than once,
    or whose columns are wanted, joined once each.

    Ask for columns (:meth:`column`) before compiling conditions, so that a condition on a
    table whose columns are wanted reads the join rather than a semi join of its own.
    """

    def __init__(self, ctx: Context, roots: Sequence[Node], columns_from: Iterable[str] = ()):
        self._ctx = ctx
        self._base = base_table(ctx.catalog)
        self._segments: dict[str, Segment] = {}
        self._reads: dict[str, int] = {}
        for root in roots:
            self._count_reads(root, ctx.stack)
        wanted = {name.lower() for name in columns_from}
        self._joined = wanted | {name for name, n in self._reads.items() if n > 1}
        self._joins: dict[str, tuple[str, str]] = {}  # lower name → (name, alias), in use order

    # --- what the conditions read -------------------------------------------------------------

    def reads(self, table: str) -> bool:
        """Whether a condition reads ``table`` row by row: the base table or a per-customer
        table (so its columns come at no extra scan)."""
        return table.lower() == self._base.name.lower() or table.lower() in self._reads

    def _count_reads(self, node: Node, stack: tuple[str, ...]) -> None:
        if isinstance(node, Group):
            for item in node.items:
                self._count_reads(item, stack)
        elif isinstance(node, Attribute):
            table = self._ctx.catalog.table(node.attribute.rpartition(".")[0] or self._base.name)
            if table is not None and self._per_customer(table):
                self._reads[table.name.lower()] = self._reads.get(table.name.lower(), 0) + 1
        elif isinstance(node, InSegment) and node.segment not in stack:
            other = self._lookup_quietly(node.segment)
            if other is not None and other.where is not None:
                self._count_reads(other.where, (*stack, node.segment))

    def _per_customer(self, table: Table) -> bool:
        return not self._ctx.is_base(table) and self._ctx.catalog.is_customer_table(table.name)

    def _lookup_quietly(self, name: str) -> Segment | None:
        """The segment, for planning only: a failure is reported where it is compiled."""
        try:
            return self._lookup(name)
        except SegmentError:
            return None

    def _lookup(self, name: str) -> Segment | None:
        if self._ctx.resolve_segment is None:
            return None
        if name not in self._segments:
            self._segments[name] = self._ctx.resolve_segment(name)
        return self._segments[name]

    # --- columns and conditions -----------------------------------------------------------------

    def column(self, table_name: str, column_name: str) -> exp.Column:
        """A column of the base table or of a joined per-customer table (joined here if not
        yet), for the metrics or attributes selected beside the conditions."""
        table = self._ctx.catalog.table(table_name)
        assert table is not None, f"{table_name} was checked by the caller"
        column = require_column(table, column_name, "column", None)
        if self._ctx.is_base(table):
            return exp.column(column.name, BASE, quoted=True)
        self._joined.add(table.name.lower())
        return exp.column(column.name, self._join(table), quoted=True)

    def condition(self, node: Node, *, negative: bool = False) -> exp.Expr:
        """``node`` as a boolean over the row. It may yield NULL for false, as a WHERE or a
        CASE WHEN reads it; ``negative`` (under a NOT the caller adds) makes it two-valued."""
        return self._node(node, self._ctx, negative)

    def _node(self, node: Node, ctx: Context, negative: bool) -> exp.Expr:
        if isinstance(node, Group):
            inner = negative != (node.kind == "not")
            return combine_group(node.kind, [self._node(item, ctx, inner) for item in node.items])
        if isinstance(node, Attribute):
            return self._attribute(node, ctx, negative)
        if isinstance(node, InSegment):
            return self._in_segment(node, ctx, negative)
        rows = purchase_rows(node, ctx)
        member = ctx.member(ctx.key(BASE), rows.source)
        return exp.not_(member, copy=False) if node.negate else member

    def _attribute(self, cond: Attribute, ctx: Context, negative: bool) -> exp.Expr:
        res = resolve(cond, ctx)
        if ctx.is_base(res.table):
            column = exp.column(res.column.name, BASE, quoted=True)
            return predicate(cond, res, column, ctx, two_valued=negative)
        if self._per_customer(res.table) and res.table.name.lower() in self._joined:
            column = exp.column(res.column.name, self._join(res.table), quoted=True)
            return predicate(cond, res, column, ctx, two_valued=negative)
        return self._semi_join(cond, res, ctx)

    def _semi_join(self, cond: Attribute, res: Resolved, ctx: Context) -> exp.Expr:
        """``key IN (rows where P)``; a null check on a per-customer table is the complement
        ``key NOT IN (rows where NOT P)``, so that customers without a row count as NULL."""
        require_column(res.table, ctx.catalog.customer_key, "the customer key", cond.location)
        column = exp.column(res.column.name, "t", quoted=True)
        complement = _selects_missing_rows(res, ctx)
        test = predicate(cond, res, column, ctx, two_valued=complement)
        key = ctx.key("t")
        rows = (
            exp.select(key)
            .from_(aliased_table(res.table.name, "t"), copy=False)
            .where(
                exp.and_(
                    exp.not_(exp.Is(this=key.copy(), expression=exp.Null()), copy=False),
                    exp.not_(test, copy=False) if complement else test,
                    copy=False,
                ),
                copy=False,
            )
        )
        member = ctx.member(ctx.key(BASE), rows)
        return exp.not_(member, copy=False) if complement else member

    def _join(self, table: Table) -> str:
        name = table.name.lower()
        if name not in self._joins:
            self._joins[name] = (table.name, f"j{len(self._joins) + 1}")
        return self._joins[name][1]

    # --- segment membership -------------------------------------------------------------------

    def _in_segment(self, cond: InSegment, ctx: Context, negative: bool) -> exp.Expr:
        other = self._referenced(cond, ctx)
        with _named_in(cond):
            member = self._members(other, ctx.inside(cond.segment), negative != cond.negate)
        return exp.not_(member, copy=False) if cond.negate else member

    def _referenced(self, cond: InSegment, ctx: Context) -> Segment:
        if cond.segment in ctx.stack:
            cycle = " → ".join([*ctx.stack, cond.segment])
            msg = f"segments refer to each other in a cycle: {cycle}"
            raise SegmentError(msg, location=f"{cond.location}.segment")
        try:
            other = self._lookup(cond.segment)
        except SegmentError as error:
            raise SegmentError(error.message, location=f"{cond.location}.segment") from None
        if other is None:
            msg = f"cannot look up segment '{cond.segment}' here (no segment store)"
            raise SegmentError(msg, location=f"{cond.location}.segment")
        return other

    def _members(self, segment: Segment, ctx: Context, negative: bool) -> exp.Expr:
        if segment.sql is not None:
            return ctx.member(ctx.key(BASE), sql_keys(segment, ctx))
        if segment.where is None:
            return exp.true()
        return self._node(segment.where, ctx, negative)

    # --- the query ------------------------------------------------------------------------------

    def select(
        self, where: Node | None, outputs: Sequence[tuple[str, exp.Expr]] = ()
    ) -> exp.Select:
        """``SELECT key, outputs… FROM`` the rows ``WHERE`` the conditions hold.

        Args:
            where: the conditions; None for every row.
            outputs: ``(name, expression)`` over the row, compiled before this call.
        """
        conditions: list[exp.Expr] = []
        purchases: list[PurchaseRows] = []
        if where is not None:
            self._conjuncts(where, self._ctx, conditions, purchases)
        if purchases and conditions:
            return self._restricted(conditions, purchases, outputs)
        conditions += [self._ctx.member(self._ctx.key(BASE), p.source) for p in purchases]
        query = self.from_base().select(
            self._ctx.key(BASE), *(exp.alias_(e, n, copy=False) for n, e in outputs), copy=False
        )
        return query.where(and_all(conditions), copy=False) if conditions else query

    def from_base(self) -> exp.Select:
        """``FROM base`` with the joins the conditions compiled so far need (no columns),
        ``WHERE`` the row has a key: a row without one is nobody to send to, and a semi join
        (``Context.member``) means the same on every engine only for a known key."""
        key = self._ctx.key(BASE)
        query = exp.select().from_(aliased_table(self._base.name, BASE), copy=False)
        for name, alias in self._joins.values():
            on = exp.EQ(this=self._ctx.key(alias), expression=key.copy())
            joined = aliased_table(name, alias)
            query = query.join(joined, on=on, join_type=_PER_CUSTOMER_JOIN, copy=False)
        known = exp.not_(exp.Is(this=key, expression=exp.Null()), copy=False)
        return query.where(known, copy=False)

    def _conjuncts(
        self, node: Node, ctx: Context, into: list[exp.Expr], purchases: list[PurchaseRows]
    ) -> None:
        """The conditions ANDed at the top of ``node``, with the purchases that count or sum
        orders set apart to be restricted to the candidates."""
        if isinstance(node, Group) and _is_conjunction(node):
            for item in node.items:
                self._conjuncts(item, ctx, into, purchases)
            return
        if isinstance(node, Purchase) and not node.negate and aggregates(node):
            purchases.append(purchase_rows(node, ctx))
            return
        if isinstance(node, InSegment) and not node.negate:
            other = self._referenced(node, ctx)
            if other.sql is None and other.where is not None:
                with _named_in(node):
                    self._conjuncts(other.where, ctx.inside(node.segment), into, purchases)
                return
        into.append(self._node(node, ctx, False))

    def _restricted(
        self,
        conditions: list[exp.Expr],
        purchases: list[PurchaseRows],
        outputs: Sequence[tuple[str, exp.Expr]],
    ) -> exp.Select:
        """``WITH candidates AS (rows passing the other conditions) SELECT … FROM candidates
        WHERE`` each purchase holds, reading the candidates' orders only."""
        key_name = self._ctx.catalog.customer_key
        candidates = self.select(None, outputs).where(and_all(conditions), copy=False)
        keys = exp.select(exp.column(key_name, CANDIDATES, quoted=True)).from_(CANDIDATES)
        members = [
            self._ctx.member(
                exp.column(key_name, CANDIDATES, quoted=True),
                p.restricted_to(keys.copy(), self._ctx),
            )
            for p in purchases
        ]
        columns = [exp.column(name, CANDIDATES, quoted=True) for name, _ in outputs]
        return (
            exp.select(exp.column(key_name, CANDIDATES, quoted=True), *columns)
            .from_(CANDIDATES, copy=False)
            .where(and_all(members), copy=False)
            .with_(CANDIDATES, as_=candidates, copy=False)
        )


def _selects_missing_rows(res: Resolved, ctx: Context) -> bool:
    """A null check on a per-customer table selects the customers without a row."""
    return res.op.matches_null and ctx.catalog.is_customer_table(res.table.name)


def _is_conjunction(group: Group) -> bool:
    """An ``all`` group, or an ``any`` of one item (the same as the item)."""
    return group.kind == "all" or (group.kind == "any" and len(group.items) == 1)


def sql_keys(segment: Segment, ctx: Context) -> exp.Select:
    """A SQL segment's keys without NULL: a NULL in an IN list would make "not in" NULL."""
    assert segment.sql is not None
    user = validate_sql_segment(segment.sql, ctx.catalog, dialect=ctx.dialect)
    key = exp.column(ctx.catalog.customer_key, "sql_segment", quoted=True)
    return (
        exp.select(key)
        .from_(exp.Subquery(this=user, alias=exp.TableAlias(this=exp.to_identifier("sql_segment"))))
        .where(exp.not_(exp.Is(this=key.copy(), expression=exp.Null()), copy=False), copy=False)
    )


@contextmanager
def _named_in(cond: InSegment) -> Iterator[None]:
    """Report a failure inside a segment named in a condition as that condition's: the
    segment no longer compiles (a column it reads was dropped, say)."""
    try:
        yield
    except SegmentError as error:
        if error.location and error.location.startswith(cond.location):
            raise
        msg = f"segment '{cond.segment}' no longer compiles: {error.message}"
        raise SegmentError(msg, location=f"{cond.location}.segment") from None
