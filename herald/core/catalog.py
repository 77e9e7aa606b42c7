"""What the engine knows about the customer database: tables, columns and their types.

Types come from the engine's catalog, never guessed from values (DESIGN §1.1).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

AttributeType = Literal["boolean", "date", "datetime", "decimal", "integer", "string"]
ATTRIBUTE_TYPES: tuple[AttributeType, ...] = (
    "boolean",
    "date",
    "datetime",
    "decimal",
    "integer",
    "string",
)


@dataclass(frozen=True)
class Column:
    """One column: its name as the engine spells it, and its attribute type.

    ``type`` is None for columns of a type segments cannot filter on (lists, structs, blobs).
    """

    name: str
    type: AttributeType | None
    engine_type: str = ""


@dataclass(frozen=True)
class Table:
    """One table, with its columns keyed by lower-cased name (names are case-insensitive)."""

    name: str
    columns: Mapping[str, Column]

    def column(self, name: str) -> Column | None:
        return self.columns.get(name.lower())

    def column_names(self) -> list[str]:
        return [c.name for c in self.columns.values()]


@dataclass(frozen=True)
class Catalog:
    """The tables of the customer database and the roles some of them play.

    Args:
        tables: every table, keyed by lower-cased name.
        customer_key: the column every table joins on (``amperity_id`` by default).
        base_table: where every segment starts: all of its customers.
        customer_tables: tables with at most one row per customer. A customer without a row
            in one behaves as if every column were NULL there.
        transactions_table: one row per order, for purchase behaviour.
        items_table: one row per line item, for purchase behaviour filtered on items.
        order_time_column: the transactions table's order time, for campaign results.
        order_revenue_column: the transactions table's order revenue, for campaign results.
    """

    tables: Mapping[str, Table]
    customer_key: str = "amperity_id"
    base_table: str = "Customer_360"
    customer_tables: frozenset[str] = field(
        default_factory=lambda: frozenset(
            {
                "customer_360",
                "merged_customers",
                "customer_attributes",
                "transaction_attributes_extended",
            }
        )
    )
    transactions_table: str = "Unified_Transactions"
    items_table: str = "Unified_Itemized_Transactions"
    order_time_column: str = "order_datetime"
    order_revenue_column: str = "order_revenue"

    @classmethod
    def from_columns(
        cls, columns: Iterable[tuple[str, str, AttributeType | None, str]], **roles: object
    ) -> Catalog:
        """Build a catalog from ``(table, column, attribute type, engine type)`` rows.

        >>> cat = Catalog.from_columns([("Customer_360", "amperity_id", "string", "VARCHAR")])
        >>> cat.table("customer_360").column("AMPERITY_ID").name
        'amperity_id'
        """
        grouped: dict[str, tuple[str, dict[str, Column]]] = {}
        for table, column, attr_type, engine_type in columns:
            _, cols = grouped.setdefault(table.lower(), (table, {}))
            cols[column.lower()] = Column(column, attr_type, engine_type)
        tables = {key: Table(name, cols) for key, (name, cols) in grouped.items()}
        return cls(tables=tables, **roles)  # type: ignore[arg-type]

    def table(self, name: str) -> Table | None:
        return self.tables.get(name.lower())

    def table_names(self) -> list[str]:
        return [t.name for t in self.tables.values()]

    def is_customer_table(self, name: str) -> bool:
        return name.lower() in {t.lower() for t in self.customer_tables}


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A " Did you mean 'x'?" suffix for an unknown name, or "" when nothing is close.

    >>> did_you_mean("Customer360", ["Customer_360", "Merged_Customers"])
    " Did you mean 'Customer_360'?"
    """
    by_lower = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" Did you mean '{by_lower[close[0]]}'?" if close else ""


def unknown_key(
    node: Mapping[str, object], allowed: Iterable[str], loc: str
) -> tuple[str, str] | None:
    """The first key of ``node`` not in ``allowed``, as ``(message, location)``, or None.

    >>> unknown_key({"nmae": "x"}, ("name", "where"), "")
    ("unknown key 'nmae'. Did you mean 'name'? Allowed here: name, where", 'nmae')
    """
    allowed = tuple(allowed)
    for key in node:
        if key not in allowed:
            hint = did_you_mean(str(key), allowed)
            where = f"{loc}.{key}" if loc else str(key)
            return f"unknown key '{key}'.{hint} Allowed here: {', '.join(allowed)}", where
    return None
