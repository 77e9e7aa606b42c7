"""Segment definitions as frozen data: a tree of groups and conditions (DESIGN §1.2).

A definition is written as YAML or JSON (see ``parse.py``) or built in Python::

    Segment("Lapsed VIPs", where=All((
        Attribute("Transaction_Attributes_Extended.lifetime_order_revenue", "greater_than", 1000),
        HasNotPurchased(within="12 months"),
    )))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

Status = Literal["draft", "active"]


@dataclass(frozen=True)
class Attribute:
    """``table.column``, an operator, and the operator's value(s).

    Args:
        attribute: ``Table.column``, or a bare column of the base table (``Customer_360``).
        op: an operator name or alias (see ``operators.py``).
        value: the value of a one-value operator.
        values: the values of ``between`` (low, high) and the list operators.
    """

    attribute: str
    op: str
    value: Any = None
    values: tuple[Any, ...] | None = None
    location: str = field(default="", compare=False)


@dataclass(frozen=True)
class InSegment:
    """Membership in another (active) segment; ``negate`` for "not in"."""

    segment: str
    negate: bool = False
    location: str = field(default="", compare=False)


@dataclass(frozen=True)
class Purchase:
    """Has purchased (or, with ``negate``, has not purchased).

    Args:
        where: conditions on transaction or item columns, all on
            ``Unified_Transactions`` / ``Unified_Itemized_Transactions``.
        within: a window ending now, such as ``"12 months"``.
        since: orders on or after this date (ISO date or relative date).
        until: orders on or before this date (ISO date or relative date).
        min_count: at least this many distinct matching orders (default 1).
        min_total: matching revenue of at least this much.
        negate: "has not purchased": the customers the purchase condition does not select.
    """

    where: Group | None = None
    within: str | None = None
    since: Any = None
    until: Any = None
    min_count: int | None = None
    min_total: Any = None
    negate: bool = False
    location: str = field(default="", compare=False)


@dataclass(frozen=True)
class Group:
    """``all`` (AND), ``any`` (OR) or ``not`` (complement of ``all`` of its items)."""

    kind: Literal["all", "any", "not"]
    items: tuple[Node, ...]
    location: str = field(default="", compare=False)


Node: TypeAlias = Attribute | InSegment | Purchase | Group


def All(items: tuple[Node, ...] | list[Node]) -> Group:
    return Group("all", tuple(items))


def Any_(items: tuple[Node, ...] | list[Node]) -> Group:
    return Group("any", tuple(items))


def Not(items: tuple[Node, ...] | list[Node]) -> Group:
    return Group("not", tuple(items))


@dataclass(frozen=True)
class Segment:
    """A named segment: a condition tree over all customers, or one SQL SELECT.

    Exactly one of ``where`` and ``sql`` is set; with neither, the segment is every customer.
    """

    name: str
    where: Group | None = None
    sql: str | None = None
    description: str | None = None
    status: Status = "draft"
