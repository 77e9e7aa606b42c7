"""Exact, deterministic and stable splits of an audience into recipient groups (DESIGN §1.3).

Members are ordered by ``md5(salt || ':' || customer_key)`` (hex; identical on DuckDB, Spark and
Postgres) and the groups take contiguous runs of that order. Group sizes come from
largest-remainder rounding of ``percent × size``, so they are exact and always add up to the
size. Because continuing members keep their relative order, a small change in the audience
moves almost nobody to another group.

Percentages are handled in basis points (hundredths of a percent) with integer arithmetic:
no floating point decides who is in which group.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

BASIS = 10_000  # 100 % in basis points


def to_basis_points(percent: float | int | str | Decimal) -> int:
    """A percentage as basis points; at most two decimals.

    >>> to_basis_points(12.5), to_basis_points("33.33"), to_basis_points(100)
    (1250, 3333, 10000)
    """
    try:
        value = Decimal(str(percent)) * 100
    except InvalidOperation:
        msg = f"percent must be a number, got {percent!r}"
        raise ValueError(msg) from None
    if value != value.to_integral_value():
        msg = f"percent {percent} has more than two decimals"
        raise ValueError(msg)
    if not 0 <= value <= BASIS:
        msg = f"percent {percent} is not between 0 and 100"
        raise ValueError(msg)
    return int(value)


def largest_remainder(size: int, basis_points: Sequence[int]) -> list[int]:
    """Group sizes for ``size`` members: floors of the quotas, then one more member each for
    the largest remainders (ties go to the earlier group). The sizes total ``size`` exactly.

    >>> largest_remainder(1200, [1000, 9000])
    [120, 1080]
    >>> largest_remainder(10, [3333, 3333, 3334])
    [3, 3, 4]
    >>> largest_remainder(1, [5000, 5000])
    [1, 0]
    """
    if any(bp < 0 for bp in basis_points):
        msg = "percentages cannot be negative"
        raise ValueError(msg)
    if sum(basis_points) != BASIS:
        msg = f"percentages total {sum(basis_points) / 100:g} %, not 100 %"
        raise ValueError(msg)
    floors = [size * bp // BASIS for bp in basis_points]
    remainders = [size * bp % BASIS for bp in basis_points]
    leftover = size - sum(floors)
    by_remainder = sorted(range(len(basis_points)), key=lambda i: (-remainders[i], i))
    for i in by_remainder[:leftover]:
        floors[i] += 1
    return floors


def group_bounds(size: int, basis_points: Sequence[int]) -> list[tuple[int, int]]:
    """1-based inclusive ranks ``(first, last)`` each group takes in the md5 order.

    An empty group gets ``(first, first - 1)``.

    >>> group_bounds(10, [2000, 3000, 5000])
    [(1, 2), (3, 5), (6, 10)]
    """
    bounds, start = [], 1
    for count in largest_remainder(size, basis_points):
        bounds.append((start, start + count - 1))
        start += count
    return bounds
