"""The split's pure arithmetic (DESIGN §1.3): exact largest-remainder sizes, contiguous bounds.

Every property is checked against an independent implementation in exact rationals
(:class:`fractions.Fraction`), for audiences up to 10^7 and any percentages in basis points
that total 100 %.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from herald.core.splitting import BASIS, group_bounds, largest_remainder, to_basis_points


def reference_sizes(size: int, basis_points: list[int]) -> list[int]:
    """Largest remainder in exact rationals: floor of each quota, then +1 to the largest
    fractional parts; equal fractions go to the earlier group."""
    quotas = [Fraction(size * bp, BASIS) for bp in basis_points]
    floors = [q.numerator // q.denominator for q in quotas]
    fractions = [q - f for q, f in zip(quotas, floors, strict=True)]
    leftover = size - sum(floors)
    winners = sorted(range(len(quotas)), key=lambda i: (-fractions[i], i))[:leftover]
    return [f + (i in winners) for i, f in enumerate(floors)]


@st.composite
def percentages(draw: st.DrawFn, max_groups: int = 8) -> list[int]:
    """1 to ``max_groups`` basis-point shares (0 allowed) that total exactly 10,000."""
    count = draw(st.integers(1, max_groups))
    cuts = sorted(draw(st.lists(st.integers(0, BASIS), min_size=count - 1, max_size=count - 1)))
    edges = [0, *cuts, BASIS]
    return [b - a for a, b in itertools.pairwise(edges)]


sizes = st.one_of(st.integers(0, 200), st.integers(0, 10**7))


@given(size=sizes, bps=percentages())
@example(size=1200, bps=[1000, 9000])  # the documented example: 10 % of 1,200 is 120
@example(size=10, bps=[3333, 3333, 3334])
@example(size=1, bps=[5000, 5000])
@example(size=7, bps=[0, 10000])
@example(size=10**7, bps=[1, 9999])
def test_sizes_are_the_exact_largest_remainder(size: int, bps: list[int]) -> None:
    got = largest_remainder(size, bps)

    assert got == reference_sizes(size, bps)
    assert sum(got) == size
    for count, bp in zip(got, bps, strict=True):
        assert (
            abs(count - Fraction(size * bp, BASIS)) < 1
        )  # each size is floor or ceil of its quota


@given(size=sizes, bps=percentages())
def test_bounds_are_contiguous_runs_covering_every_rank_once(size: int, bps: list[int]) -> None:
    bounds = group_bounds(size, bps)

    assert len(bounds) == len(bps)
    assert [last - first + 1 for first, last in bounds] == reference_sizes(size, bps)
    next_rank = 1
    for first, last in bounds:
        assert first == next_rank  # no gap, no overlap
        next_rank = last + 1
    assert next_rank == size + 1  # together they are the whole audience


@given(size=st.integers(0, 10**7), bps=percentages())
def test_the_split_is_deterministic(size: int, bps: list[int]) -> None:
    assert largest_remainder(size, list(bps)) == largest_remainder(size, tuple(bps))
    assert group_bounds(size, bps) == group_bounds(size, bps)


@pytest.mark.parametrize(
    ("size", "control"),
    [(1200, 240), (1240, 248), (1160, 232)],
    ids=["1200-gives-240", "1240-gives-248", "1160-gives-232"],
)
def test_amperitys_worked_example_of_a_20_percent_control(size: int, control: int) -> None:
    assert largest_remainder(size, [2000, 8000]) == [control, size - control]


@pytest.mark.parametrize(
    "bps", [[5000, 4000], [5000, 5001], []], ids=["total-90", "total-100.01", "no-groups"]
)
def test_percentages_not_totalling_100_are_refused(bps: list[int]) -> None:
    with pytest.raises(ValueError, match=r"percentages total .* %, not 100 %"):
        largest_remainder(10, bps)


@pytest.mark.parametrize(
    ("percent", "expected"),
    [
        (12.5, 1250),
        ("33.33", 3333),
        (100, 10000),
        (0, 0),
        ("0.01", 1),
        (99.99, 9999),
        ("1e1", 1000),
    ],
    ids=[
        "float-12.5",
        "text-33.33",
        "int-100",
        "zero",
        "one-basis-point",
        "float-99.99",
        "exponent",
    ],
)
def test_percent_to_basis_points(percent: object, expected: int) -> None:
    assert to_basis_points(percent) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("percent", "message"),
    [
        ("33.333", "more than two decimals"),
        (12.345, "more than two decimals"),
        (100.01, "not between 0 and 100"),
        (-5, "not between 0 and 100"),
        ("half", "must be a number"),
    ],
    ids=["three-decimals-text", "three-decimals-float", "above-100", "negative", "text"],
)
def test_bad_percent_is_refused(percent: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        to_basis_points(percent)  # type: ignore[arg-type]
