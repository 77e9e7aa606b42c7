"""Klaviyo's ``filter`` query syntax: parse it and check it against what an endpoint allows.

Grammar (https://developers.klaviyo.com/en/reference/api-overview#filtering)::

    filter     := expression ("," expression)*          # comma means "and"
    expression := "and(" filter ")" | operator "(" field "," value ")"
    value      := string | datetime | number | boolean | "null" | "[" value ("," value)* "]"

>>> parse_filter('equals(email,"a@b.c")')
[Condition(operator='equals', field='email', value='a@b.c')]
>>> parse_filter("any(id,['x','y']),greater-than(created,2024-01-01T00:00:00Z)")[1].value
datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from herald.sandbox.errors import ApiError

#: Operators Klaviyo documents; the sandbox implements the ones in ``IMPLEMENTED``.
KNOWN_OPERATORS = frozenset(
    {
        "equals",
        "any",
        "greater-than",
        "less-than",
        "greater-or-equal",
        "less-or-equal",
        "contains",
        "contains-any",
        "contains-all",
        "ends-with",
        "starts-with",
        "has",
        "and",
        "or",
        "not",
    }
)
COMPARISONS = ("greater-than", "less-than", "greater-or-equal", "less-or-equal")
IMPLEMENTED = frozenset({"equals", "any", *COMPARISONS})

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<punct>[(),\[\]])
      | (?P<word>[^\s(),\[\]"']+)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Condition:
    """One ``operator(field,value)`` term of a filter.

    Attributes:
        operator: e.g. ``equals``.
        field: e.g. ``email``.
        value: a str, number, bool, None, datetime, or a list of those for ``any``.
    """

    operator: str
    field: str
    value: Any


def _bad(detail: str) -> ApiError:
    return ApiError(400, "invalid", detail, parameter="filter")


def parse_filter(text: str) -> list[Condition]:
    """Parse a filter into the conditions that must all hold.

    Raises:
        ApiError: 400 with ``source.parameter = "filter"`` on a syntax error or an operator
            the sandbox does not support (``or``, ``not``, string matching).
    """
    tokens = _tokenize(text)
    parser = _Parser(tokens)
    conditions = parser.conditions()
    if parser.pos != len(tokens):
        msg = "Invalid filter: unexpected text after the last expression."
        raise _bad(msg)
    return conditions


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            msg = f"Invalid filter: cannot read the filter at character {pos}."
            raise _bad(msg)
        kind = m.lastgroup or "word"
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (expected is not None and token[1] != expected):
            want = f"'{expected}'" if expected else "more input"
            msg = f"Invalid filter: expected {want} at token {self.pos}."
            raise _bad(msg)
        self.pos += 1
        return token

    def conditions(self) -> list[Condition]:
        out = self.expression()
        while self.peek() == ("punct", ","):
            self.take(",")
            out += self.expression()
        return out

    def expression(self) -> list[Condition]:
        kind, name = self.take()
        if kind != "word":
            msg = f"Invalid filter: expected an operator at token {self.pos - 1}."
            raise _bad(msg)
        if name not in KNOWN_OPERATORS:
            msg = f"Invalid filter: '{name}' is not a filter operator."
            raise _bad(msg)
        self.take("(")
        if name == "and":
            out = self.conditions()
            self.take(")")
            return out
        if name not in IMPLEMENTED:
            msg = f"Invalid filter: the operator '{name}' is not supported here."
            raise _bad(msg)
        field_kind, field = self.take()
        if field_kind != "word":
            msg = "Invalid filter: a field name must not be quoted."
            raise _bad(msg)
        self.take(",")
        value = self.value()
        self.take(")")
        return [Condition(name, field, value)]

    def value(self) -> Any:
        if self.peek() == ("punct", "["):
            self.take("[")
            items = [self.value()]
            while self.peek() == ("punct", ","):
                self.take(",")
                items.append(self.value())
            self.take("]")
            return items
        kind, raw = self.take()
        if kind == "string":
            return re.sub(r"\\(.)", r"\1", raw[1:-1])
        if kind != "word":
            msg = f"Invalid filter: expected a value at token {self.pos - 1}."
            raise _bad(msg)
        return _literal(raw)


def _literal(raw: str) -> Any:
    if raw in ("true", "false"):
        return raw == "true"
    if raw == "null":
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        pass
    try:
        return float(raw) if "." in raw else int(raw)
    except ValueError:
        msg = "Invalid filter: a text value must be quoted."
        raise _bad(msg) from None


def check_allowed(
    conditions: list[Condition],
    allowed: dict[str, list[str]] | None,
    implemented: frozenset[str],
) -> None:
    """Check each condition against the spec's allowed fields and the sandbox's support.

    Args:
        conditions: the parsed filter.
        allowed: the spec's allowed ``field -> operators`` for the endpoint.
        implemented: the fields the sandbox can evaluate for the endpoint.

    Raises:
        ApiError: 400 with ``source.parameter = "filter"``.
    """
    for cond in conditions:
        if allowed is None or cond.field not in allowed:
            msg = f"Invalid filter: '{cond.field}' is not a filterable field here."
            raise _bad(msg)
        if cond.operator not in allowed[cond.field]:
            msg = f"Invalid filter: '{cond.operator}' is not allowed for the field '{cond.field}'."
            raise _bad(msg)
        if cond.field not in implemented:
            msg_0 = f"Invalid filter: the sandbox does not support filtering on '{cond.field}'."
            # The spec allows it: a limit of the sandbox, not a violation by the client.
            raise ApiError(400, "invalid", msg_0, parameter="filter", violation=False)
        _check_value(cond)


def _check_value(cond: Condition) -> None:
    if cond.operator == "any":
        if not isinstance(cond.value, list):
            msg = f"Invalid filter: 'any' needs a list of values for '{cond.field}'."
            raise _bad(msg)
    elif isinstance(cond.value, list):
        msg = f"Invalid filter: '{cond.operator}' takes one value; use 'any' for a list."
        raise _bad(msg)
    if cond.operator in COMPARISONS and not isinstance(cond.value, datetime | int | float):
        msg = f"Invalid filter: '{cond.operator}' needs a date-time for '{cond.field}'."
        raise _bad(msg)


def matches(cond: Condition, value: Any) -> bool:
    """Whether a resource's ``value`` for ``cond.field`` satisfies the condition."""
    if cond.operator == "equals":
        return bool(value == cond.value)
    if cond.operator == "any":
        return value in cond.value
    if value is None:
        return False
    if cond.operator == "greater-than":
        return bool(value > cond.value)
    if cond.operator == "less-than":
        return bool(value < cond.value)
    if cond.operator == "greater-or-equal":
        return bool(value >= cond.value)
    return bool(value <= cond.value)
