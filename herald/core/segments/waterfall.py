"""The narrowing waterfall of a segment: how many customers remain after each condition.

A step's count is the size of the segment **as if its definition ended at that condition**
(reading order): every group from the root down to the condition keeps its items up to and
including the one that leads to it, and drops the rest. So

- in an ``all`` group, a step counts the customers matching the condition and every earlier
  sibling (a running intersection; with the outer groups' earlier conditions applied too);
- in an ``any`` group, the customers matching it or any earlier sibling (a running union);
- in a ``not`` group, the customers *not* matching it together with every earlier sibling;
- a group's own step is the count after the whole group is applied, equal to the step of its
  last condition.

The last top-level step is the segment's count. The steps are listed in reading order (a group
before its conditions, as the editor shows them). Conditions inside a purchase condition's
``where`` filter order rows, not customers, so the purchase condition is one step.

All steps come from one query: one pass over the base table computes a boolean column per
condition, then, per group, the position of the first item that decides it (the first false
item of an ``all``/``not``, the first true of an ``any``); each step is a comparison of those
positions, counted with a conditional sum.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from sqlglot import exp

from herald.core.segments.labels import condition_label
from herald.core.segments.model import Group, Node
from herald.core.segments.rows import CustomerRows


@dataclass(frozen=True)
class WaterfallStep:
    """One condition of the tree and how many customers remain after it.

    Attributes:
        path: where the condition is, as in the canonical definition (``where.all[1].any[0]``).
        label: a short description (``Customer_360.state is exactly CA``).
        kind: ``condition``, or ``group`` for a nested ``all``/``any``/``not``.
        depth: 1 for the top-level conditions, 2 inside a nested group, and so on.
        customers: the count after this step.
    """

    path: str
    label: str
    kind: Literal["condition", "group"]
    depth: int
    customers: int


@dataclass
class _Plan:
    """What the query needs: leaf columns, group position columns, and the steps."""

    leaves: list[exp.Expr] = field(default_factory=list)
    groups: list[exp.Expr] = field(default_factory=list)
    steps: list[tuple[str, str, Literal["condition", "group"], int, exp.Expr]] = field(
        default_factory=list
    )


def waterfall_query(
    where: Group, rows: CustomerRows
) -> tuple[exp.Select, list[tuple[str, str, Literal["condition", "group"], int]]]:
    """One aggregate query with a column ``s<i>`` per step, and the steps' descriptions.

    Args:
        where: the segment's condition tree.
        rows: the pass over every customer that compiles each condition.

    Returns:
        The query (one row) and, per step, its (path, label, kind, depth) in column order.
    """
    plan = _Plan()
    root_path = f"where.{where.kind}"
    _walk_group(where, root_path, plan, rows.condition, lambda inner: inner, 0)
    flags = rows.from_base().select(
        *(
            exp.alias_(exp.Coalesce(this=e, expressions=[exp.false()]), f"c{i}")
            for i, e in enumerate(plan.leaves)
        )
    )
    marks = exp.select(exp.Star(), *(exp.alias_(g, f"g{i}") for i, g in enumerate(plan.groups)))
    marks = marks.from_(flags.subquery("flags"))
    query = exp.select(
        *(exp.alias_(_count_if(step[4]), f"s{i}") for i, step in enumerate(plan.steps))
    ).from_(marks.subquery("marks"))
    return query, [step[:4] for step in plan.steps]


Wrap = Callable[[exp.Expr], exp.Expr]


def _walk_group(
    group: Group,
    path: str,
    plan: _Plan,
    compile_node: Callable[[Node], exp.Expr],
    wrap: Wrap,
    depth: int,
) -> exp.Expr:
    """Plan ``group``'s steps; return its position expression (over the leaf columns).

    ``wrap`` turns the truncated value of this group into the truncated value of the whole
    tree: the outer groups' earlier items are already inside it.
    """
    index = len(plan.groups)
    plan.groups.append(exp.null())  # its slot; filled once the items are known
    position = exp.column(f"g{index}")
    values: list[exp.Expr] = []
    for k, item in enumerate(group.items):
        item_path = f"{path}[{k}]"

        def wrap_item(value: exp.Expr, k: int = k) -> exp.Expr:
            return wrap(_truncated(group.kind, position, k, value))

        if isinstance(item, Group):
            at, column = len(plan.steps), exp.column(f"g{len(plan.groups)}")
            inner = _walk_group(
                item, f"{item_path}.{item.kind}", plan, compile_node, wrap_item, depth + 1
            )
            after = wrap_item(_decided(item.kind, column, len(item.items)))
            plan.steps.insert(at, (item_path, condition_label(item), "group", depth + 1, after))
            # the parent's position is computed beside this group's: it inlines the expression
            values.append(_decided(item.kind, inner, len(item.items)))
        else:
            column = exp.column(f"c{len(plan.leaves)}")
            plan.leaves.append(compile_node(item))
            plan.steps.append(
                (item_path, condition_label(item), "condition", depth + 1, wrap_item(column))
            )
            values.append(column)
    plan.groups[index] = _first_deciding(group.kind, values)
    return plan.groups[index].copy()


def _first_deciding(kind: str, values: list[exp.Expr]) -> exp.Expr:
    """The position of the first item that decides the group, or the number of items."""
    ifs = [
        exp.If(this=value if kind == "any" else exp.not_(value), true=exp.Literal.number(k))
        for k, value in enumerate(values)
    ]
    return exp.Case(ifs=ifs, default=exp.Literal.number(len(values)))


def _prefix(kind: str, position: exp.Expr, k: int) -> exp.Expr | None:
    """Whether the first ``k`` items hold together (``all``/``not``: all true; ``any``: one)."""
    if k == 0:
        return None
    if kind == "any":
        return exp.LT(this=position, expression=exp.Literal.number(k))
    return exp.GTE(this=position, expression=exp.Literal.number(k))


def _truncated(kind: str, position: exp.Expr, k: int, value: exp.Expr) -> exp.Expr:
    """The group's value when it ends at item ``k``, whose value is ``value``."""
    before = _prefix(kind, position, k)
    if kind == "any":
        return value if before is None else exp.or_(before, value)
    combined = value if before is None else exp.and_(before, value)
    return exp.not_(combined) if kind == "not" else combined


def _decided(kind: str, position: exp.Expr, count: int) -> exp.Expr:
    """The whole group's value from its position expression."""
    if kind == "all":
        return exp.GTE(this=position, expression=exp.Literal.number(count))
    return exp.LT(this=position, expression=exp.Literal.number(count))


def _count_if(condition: exp.Expr) -> exp.Expr:
    return exp.Sum(
        this=exp.Case(
            ifs=[exp.If(this=condition, true=exp.Literal.number(1))], default=exp.Literal.number(0)
        )
    )
