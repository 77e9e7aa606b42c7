"""Segment insights (DESIGN §1.2): how many customers match and what they are worth.

Like Amperity, the one-year figures come from ``Transaction_Attributes_Extended``
(``l12m_order_frequency``, ``l12m_order_revenue``) and reachability from
``Customer_Attributes`` (``contactable_email``, ``contactable_phone``, ``contactable_address``).
A metric whose table or column is missing is reported as None rather than failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from herald.core.catalog import Catalog

METRICS = (
    "unique_customers",
    "active_customers_1y",
    "revenue_1y",
    "reachable_customers",
    "reachable_email",
    "reachable_phone",
)
TAE = "Transaction_Attributes_Extended"
ATTRIBUTES = "Customer_Attributes"


@dataclass(frozen=True)
class Insights:
    """One refresh of a segment's insights."""

    unique_customers: int
    active_customers_1y: int | None
    revenue_1y: float | None
    reachable_customers: int | None
    reachable_email: int | None
    reachable_phone: int | None

    @property
    def share_reachable_email(self) -> float | None:
        return _share(self.reachable_email, self.unique_customers)

    @property
    def share_reachable_phone(self) -> float | None:
        return _share(self.reachable_phone, self.unique_customers)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in METRICS}
        out["share_reachable_email"] = self.share_reachable_email
        out["share_reachable_phone"] = self.share_reachable_phone
        return out

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Insights:
        def num(name: str, kind: type) -> Any:
            value = row.get(name)
            return None if value is None else kind(value)

        return cls(
            unique_customers=int(row["unique_customers"]),
            active_customers_1y=num("active_customers_1y", int),
            revenue_1y=num("revenue_1y", float),
            reachable_customers=num("reachable_customers", int),
            reachable_email=num("reachable_email", int),
            reachable_phone=num("reachable_phone", int),
        )


def _share(part: int | None, whole: int) -> float | None:
    if part is None:
        return None
    return part / whole if whole else 0.0


def insights_columns(catalog: Catalog) -> list[tuple[str, str, str]]:
    """The per-customer columns the metrics read, as ``(name, table, column)`` for
    :func:`~herald.core.segments.compile.compile_segment` to select beside each customer:
    those of the tables the catalog has."""
    out: list[tuple[str, str, str]] = []
    for table_name, columns in _SOURCES.items():
        table = _table_with(catalog, table_name, columns)
        out += [(column, table, column) for column in columns] if table else []
    return out


def insights_query(segment: exp.Select, catalog: Catalog) -> exp.Select:
    """One aggregate query over a segment's customers computing every available metric.

    ``segment`` selects the key and the :func:`insights_columns` (by name) of each customer.

    >>> cat = Catalog.from_columns([("Customer_360", "amperity_id", "string", "VARCHAR")])
    >>> seg = exp.select(exp.column("amperity_id", "base")).from_("Customer_360 AS base")
    >>> print(insights_query(seg, cat).sql())
    WITH seg AS (SELECT base.amperity_id FROM Customer_360 AS base)
    SELECT COUNT(*) AS unique_customers, NULL AS active_customers_1y, NULL AS revenue_1y,
    NULL AS reachable_customers, NULL AS reachable_email, NULL AS reachable_phone FROM seg AS s
    """
    available = {name for name, _, _ in insights_columns(catalog)}
    tae = "l12m_order_frequency" in available
    attrs = "contactable_email" in available
    freq, revenue, email, phone, address = (
        exp.column(name, "s", quoted=True) for name in (*_SOURCES[TAE], *_SOURCES[ATTRIBUTES])
    )
    metrics = {
        "active_customers_1y": _count_if(exp.GT(this=freq, expression=exp.Literal.number(0)))
        if tae
        else None,
        "revenue_1y": exp.Coalesce(this=exp.Sum(this=revenue), expressions=[exp.Literal.number(0)])
        if tae
        else None,
        "reachable_customers": _count_if(
            exp.or_(_is_true(email), _is_true(phone), _is_true(address), copy=False)
        )
        if attrs
        else None,
        "reachable_email": _count_if(_is_true(email.copy())) if attrs else None,
        "reachable_phone": _count_if(_is_true(phone.copy())) if attrs else None,
    }
    selected = [exp.alias_(exp.Count(this=exp.Star()), "unique_customers", copy=False)]
    selected += [
        exp.alias_(expression if expression is not None else exp.null(), name, copy=False)
        for name, expression in metrics.items()
    ]
    seg = exp.Table(
        this=exp.to_identifier("seg"), alias=exp.TableAlias(this=exp.to_identifier("s"))
    )
    return exp.select(*selected).from_(seg, copy=False).with_("seg", as_=segment, copy=False)


_SOURCES = {
    TAE: ("l12m_order_frequency", "l12m_order_revenue"),
    ATTRIBUTES: ("contactable_email", "contactable_phone", "contactable_address"),
}


def _table_with(catalog: Catalog, name: str, columns: tuple[str, ...]) -> str | None:
    table = catalog.table(name)
    if table is None or any(table.column(c) is None for c in (catalog.customer_key, *columns)):
        return None
    return table.name


def _is_true(column: exp.Expr) -> exp.Expr:
    return exp.EQ(this=column, expression=exp.true())


def _count_if(condition: exp.Expr) -> exp.Expr:
    return exp.Sum(
        this=exp.Case(
            ifs=[exp.If(this=condition, true=exp.Literal.number(1))], default=exp.Literal.number(0)
        )
    )
