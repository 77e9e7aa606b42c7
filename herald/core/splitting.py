"""Exact, deterministic and stable splits of an audience into recipient groups (DESIGN §1.3).

Members are ordered by ``md5(salt || ':' || customer_key)`` (hex; identical on DuckDB, Spark and
Postgres) and the groups take contiguous runs of that order. Group sizes come from
largest-remainder rounding of ``percent × size``, so they are exact and always add up to the
size. Because continuing members keep their relative order, a small change in the audience
moves almost nobody to another group.

Percentages are handled in basis points (hundredths of a percent) with integer arithmetic:
no floating point decides who is in which group.

The split runs inside the campaign's one audience query
(:func:`herald.core.campaigns.audience.audience_query`), as the SQL steps built here. It reads
two relations the audience query defines:

- ``members (key, sub_ix)``: each member with the index of its sub-audience;
- ``split_groups (sub_ix, group_ix, basis_points, …labels)``: each group's share, with label
  columns (its names, whether it is a control group) carried through to the result.

and defines, one CTE per step, ``ranked_members`` → ``sub_audience_sizes`` → ``group_quotas``
→ ``remainder_ranks`` → ``group_bounds``; :func:`in_group` joins a ranked member to its group.
The tests check this SQL against an independent oracle in plain Python
(``tests/oracles/splitting.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from sqlglot import exp

BASIS = 10_000  # 100 % in basis points
QueryT = TypeVar("QueryT", bound=exp.Query)

MEMBERS = "members"
GROUPS = "split_groups"
RANKED = "ranked_members"
SIZES = "sub_audience_sizes"
QUOTAS = "group_quotas"
REMAINDERS = "remainder_ranks"
BOUNDS = "group_bounds"

# One line per step, rendered as a comment in the SQL (the functions below say more).
STEP_NOTES = {
    RANKED: "number each sub-audience's members in salted md5 order (random, stable, portable)",
    SIZES: "how many members each sub-audience has",
    QUOTAS: f"each group's quota member_count * basis_points / {BASIS}: floor and remainder",
    REMAINDERS: "largest remainder: members the floors leave over go to the largest remainders",
    BOUNDS: "exact group sizes; each group takes the next run of md5_rank, up to last_rank",
}


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


def split_steps(
    key: str, salt: str, labels: Sequence[str], carry: Sequence[str] = ()
) -> list[tuple[str, exp.Select]]:
    """The split's CTEs, in order, as ``(name, query)``; see the module docstring.

    Args:
        key: the customer key column of ``members``.
        salt: the campaign's salt; another salt gives another (equally exact) split.
        labels: columns of ``split_groups`` that ``group_bounds`` carries through.
        carry: columns of ``members`` that ``ranked_members`` carries through.
    """
    steps = [
        (RANKED, ranked_members(key, salt, carry)),
        (SIZES, sub_audience_sizes()),
        (QUOTAS, group_quotas(labels)),
        (REMAINDERS, remainder_ranks()),
        (BOUNDS, group_bounds(labels)),
    ]
    return [(name, noted(query, STEP_NOTES[name])) for name, query in steps]


def noted(query: QueryT, note: str) -> QueryT:
    """``query`` with ``note`` as a SQL comment, so the rendered SQL explains its steps.

    On a UNION the note goes on its first SELECT: on the UNION itself it would be rendered
    just before ``UNION ALL``, between two branches.
    """
    first = query
    while isinstance(first, exp.SetOperation):
        first = first.this
    first.add_comments([note])
    return query


def ranked_members(key: str, salt: str, carry: Sequence[str] = ()) -> exp.Select:
    """Number each sub-audience's members 1..n in salted-md5 order: ``md5_rank``.

    The hash of the salted key is unrelated to anything about the customer, so contiguous runs
    of this order are random samples; it is the same on every engine and every run, and a
    member's place relative to the others does not depend on who else is in the audience. The
    key itself breaks (never seen) hash ties, so the order is total.
    """
    column = exp.column(key, quoted=True)
    hashed = exp.MD5(
        this=exp.DPipe(
            this=exp.Literal.string(f"{salt}:"),
            expression=exp.cast(column, exp.DataType.Type.VARCHAR),
        )
    )
    order = exp.Order(expressions=[exp.Ordered(this=hashed), exp.Ordered(this=column.copy())])
    rank = exp.Window(this=exp.RowNumber(), partition_by=[exp.column("sub_ix")], order=order)
    carried = [exp.column(name) for name in carry]
    ranked = exp.alias_(rank, "md5_rank")
    return exp.select(column.copy(), "sub_ix", *carried, ranked).from_(MEMBERS)


def sub_audience_sizes() -> exp.Select:
    """``member_count`` of each sub-audience: the sizes are only known when the query runs."""
    count = exp.alias_(exp.Count(this=exp.Star()), "member_count")
    return exp.select("sub_ix", count).from_(MEMBERS).group_by("sub_ix")


def group_quotas(labels: Sequence[str]) -> exp.Select:
    """Each group's quota ``member_count × basis_points / BASIS`` as ``floor_share`` and
    ``remainder`` (the quota's fraction, in units of 1/BASIS): integers, so exact."""
    product = exp.Mul(
        this=exp.column("member_count", SIZES), expression=exp.column("basis_points", GROUPS)
    )
    basis = exp.Literal.number(BASIS)
    return (
        exp.select(
            *(exp.column(name, GROUPS) for name in ("sub_ix", "group_ix", *labels)),
            exp.column("member_count", SIZES),
            exp.alias_(exp.IntDiv(this=product, expression=basis), "floor_share"),
            exp.alias_(exp.Mod(this=product.copy(), expression=basis.copy()), "remainder"),
        )
        .from_(GROUPS)
        .join(SIZES, on=_same_sub(SIZES, GROUPS))
    )


def remainder_ranks() -> exp.Select:
    """The floors leave ``leftover`` members (fewer than the groups); ``remainder_rank`` orders
    the groups by remainder, largest first, ties to the earlier group, to hand them out."""
    leftover = exp.Sub(
        this=exp.column("member_count"),
        expression=exp.Window(
            this=exp.Sum(this=exp.column("floor_share")), partition_by=[exp.column("sub_ix")]
        ),
    )
    by_remainder = exp.Order(
        expressions=[
            exp.Ordered(this=exp.column("remainder"), desc=True),
            exp.Ordered(this=exp.column("group_ix")),
        ]
    )
    rank = exp.Window(this=exp.RowNumber(), partition_by=[exp.column("sub_ix")], order=by_remainder)
    return exp.select(
        "*", exp.alias_(leftover, "leftover"), exp.alias_(rank, "remainder_rank")
    ).from_(QUOTAS)


def group_bounds(labels: Sequence[str]) -> exp.Select:
    """Each group's exact ``group_size`` (its floor, plus one if its remainder ranks within the
    leftover) and ``last_rank``: groups take consecutive runs of ``md5_rank`` in group order,
    so a group ends at the running total of the sizes so far."""
    size = exp.Add(
        this=exp.column("floor_share"),
        expression=exp.Case(
            ifs=[
                exp.If(
                    this=exp.LTE(
                        this=exp.column("remainder_rank"), expression=exp.column("leftover")
                    ),
                    true=exp.Literal.number(1),
                )
            ],
            default=exp.Literal.number(0),
        ),
    )
    running_total = exp.Window(
        this=exp.Sum(this=size.copy()),
        partition_by=[exp.column("sub_ix")],
        order=exp.Order(expressions=[exp.Ordered(this=exp.column("group_ix"))]),
        spec=exp.WindowSpec(
            kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW"
        ),
    )
    return exp.select(
        "sub_ix",
        "group_ix",
        *labels,
        exp.alias_(size, "group_size"),
        exp.alias_(running_total, "last_rank"),
    ).from_(REMAINDERS)


def in_group(member: str, bounds: str) -> exp.Condition:
    """A ranked member (table or alias ``member``) falls in a group of ``bounds``: same
    sub-audience, and its rank within ``(last_rank - group_size, last_rank]``.

    >>> print(in_group("ranked", "bounds").sql())
    bounds.sub_ix = ranked.sub_ix AND ranked.md5_rank > bounds.last_rank - bounds.group_size
    AND ranked.md5_rank <= bounds.last_rank
    """
    rank = exp.column("md5_rank", member)
    last = exp.column("last_rank", bounds)
    first_minus_one = exp.Sub(this=last, expression=exp.column("group_size", bounds))
    return exp.and_(
        _same_sub(bounds, member),
        exp.GT(this=rank, expression=first_minus_one),
        exp.LTE(this=rank.copy(), expression=last.copy()),
    )


def _same_sub(left: str, right: str) -> exp.EQ:
    return exp.EQ(this=exp.column("sub_ix", left), expression=exp.column("sub_ix", right))
