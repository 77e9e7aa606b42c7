"""Check a condition's values against the column type and turn them into SQL literals.

Values always become literals in the sqlglot tree, so no value can change a query's shape.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from herald.core.catalog import AttributeType
from herald.core.dates import RELATIVE_DATE_HELP, is_relative_date, resolve_relative_date

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?$"
)


class ValueProblem(ValueError):
    """A value does not fit its column; the message says what was expected."""


@dataclass(frozen=True)
class TemporalValue:
    """A resolved date or datetime value; ``has_time`` decides how the column is compared."""

    value: dt.date | dt.datetime
    has_time: bool

    def literal(self, as_timestamp: bool) -> exp.Expression:
        if as_timestamp:
            moment = self.value if self.has_time else dt.datetime.combine(self.value, dt.time())
            assert isinstance(moment, dt.datetime)
            return exp.cast(
                exp.Literal.string(moment.isoformat(sep=" ")), exp.DataType.Type.TIMESTAMP
            )
        return exp.cast(exp.Literal.string(self.value.isoformat()), exp.DataType.Type.DATE)


def temporal(value: Any, attr_type: AttributeType, today: dt.date) -> TemporalValue:
    """Resolve a date value: a date, an ISO date or datetime text, or a relative date.

    >>> temporal("3 days ago", "date", dt.date(2024, 1, 10)).value
    datetime.date(2024, 1, 7)
    """
    if isinstance(value, dt.datetime):
        return _with_time(value, attr_type)
    if isinstance(value, dt.date):
        return TemporalValue(value, has_time=False)
    if not isinstance(value, str):
        msg = f"expected a date (YYYY-MM-DD) or {RELATIVE_DATE_HELP}, got {value!r}"
        raise ValueProblem(msg)
    text = value.strip()
    if is_relative_date(text):
        return TemporalValue(resolve_relative_date(text, today), has_time=False)
    if _DATE.match(text):
        return TemporalValue(_parse(dt.date.fromisoformat, text), has_time=False)
    if _DATETIME.match(text):
        return _with_time(_parse(dt.datetime.fromisoformat, text), attr_type)
    msg = f"'{value}' is not a date; use YYYY-MM-DD, 'YYYY-MM-DD HH:MM:SS' or {RELATIVE_DATE_HELP}"
    raise ValueProblem(msg)


def _with_time(value: dt.datetime, attr_type: AttributeType) -> TemporalValue:
    if attr_type == "date":
        msg = f"'{value}' has a time of day but the column is a date; give YYYY-MM-DD"
        raise ValueProblem(msg)
    if value.tzinfo is not None:  # an explicit offset: the same moment in UTC (DESIGN §1.2)
        value = value.astimezone(dt.UTC)
    return TemporalValue(value.replace(tzinfo=None), has_time=True)


def _parse(parser: Any, text: str) -> Any:
    try:
        return parser(text)
    except ValueError:
        msg = f"'{text}' is not a real calendar date"
        raise ValueProblem(msg) from None


def number_literal(value: Any, attr_type: AttributeType) -> exp.Expression:
    """A numeric literal for an integer or decimal column.

    >>> number_literal(19.99, "decimal").sql()
    '19.99'
    """
    if isinstance(value, bool) or not isinstance(value, int | float | decimal.Decimal):
        msg = f"expected a number, got {describe(value)}"
        raise ValueProblem(msg)
    if isinstance(value, float) and value != value:  # NaN matches nothing and hides typos
        msg = "expected a number, got NaN"
        raise ValueProblem(msg)
    if attr_type == "integer" and value != int(value):
        msg = f"the column holds whole numbers, got {value}"
        raise ValueProblem(msg)
    text = str(int(value)) if attr_type == "integer" else _decimal_text(value)
    return exp.Literal.number(text)


def _decimal_text(value: int | float | decimal.Decimal) -> str:
    number = decimal.Decimal(str(value))
    if not number.is_finite():
        msg = f"expected a finite number, got {value}"
        raise ValueProblem(msg)
    return format(number, "f")


def string_literal(value: Any) -> exp.Expression:
    """A string literal; numbers are refused so that ``98101`` vs ``'98101'`` is never guessed."""
    if not isinstance(value, str):
        msg = f"expected text, got {describe(value)}; quote it in YAML, e.g. '{value}'"
        raise ValueProblem(msg)
    return exp.Literal.string(value)


def describe(value: Any) -> str:
    """How a value is named in messages: ``text 'x'``, ``nothing``, ``int 5``."""
    if isinstance(value, str):
        return f"text '{value}'"
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"
