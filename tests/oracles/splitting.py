"""The split's test oracle (DESIGN §1.3): who goes in which group, in plain Python.

Production splits inside the campaign's audience query, with the SQL steps of
:mod:`herald.core.splitting`. The tests check that SQL against this module, which is written
independently of it: exact rationals (:class:`fractions.Fraction`) instead of integer
basis-point arithmetic, a sort instead of window functions, :mod:`hashlib` instead of the
engine's md5. Keep it that way: an oracle that shares code with production cannot catch its
bugs. This is the only copy; every split test imports it.

The rule: members are ordered by the lower-case hex ``md5(salt || ':' || key)`` (ties, never
seen, by key); group sizes are the floors of the quotas ``size × percent``, plus one member
each for the largest fractional parts (equal ones go to the earlier group); groups take
consecutive runs of the order, in group order.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from fractions import Fraction

from hypothesis import strategies as st

BASIS = 10_000  # 100 % in basis points (hundredths of a percent)


def largest_remainder(size: int, basis_points: Sequence[int]) -> list[int]:
    """Group sizes for ``size`` members with these shares (in basis points, totalling 100 %).

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
    quotas = [Fraction(size * bp, BASIS) for bp in basis_points]
    floors = [q.numerator // q.denominator for q in quotas]
    fractions = [q - f for q, f in zip(quotas, floors, strict=True)]
    leftover = size - sum(floors)
    winners = sorted(range(len(quotas)), key=lambda i: (-fractions[i], i))[:leftover]
    return [f + (i in winners) for i, f in enumerate(floors)]


def group_bounds(size: int, basis_points: Sequence[int]) -> list[tuple[int, int]]:
    """1-based inclusive ranks ``(first, last)`` each group takes; empty: ``(first, first - 1)``.

    >>> group_bounds(10, [2000, 3000, 5000])
    [(1, 2), (3, 5), (6, 10)]
    """
    bounds, start = [], 1
    for count in largest_remainder(size, basis_points):
        bounds.append((start, start + count - 1))
        start += count
    return bounds


def md5_order(keys: Sequence[str], salt: str) -> list[str]:
    """The documented order: md5 of ``salt:key`` (UTF-8) as lower-case hex, ties by key.

    >>> md5_order(["a", "b", "c"], "S") == sorted(
    ...     "abc", key=lambda k: hashlib.md5(f"S:{k}".encode()).hexdigest()
    ... )
    True
    """
    return sorted(keys, key=lambda k: (hashlib.md5(f"{salt}:{k}".encode()).hexdigest(), k))


def expected_groups(keys: Sequence[str], salt: str, bps: Sequence[int]) -> dict[str, str]:
    """Group (``G0``, ``G1``, …) of each key: consecutive runs of the md5 order, sized exactly.

    >>> sorted(expected_groups(["a", "b", "c", "d"], "S", [5000, 5000]).values())
    ['G0', 'G0', 'G1', 'G1']
    """
    order = md5_order(keys, salt)
    labels = [f"G{i}" for i, n in enumerate(largest_remainder(len(keys), bps)) for _ in range(n)]
    return dict(zip(order, labels, strict=True))


@st.composite
def percentages(draw: st.DrawFn, max_groups: int = 8) -> list[int]:
    """1 to ``max_groups`` basis-point shares (0 allowed) that total exactly 10,000."""
    count = draw(st.integers(1, max_groups))
    cuts = sorted(draw(st.lists(st.integers(0, BASIS), min_size=count - 1, max_size=count - 1)))
    edges = [0, *cuts, BASIS]
    return [b - a for a, b in itertools.pairwise(edges)]
