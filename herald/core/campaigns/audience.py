"""Compile a campaign's audience into ONE query: include − exclude, sub-audiences, the exact
split of DESIGN §1.3, and the attributes each destination needs.

The result has one row per recipient (control groups included) and the columns
``amperity_id, sub_audience, group, is_control`` (the customer key keeps its configured name)
followed by one column per attribute source, named by the source (``email``,
``Customer_360.state``).

The query's steps, one CTE each: ``audience`` (include − exclude), ``members`` (each member
with its sub-audience), ``split_groups`` (each group's share), then the split's steps from
:mod:`herald.core.splitting`: members of each sub-audience are numbered in
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
from herald.core.splitting import (
    BOUNDS,
    GROUPS,
    MEMBERS,
    RANKED,
    in_group,
    noted,
    split_steps,
)

SNAPSHOT_COLUMNS = ("sub_audience", "group", "is_control")
# What the split carries through from ``split_groups`` to each recipient.
GROUP_LABELS = ("sub_name", "group_name", "is_control")


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
        exp.column(key, RANKED, quoted=True),
        exp.alias_(exp.column("sub_name", BOUNDS), "sub_audience", quoted=True),
        exp.alias_(exp.column("group_name", BOUNDS), "group", quoted=True),
        exp.alias_(exp.column("is_control", BOUNDS), "is_control", quoted=True),
    )
    own_steps: list[tuple[str, exp.Query, str]] = [
        ("audience", _audience(campaign, ctx), "include segments minus exclude segments"),
        (MEMBERS, _members(campaign, subs, ctx), "each member with its sub-audience (sub_ix)"),
        (GROUPS, _split_groups(subs), "each group's share of its sub-audience, in basis points"),
    ]
    # copy=False: every part is built here and used once (copying would cost O(steps²))
    for name, step, note in own_steps:
        query = query.with_(name, as_=noted(step, note), copy=False)
    for name, step in split_steps(key, ctx.salt, GROUP_LABELS):
        query = query.with_(name, as_=step, copy=False)
    # Each ranked member meets only the group whose run of ranks holds it: one row each.
    query = query.from_(RANKED, copy=False).join(BOUNDS, on=in_group(RANKED, BOUNDS), copy=False)
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
    query = exp.select(_key("included", ctx)).from_(
        exp.Subquery(this=included, alias=exp.TableAlias(this=exp.to_identifier("included")))
    )
    conditions: list[exp.Expr] = [_key("included", ctx).is_(exp.null()).not_()]
    conditions += [
        exp.not_(_in(ctx, "included", _segment_keys(name, ctx))) for name in campaign.exclude
    ]
    return query.where(reduce(lambda a, b: exp.and_(a, b), conditions))


def _members(campaign: Campaign, subs: Sequence[SubAudience], ctx: AudienceContext) -> exp.Query:
    """``(key, sub_ix)``: each member with the index of its sub-audience."""
    criteria = [_criteria_keys(s, campaign, ctx) for s in campaign.sub_audiences]
    has_remainder = len(subs) > len(campaign.sub_audiences)
    remainder_ix = exp.Literal.number(len(campaign.sub_audiences))
    source = exp.to_table("audience")
    if campaign.first_match_only:
        # First match: a CASE in sub-audience order; members matching none get the remainder.
        ifs = [
            exp.If(this=_in(ctx, "audience", q), true=exp.Literal.number(i))
            for i, q in enumerate(criteria)
        ]
        sub_ix = exp.Case(ifs=ifs, default=remainder_ix) if ifs else remainder_ix
        inner = exp.select(_key("audience", ctx), exp.alias_(sub_ix, "sub_ix")).from_(source)
        query = exp.select(
            exp.column(ctx.catalog.customer_key, quoted=True), exp.column("sub_ix")
        ).from_(
            exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("first_match")))
        )
        if not has_remainder:
            query = query.where(exp.LT(this=exp.column("sub_ix"), expression=remainder_ix))
        return query
    parts: list[exp.Query] = [
        exp.select(_key("audience", ctx), exp.alias_(exp.Literal.number(i), "sub_ix"))
        .from_(source.copy())
        .where(_in(ctx, "audience", q))
        for i, q in enumerate(criteria)
    ]
    if has_remainder:
        in_none: list[exp.Expr] = [exp.not_(_in(ctx, "audience", q.copy())) for q in criteria]
        in_none = in_none or [exp.true()]
        parts.append(
            exp.select(_key("audience", ctx), exp.alias_(remainder_ix, "sub_ix"))
            .from_(source.copy())
            .where(reduce(lambda a, b: exp.and_(a, b), in_none))
        )
    return reduce(lambda a, b: exp.union(a, b, distinct=False), parts)


def _split_groups(subs: Sequence[SubAudience]) -> exp.Select:
    """``split_groups``: one row per group, its share in basis points and its labels."""
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
    columns = ["sub_ix", "sub_name", "group_ix", "group_name", "basis_points", "is_control"]
    values = exp.Values(
        expressions=rows,
        alias=exp.TableAlias(
            this=exp.to_identifier("shares"), columns=[exp.to_identifier(c) for c in columns]
        ),
    )
    return exp.select("*").from_(values)


def _join_attributes(query: exp.Select, sources: Sequence[str], ctx: AudienceContext) -> exp.Select:
    """LEFT JOIN each per-customer table the attributes come from; one column per source.

    ``query`` is extended in place (``copy=False``): it is the one being built.
    """
    aliases: dict[str, str] = {}
    for source in sources:
        table_name, _, column_name = source.rpartition(".")
        table = ctx.catalog.table(table_name or ctx.attributes_table)
        assert table is not None, f"attribute table of {source} was validated"
        column = table.column(column_name)
        assert column is not None
        alias = aliases.get(table.name.lower())
        if alias is None:
            alias = aliases[table.name.lower()] = f"attributes_{len(aliases)}"
            query = query.join(
                _alias(exp.to_identifier(table.name, quoted=True), alias),
                on=exp.EQ(this=_key(alias, ctx), expression=_key(RANKED, ctx)),
                join_type="left",
                copy=False,
            )
        query = query.select(
            exp.alias_(exp.column(column.name, alias, quoted=True), source, quoted=True),
            copy=False,
        )
    return query


def _alias(this: exp.Expr, alias: str) -> exp.Table:
    return exp.Table(this=this, alias=exp.TableAlias(this=exp.to_identifier(alias)))
