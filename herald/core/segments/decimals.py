"""Comparisons of a DECIMAL column with values finer than its scale.

``balance > 100.005`` on a DECIMAL(38,2) column, compared as written, makes an engine widen the
column's scale to the value's, which overflows on the column's largest values (DuckDB stops
with a conversion error). No column value can equal such a value, and every comparison with it
has an exact twin at the column's scale (``> 100.005`` is ``>= 100.01``): this module writes
that twin.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from decimal import Context as DecimalContext
from typing import Any

from sqlglot import exp

from herald.core.segments import values as v

_DECIMAL_TYPE = re.compile(r"^\s*(?:DECIMAL|NUMERIC)\s*\(\s*\d+\s*,\s*(\d+)\s*\)", re.I)


def decimal_scale(engine_type: str) -> int | None:
    """The scale of a ``DECIMAL(p,s)`` column, when the engine says it."""
    found = _DECIMAL_TYPE.match(engine_type)
    return int(found.group(1)) if found else None


_EXACT = DecimalContext(prec=200)
"""Room for any DECIMAL(38, s) value (the default context rounds to 28 digits)."""


def fits(value: Any, scale: int) -> bool:
    number = Decimal(str(value))
    step = Decimal(1).scaleb(-scale)
    return number == number.quantize(step, rounding=ROUND_FLOOR, context=_EXACT)


def finer_than_column(op: str, col: exp.Expr, values: list[Decimal], scale: int) -> exp.Expr:
    """The same comparison with values finer than the column's scale (``balance > 100.005``
    on a DECIMAL(…,2) column), rewritten at the column's scale: no column value equals such a
    value, and ``> 100.005`` is ``>= 100.01``. Comparing as written would make the engine
    widen the column's scale, which overflows on its largest values."""
    step = Decimal(1).scaleb(-scale)
    fitting = [fits(x, scale) for x in values]

    def lit(x: Decimal, rounding: str) -> exp.Expr:
        return v.number_literal(x.quantize(step, rounding=rounding, context=_EXACT), "decimal")

    def low(x: Decimal, fit: bool) -> exp.Expr:  # col above x
        return (
            exp.GT(this=col, expression=lit(x, ROUND_FLOOR))
            if fit
            else exp.GTE(this=col, expression=lit(x, ROUND_CEILING))
        )

    def high(x: Decimal, fit: bool) -> exp.Expr:  # col below x
        return (
            exp.LT(this=col, expression=lit(x, ROUND_FLOOR))
            if fit
            else exp.LTE(this=col, expression=lit(x, ROUND_FLOOR))
        )

    never = exp.false()
    rewritten: dict[str, Callable[[], exp.Expr]] = {
        "is": lambda: never,
        "is_not": lambda: col.is_(exp.null()).not_(),
        "greater_than": lambda: low(values[0], False),
        "greater_than_or_equal": lambda: low(values[0], False),
        "less_than": lambda: high(values[0], False),
        "less_than_or_equal": lambda: high(values[0], False),
        "between": lambda: exp.and_(low(values[0], fitting[0]), high(values[1], fitting[1])),
        "not_between": lambda: exp.not_(
            exp.and_(low(values[0], fitting[0]), high(values[1], fitting[1]))
        ),
    }
    if op in rewritten:
        return rewritten[op]()
    kept = [v.number_literal(x, "decimal") for x, fit in zip(values, fitting, strict=True) if fit]
    if op == "in_list":
        return exp.In(this=col, expressions=kept) if kept else never
    inside = exp.In(this=col, expressions=kept) if kept else never
    return exp.and_(col.is_(exp.null()).not_(), exp.not_(inside))
