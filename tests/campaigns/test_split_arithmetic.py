"""The split's size arithmetic as it runs (DESIGN §1.3): exact largest-remainder sizes, runs.

The audience query's own steps ``split_groups`` → ``group_quotas`` → ``remainder_ranks`` →
``group_bounds`` are taken from its sqlglot tree and run in DuckDB over one sub-audience whose
size is given (``sub_audience_sizes`` replaced by a literal), so audiences up to 10^7 need no
members. Every property is checked against the oracle in exact rationals
(:mod:`oracles.splitting`), for any percentages in basis points that total 100 %.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any

import pytest
import sqlglot
from hypothesis import example, given
from hypothesis import strategies as st
from oracles.splitting import group_bounds, largest_remainder, percentages
from sqlglot import exp

from herald.core.campaigns.audience import AudienceContext, audience_query
from herald.core.splitting import (
    BASIS,
    BOUNDS,
    GROUPS,
    QUOTAS,
    REMAINDERS,
    SIZES,
    to_basis_points,
)

sizes = st.one_of(st.integers(0, 200), st.integers(0, 10**7))


def bounds_runner(rig: Any, splits: Callable[..., Any]) -> Callable[..., list[Any]]:
    """``(size, bps) -> [(group_size, last_rank), …]`` in group order, computed by the SQL
    on the rig's engine."""
    ctx = AudienceContext(
        catalog=rig.catalog,
        today=dt.date(2026, 6, 30),
        resolve_segment=rig.segments.__getitem__,
        salt="salt",
        dialect=rig.dialect,
    )

    def run(size: int, bps: list[int]) -> list[Any]:
        steps = {cte.alias: cte.this for cte in audience_query(splits(bps), ctx).ctes}
        # COUNT(*) is a BIGINT: the literal size is one too, so the products are as wide
        steps[SIZES] = sqlglot.parse_one(
            f"SELECT 0 AS sub_ix, CAST({size} AS BIGINT) AS member_count"
        )
        bounds = exp.select("group_size", "last_rank").from_(BOUNDS).order_by("group_ix")
        for name in (GROUPS, SIZES, QUOTAS, REMAINDERS, BOUNDS):
            bounds = bounds.with_(name, as_=steps[name], copy=False)
        return [tuple(row) for row in rig.execute(bounds)]

    return run


@pytest.mark.spark
def test_spark_computes_the_same_bounds(rig_cls: type, splits: Callable[..., Any]) -> None:
    """Largest remainder in Spark's integer arithmetic, up to ten million members."""
    cases = [(0, [10000]), (7, [3333, 3333, 3334]), (1201, [1000, 4500, 4500]),
             (9_999_999, [1, 9999]), (10**7, [2500, 2500, 2500, 2500]),
             (12_345, [1, 2, 3, 9994])]  # fmt: skip
    with rig_cls([]) as duck, rig_cls([], kind="spark") as spark:
        on_duckdb, on_spark = bounds_runner(duck, splits), bounds_runner(spark, splits)
        for size, bps in cases:
            assert on_spark(size, bps) == on_duckdb(size, bps), (size, bps)


@pytest.fixture(scope="module")
def run_bounds(rig_cls: type, splits: Callable[..., Any]) -> Iterator[Callable[..., list[Any]]]:
    """``(size, bps) -> [(group_size, last_rank), …]`` in group order, computed by the SQL."""
    with rig_cls([]) as rig:
        yield bounds_runner(rig, splits)


@given(size=sizes, bps=percentages())
@example(size=1200, bps=[1000, 9000])  # the documented example: 10 % of 1,200 is 120
@example(size=10, bps=[3333, 3333, 3334])
@example(size=1, bps=[5000, 5000])
@example(size=7, bps=[0, 10000])
@example(size=10**7, bps=[1, 9999])
def test_sizes_are_the_exact_largest_remainder(
    run_bounds: Callable[..., list[Any]], size: int, bps: list[int]
) -> None:
    got = [group_size for group_size, _ in run_bounds(size, bps)]

    assert got == largest_remainder(size, bps)
    assert sum(got) == size
    for count, bp in zip(got, bps, strict=True):
        assert (
            abs(count - Fraction(size * bp, BASIS)) < 1
        )  # each size is floor or ceil of its quota


@given(size=sizes, bps=percentages())
def test_bounds_are_contiguous_runs_covering_every_rank_once(
    run_bounds: Callable[..., list[Any]], size: int, bps: list[int]
) -> None:
    bounds = [(last - count + 1, last) for count, last in run_bounds(size, bps)]

    assert len(bounds) == len(bps)
    assert [last - first + 1 for first, last in bounds] == largest_remainder(size, bps)
    assert bounds == group_bounds(size, bps)
    next_rank = 1
    for first, last in bounds:
        assert first == next_rank  # no gap, no overlap
        next_rank = last + 1
    assert next_rank == size + 1  # together they are the whole audience


@given(size=st.integers(0, 10**7), bps=percentages())
def test_the_split_is_deterministic(
    run_bounds: Callable[..., list[Any]], size: int, bps: list[int]
) -> None:
    assert run_bounds(size, list(bps)) == run_bounds(size, list(bps))


@pytest.mark.parametrize(
    ("size", "control"),
    [(1200, 240), (1240, 248), (1160, 232)],
    ids=["1200-gives-240", "1240-gives-248", "1160-gives-232"],
)
def test_amperitys_worked_example_of_a_20_percent_control(
    run_bounds: Callable[..., list[Any]], size: int, control: int
) -> None:
    assert [count for count, _ in run_bounds(size, [2000, 8000])] == [control, size - control]


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
