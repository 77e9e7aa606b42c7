"""The Segment Editor's operators, by attribute type (DESIGN §1.2).

Each operator has one canonical snake_case name; the editor's wording and the usual symbols are
accepted as aliases (``is greater than``, ``>``, ``gt``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from herald.core.catalog import AttributeType

Arity = Literal["none", "one", "two", "many"]

_DATES: frozenset[AttributeType] = frozenset({"date", "datetime"})
_NUMBERS: frozenset[AttributeType] = frozenset({"integer", "decimal"})
_STRINGS: frozenset[AttributeType] = frozenset({"string"})
_ALL: frozenset[AttributeType] = frozenset(
    {"boolean", "date", "datetime", "decimal", "integer", "string"}
)


@dataclass(frozen=True)
class Operator:
    """An operator: its name, how many values it takes and the types it applies to.

    ``matches_null`` says whether a NULL (never set) value satisfies it: only the null and
    empty checks do. It decides how a customer with no row in a per-customer table is treated.
    """

    name: str
    arity: Arity
    types: frozenset[AttributeType]
    matches_null: bool = False


OPERATORS: dict[str, Operator] = {
    op.name: op
    for op in [
        Operator("is_true", "none", frozenset({"boolean"})),
        Operator("is_false", "none", frozenset({"boolean"})),
        Operator("is_null", "none", _ALL, matches_null=True),
        Operator("is_not_null", "none", _ALL),
        Operator("is", "one", _DATES | _NUMBERS),
        Operator("is_not", "one", _DATES | _NUMBERS),
        Operator("after", "one", _DATES),
        Operator("before", "one", _DATES),
        Operator("on_or_after", "one", _DATES),
        Operator("on_or_before", "one", _DATES),
        Operator("greater_than", "one", _NUMBERS),
        Operator("greater_than_or_equal", "one", _NUMBERS),
        Operator("less_than", "one", _NUMBERS),
        Operator("less_than_or_equal", "one", _NUMBERS),
        Operator("between", "two", _DATES | _NUMBERS),
        Operator("not_between", "two", _DATES | _NUMBERS),
        Operator("in_list", "many", _NUMBERS | _STRINGS),
        Operator("not_in_list", "many", _NUMBERS | _STRINGS),
        Operator("contains", "one", _STRINGS),
        Operator("does_not_contain", "one", _STRINGS),
        Operator("starts_with", "one", _STRINGS),
        Operator("ends_with", "one", _STRINGS),
        Operator("is_exactly", "one", _STRINGS),
        Operator("is_not_exactly", "one", _STRINGS),
        Operator("is_empty", "none", _STRINGS, matches_null=True),
        Operator("is_not_empty", "none", _STRINGS),
    ]
}

ALIASES: dict[str, str] = {
    "=": "is",
    "==": "is",
    "eq": "is",
    "equals": "is",
    "!=": "is_not",
    "<>": "is_not",
    "≠": "is_not",
    "ne": "is_not",
    ">": "greater_than",
    "gt": "greater_than",
    "is_greater_than": "greater_than",
    ">=": "greater_than_or_equal",
    "≥": "greater_than_or_equal",
    "gte": "greater_than_or_equal",
    "is_greater_than_or_equal_to": "greater_than_or_equal",
    "<": "less_than",
    "lt": "less_than",
    "is_less_than": "less_than",
    "<=": "less_than_or_equal",
    "≤": "less_than_or_equal",
    "lte": "less_than_or_equal",
    "is_less_than_or_equal_to": "less_than_or_equal",
    "is_after": "after",
    "is_before": "before",
    "is_on_or_after": "on_or_after",
    "is_on_or_before": "on_or_before",
    "is_between": "between",
    "is_not_between": "not_between",
    "is_in_list": "in_list",
    "in": "in_list",
    "is_not_in_list": "not_in_list",
    "not_in": "not_in_list",
    "has": "contains",
}


def lookup_operator(name: str) -> Operator | None:
    """Find an operator by its name or an alias, ignoring case, spaces and dashes.

    >>> lookup_operator("is greater than or equal to").name
    'greater_than_or_equal'
    >>> lookup_operator("≤").name
    'less_than_or_equal'
    """
    key = "_".join(name.strip().lower().replace("-", " ").split())
    key = ALIASES.get(key, key)
    return OPERATORS.get(key)


def operators_for(attr_type: AttributeType) -> list[str]:
    """The operator names valid for a type, in the editor's order.

    >>> operators_for("boolean")
    ['is_true', 'is_false', 'is_null', 'is_not_null']
    """
    return [op.name for op in OPERATORS.values() if attr_type in op.types]
