"""Compile a campaign's audience into ONE query: include − exclude, sub-audiences, the exact
split of DESIGN §1.3, and the attributes each destination needs.

The result has one row per recipient (control groups included) and the columns
``amperity_id, sub_audience, group, is_control`` (the customer key keeps its configured name)
followed by one column per attribute source, named by the source (``email``,
``Customer_360.state``).

The split happens in SQL: members of each sub-audience are numbered in
``md5(salt || ':' || key)`` order; group sizes are the largest-remainder rounding of
``percent × size`` computed with integer arithmetic in basis points; group *i* takes the ranks
after the sizes of the groups before it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce

from sqlglot import exp

from herald.core.campaigns.model import Campaign, SubAudience
from herald.core.campaigns.validate import Resolved
from herald.core.catalog import Catalog
from herald.core.segments.compile import SegmentResolver, compile_segment
from herald.core.segments.model import Segment
from herald.core.splitting import BASIS

SNAPSHOT_COLUMNS = ("sub_audience", "group", "is_control")


@dataclass(frozen=True)
class AudienceContext:
    """What the audience query needs besides the campaign: pure data, no connections."""

    catalog: Catalog
    today: dt.date
    resolve_segment: SegmentResolver
    salt: str
    attributes_table: str = "Merged_Customers"
    dialect: str = "duckdb"


def attribute_sources(resolved: Sequence[Resolved]) -> list[str]:
    """Every attribute source the destinations need, once, in first-use order."""
    seen: dict[str, None] = {}
    for item in resolved:
        for mapping in item.attributes:
            seen.setdefault(mapping.source, None)
    return list(seen)


def audience_query(
    campaign: Campaign, ctx: AudienceContext, sources: Sequence[str] = ()
) -> exp.Select:
    """The recipients of one run of ``campaign``, as a sqlglot SELECT."""
    key = ctx.catalog.customer_key
    subs = campaign.all_sub_audiences()
    query = exp.select(
        exp.column(key, "r", quoted=True),
        exp.alias_(exp.column("sub_name", "b"), "sub_audience", quoted=True),
        exp.alias_(exp.column("group_name", "b"), "group", quoted=True),
        exp.alias_(exp.column("is_control", "b"), "is_control", quoted=True),
    )
    query = query.with_("audience", as_=_audience(campaign, ctx))
    query = query.with_("members", as_=_members(campaign, subs, ctx))
    query = query.with_("ranked", as_=_ranked(ctx))
    query = query.with_("sizes", as_=_sizes())
    query = query.with_("groups", as_=_groups_values(subs))
    query = query.with_("bounds", as_=_bounds())
    query = query.from_(_alias(exp.to_identifier("ranked"), "r")).join(
        _alias(exp.to_identifier("bounds"), "b"),
        on=exp.and_(
            exp.EQ(this=exp.column("sub_ix", "b"), expression=exp.column("sub_ix", "r")),
            exp.GT(
                this=exp.column("rn", "r"),
                expression=exp.Sub(this=exp.column("hi", "b"), expression=exp.column("cnt", "b")),
            ),
            exp.LTE(this=exp.column("rn", "r"), expression=exp.column("hi", "b")),
        ),
    )
    return _join_attributes(query, sources, ctx)


def _segment_keys(name: str, ctx: AudienceContext) -> exp.Select:
    return compile_segment(
        ctx.resolve_segment(name),
        ctx.catalog,
        today=ctx.today,
        resolve_segment=ctx.resolve_segment,
        dialect=ctx.dialect,
    )


def _criteria_keys(sub: SubAudience, campaign: Campaign, ctx: AudienceContext) -> exp.Select:
    if sub.segment is not None:
        return _segment_keys(sub.segment, ctx)
    segment = Segment(name=f"{campaign.name} / {sub.name}", where=sub.where)
    return compile_segment(
        segment,
        ctx.catalog,
        today=ctx.today,
        resolve_segment=ctx.resolve_segment,
        dialect=ctx.dialect,
    )


def _key(alias: str, ctx: AudienceContext) -> exp.Column:
    return exp.column(ctx.catalog.customer_key, alias, quoted=True)


def _in(ctx: AudienceContext, alias: str, query: exp.Select) -> exp.Expr:
    return exp.In(this=_key(alias, ctx), query=exp.Subquery(this=query))


def _audience(campaign: Campaign, ctx: AudienceContext) -> exp.Select:
    """Union of the include segments, minus anyone in an exclude segment."""
    keys: list[exp.Query] = [_segment_keys(name, ctx) for name in campaign.include]
    included = reduce(lambda a, b: exp.union(a, b, distinct=True), keys)
    query = exp.select(_key("i", ctx)).from_(
        exp.Subquery(this=included, alias=exp.TableAlias(this=exp.to_identifier("i")))
    )
    conditions: list[exp.Expr] = [_key("i", ctx).is_(exp.null()).not_()]
    conditions += [exp.not_(_in(ctx, "i", _segment_keys(name, ctx))) for name in campaign.exclude]
    return query.where(reduce(lambda a, b: exp.and_(a, b), conditions))


def _members(campaign: Campaign, subs: Sequence[SubAudience], ctx: AudienceContext) -> exp.Query:
    """``(key, sub_ix)``: each member with the index of its sub-audience."""
    criteria = [_criteria_keys(s, campaign, ctx) for s in campaign.sub_audiences]
    has_remainder = len(subs) > len(campaign.sub_audiences)
    remainder_ix = exp.Literal.number(len(campaign.sub_audiences))
    source = _alias(exp.to_identifier("audience"), "a")
    if campaign.first_match_only:
        # First match: a CASE in sub-audience order; members matching none get the remainder.
        ifs = [
            exp.If(this=_in(ctx, "a", q), true=exp.Literal.number(i))
            for i, q in enumerate(criteria)
        ]
        sub_ix = exp.Case(ifs=ifs, default=remainder_ix) if ifs else remainder_ix
        inner = exp.select(_key("a", ctx), exp.alias_(sub_ix, "sub_ix")).from_(source)
        query = exp.select(
            exp.column(ctx.catalog.customer_key, quoted=True), exp.column("sub_ix")
        ).from_(exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("m"))))
        if not has_remainder:
            query = query.where(exp.LT(this=exp.column("sub_ix"), expression=remainder_ix))
        return query
    parts: list[exp.Query] = [
        exp.select(_key("a", ctx), exp.alias_(exp.Literal.number(i), "sub_ix"))
        .from_(source.copy())
        .where(_in(ctx, "a", q))
        for i, q in enumerate(criteria)
    ]
    if has_remainder:
        in_none: list[exp.Expr] = [exp.not_(_in(ctx, "a", q.copy())) for q in criteria]
        in_none = in_none or [exp.true()]
        parts.append(
            exp.select(_key("a", ctx), exp.alias_(remainder_ix, "sub_ix"))
            .from_(source.copy())
            .where(reduce(lambda a, b: exp.and_(a, b), in_none))
        )
    return reduce(lambda a, b: exp.union(a, b, distinct=False), parts)


def _ranked(ctx: AudienceContext) -> exp.Select:
    key = exp.column(ctx.catalog.customer_key, quoted=True)
    hashed = exp.MD5(
        this=exp.DPipe(
            this=exp.Literal.string(f"{ctx.salt}:"),
            expression=exp.cast(key, exp.DataType.Type.VARCHAR),
        )
    )
    order = exp.Order(expressions=[exp.Ordered(this=hashed), exp.Ordered(this=key.copy())])
    rn = exp.Window(this=exp.RowNumber(), partition_by=[exp.column("sub_ix")], order=order)
    return exp.select(key.copy(), exp.column("sub_ix"), exp.alias_(rn, "rn")).from_("members")


def _sizes() -> exp.Select:
    return (
        exp.select(exp.column("sub_ix"), exp.alias_(exp.Count(this=exp.Star()), "n"))
        .from_("members")
        .group_by("sub_ix")
    )


def _groups_values(subs: Sequence[SubAudience]) -> exp.Select:
    rows = [
        exp.Tuple(
            expressions=[
                exp.Literal.number(sub_ix),
                exp.Literal.string(sub.name),
                exp.Literal.number(group_ix),
                exp.Literal.string(group.name),
                exp.Literal.number(group.basis_points),
                exp.true() if group.control else exp.false(),
            ]
        )
        for sub_ix, sub in enumerate(subs)
        for group_ix, group in enumerate(sub.groups)
    ]
    columns = ["sub_ix", "sub_name", "group_ix", "group_name", "bp", "is_control"]
    values = exp.Values(
        expressions=rows,
        alias=exp.TableAlias(
            this=exp.to_identifier("v"), columns=[exp.to_identifier(c) for c in columns]
        ),
    )
    return exp.select("*").from_(values)


def _bounds() -> exp.Select:
    """Largest-remainder sizes and cumulative upper ranks per group, all in integers."""
    n, bp = exp.column("n", "s"), exp.column("bp", "g")
    product = exp.Mul(this=n, expression=bp)
    quotas = (
        exp.select(
            exp.column("sub_ix", "g"),
            exp.column("sub_name", "g"),
            exp.column("group_ix", "g"),
            exp.column("group_name", "g"),
            exp.column("is_control", "g"),
            n.copy(),
            exp.alias_(exp.IntDiv(this=product, expression=exp.Literal.number(BASIS)), "fl"),
            exp.alias_(exp.Mod(this=product.copy(), expression=exp.Literal.number(BASIS)), "rem"),
        )
        .from_(_alias(exp.to_identifier("groups"), "g"))
        .join(
            _alias(exp.to_identifier("sizes"), "s"),
            on=exp.EQ(this=exp.column("sub_ix", "s"), expression=exp.column("sub_ix", "g")),
        )
    )
    by_sub = [exp.column("sub_ix")]
    leftover = exp.Sub(
        this=exp.column("n"),
        expression=exp.Window(this=exp.Sum(this=exp.column("fl")), partition_by=by_sub),
    )
    remainder_rank = exp.Window(
        this=exp.RowNumber(),
        partition_by=[exp.column("sub_ix")],
        order=exp.Order(
            expressions=[
                exp.Ordered(this=exp.column("rem"), desc=True),
                exp.Ordered(this=exp.column("group_ix")),
            ]
        ),
    )
    ranked = exp.select(
        "*", exp.alias_(leftover, "leftover"), exp.alias_(remainder_rank, "rrank")
    ).from_(exp.Subquery(this=quotas, alias=exp.TableAlias(this=exp.to_identifier("q"))))
    bonus = exp.Case(
        ifs=[
            exp.If(
                this=exp.LTE(this=exp.column("rrank"), expression=exp.column("leftover")),
                true=exp.Literal.number(1),
            )
        ],
        default=exp.Literal.number(0),
    )
    cnt = exp.Add(this=exp.column("fl"), expression=bonus)
    running = exp.Window(
        this=exp.Sum(this=cnt.copy()),
        partition_by=[exp.column("sub_ix")],
        order=exp.Order(expressions=[exp.Ordered(this=exp.column("group_ix"))]),
        spec=exp.WindowSpec(
            kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW"
        ),
    )
    return exp.select(
        "sub_ix",
        "sub_name",
        "group_ix",
        "group_name",
        "is_control",
        exp.alias_(cnt, "cnt"),
        exp.alias_(running, "hi"),
    ).from_(exp.Subquery(this=ranked, alias=exp.TableAlias(this=exp.to_identifier("rq"))))


def _join_attributes(query: exp.Select, sources: Sequence[str], ctx: AudienceContext) -> exp.Select:
    """LEFT JOIN each per-customer table the attributes come from; one column per source."""
    aliases: dict[str, str] = {}
    for source in sources:
        table_name, _, column_name = source.rpartition(".")
        table = ctx.catalog.table(table_name or ctx.attributes_table)
        assert table is not None, f"attribute table of {source} was validated"
        column = table.column(column_name)
        assert column is not None
        alias = aliases.get(table.name.lower())
        if alias is None:
            alias = aliases[table.name.lower()] = f"t{len(aliases)}"
            query = query.join(
                _alias(exp.to_identifier(table.name, quoted=True), alias),
                on=exp.EQ(this=_key(alias, ctx), expression=_key("r", ctx)),
                join_type="left",
            )
        query = query.select(
            exp.alias_(exp.column(column.name, alias, quoted=True), source, quoted=True)
        )
    return query


def _alias(this: exp.Expr, alias: str) -> exp.Table:
    return exp.Table(this=this, alias=exp.TableAlias(this=exp.to_identifier(alias)))
