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
from herald.core.segments.context import Context, SegmentResolver
from herald.core.segments.model import Group, InSegment, Node
from herald.core.segments.rows import CustomerRows
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
    criteria = [_criteria(sub) for sub in campaign.sub_audiences]
    where = _include_minus_exclude(campaign)
    rows = CustomerRows(
        Context(ctx.catalog, ctx.today, ctx.resolve_segment, ctx.dialect), [where, *criteria]
    )
    # Attributes of a table the conditions read ride along from the same pass; the others
    # are joined to the recipients at the end.
    carried, later = _attribute_columns(sources, rows, ctx)
    outputs = [(name, rows.column(table, column)) for name, (table, column) in carried.items()]
    membership = _membership(campaign, criteria, rows)
    own_steps: list[tuple[str, exp.Query, str]] = [
        (
            AUDIENCE,
            rows.select(where, [*membership, *outputs]),
            "include segments minus exclude segments, in one pass: sub-audiences, attributes",
        ),
        (
            MEMBERS,
            _members(campaign, key, len(subs), list(carried)),
            "each member with its sub-audience (sub_ix)",
        ),
        (GROUPS, _split_groups(subs), "each group's share of its sub-audience, in basis points"),
    ]
    query = exp.select(
        exp.column(key, RANKED, quoted=True),
        exp.alias_(exp.column("sub_name", BOUNDS), "sub_audience", quoted=True),
        exp.alias_(exp.column("group_name", BOUNDS), "group", quoted=True),
        exp.alias_(exp.column("is_control", BOUNDS), "is_control", quoted=True),
    )
    # copy=False: every part is built here and used once (copying would cost O(steps²))
    for name, step, note in own_steps:
        query = query.with_(name, as_=noted(step, note), copy=False)
    for name, step in split_steps(key, ctx.salt, GROUP_LABELS, list(carried)):
        query = query.with_(name, as_=step, copy=False)
    # Each ranked member meets only the group whose run of ranks holds it: one row each.
    query = query.from_(RANKED, copy=False).join(BOUNDS, on=in_group(RANKED, BOUNDS), copy=False)
    return _select_attributes(query, sources, carried, later, ctx)


AUDIENCE = "audience"


def _criteria(sub: SubAudience) -> Node:
    if sub.segment is not None:
        return InSegment(sub.segment)
    assert sub.where is not None, "a sub-audience has a segment or criteria"
    return sub.where


def _include_minus_exclude(campaign: Campaign) -> Node:
    """In any include segment and in no exclude segment."""
    included: list[Node] = [InSegment(name) for name in campaign.include]
    excluded: list[Node] = [InSegment(name, negate=True) for name in campaign.exclude]
    return Group("all", (Group("any", tuple(included)), *excluded))


def _membership(
    campaign: Campaign, criteria: Sequence[Node], rows: CustomerRows
) -> list[tuple[str, exp.Expr]]:
    """First match: ``sub_ix``, the first sub-audience whose criteria hold (the remainder's
    index when none does); otherwise one flag ``in_sub_<i>`` per sub-audience."""
    if campaign.first_match_only:
        ifs = [
            exp.If(this=rows.condition(node), true=exp.Literal.number(i))
            for i, node in enumerate(criteria)
        ]
        remainder = exp.Literal.number(len(criteria))
        return [("sub_ix", exp.Case(ifs=ifs, default=remainder) if ifs else remainder)]
    return [
        (f"in_sub_{i}", exp.Coalesce(this=rows.condition(node), expressions=[exp.false()]))
        for i, node in enumerate(criteria)
    ]


def _members(campaign: Campaign, key: str, sub_count: int, carried: Sequence[str]) -> exp.Query:
    """``(key, sub_ix, carried attributes…)``: each member with the index of its
    sub-audience; without first match, once per sub-audience it belongs to."""
    criteria_count = len(campaign.sub_audiences)
    has_remainder = sub_count > criteria_count
    remainder_ix = exp.Literal.number(criteria_count)

    def rows_of(sub_ix: exp.Expr, conditions: Sequence[exp.Expr]) -> exp.Select:
        named = sub_ix if isinstance(sub_ix, exp.Column) else exp.alias_(sub_ix, "sub_ix")
        columns = [exp.column(key, quoted=True), named]
        query = exp.select(*columns, *(exp.column(c) for c in carried)).from_(AUDIENCE)
        return query.where(exp.and_(*conditions, copy=False), copy=False) if conditions else query

    if campaign.first_match_only:
        sub_ix = exp.column("sub_ix")
        keep = [] if has_remainder else [exp.LT(this=sub_ix.copy(), expression=remainder_ix)]
        return rows_of(sub_ix, keep)
    flags = [exp.column(f"in_sub_{i}") for i in range(criteria_count)]
    parts: list[exp.Query] = [
        rows_of(exp.Literal.number(i), [flag]) for i, flag in enumerate(flags)
    ]
    if has_remainder:
        parts.append(rows_of(remainder_ix, [exp.not_(f.copy(), copy=False) for f in flags]))
    return reduce(lambda a, b: exp.union(a, b, distinct=False, copy=False), parts)


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


def _attribute_columns(
    sources: Sequence[str], rows: CustomerRows, ctx: AudienceContext
) -> tuple[dict[str, tuple[str, str]], set[str]]:
    """The sources read in the audience's own pass, by column name in it (``attribute_<i>``:
    ``(table, column)``), and the others, joined to the recipients at the end."""
    carried: dict[str, tuple[str, str]] = {}
    later: set[str] = set()
    for source in sources:
        table, column = _source_column(source, ctx)
        if rows.reads(table):
            carried[f"attribute_{len(carried)}"] = (table, column)
        else:
            later.add(source)
    return carried, later


def _source_column(source: str, ctx: AudienceContext) -> tuple[str, str]:
    table_name, _, column_name = source.rpartition(".")
    table = ctx.catalog.table(table_name or ctx.attributes_table)
    assert table is not None, f"attribute table of {source} was validated"
    column = table.column(column_name)
    assert column is not None
    return table.name, column.name


def _select_attributes(
    query: exp.Select,
    sources: Sequence[str],
    carried: dict[str, tuple[str, str]],
    later: set[str],
    ctx: AudienceContext,
) -> exp.Select:
    """One column per source, named by it, in the sources' order: carried from
    ``ranked_members``, or from a LEFT JOIN of its table, once per table.

    ``query`` is extended in place (``copy=False``): it is the one being built.
    """
    carried_names = {pair: name for name, pair in carried.items()}
    aliases: dict[str, str] = {}
    taken = {s.alias_or_name.lower() for s in query.selects}
    for source in sources:
        table, column = _source_column(source, ctx)
        if source not in later:
            value = exp.column(carried_names[(table, column)], RANKED)
        else:
            alias = aliases.get(table.lower())
            if alias is None:
                alias = aliases[table.lower()] = f"attributes_{len(aliases)}"
                query = query.join(
                    _alias(exp.to_identifier(table, quoted=True), alias),
                    on=exp.EQ(this=_key(alias, ctx), expression=_key(RANKED, ctx)),
                    join_type="left",
                    copy=False,
                )
            value = exp.column(column, alias, quoted=True)
        name = _unique(source, taken)
        query = query.select(exp.alias_(value, name, quoted=True, copy=False), copy=False)
    return query


def _unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name_1``, ``name_2`` … when a column of that name (in any case) is
    already selected: DuckDB's own naming of repeated columns, which Spark refuses to write.

    >>> taken = {"amperity_id"}
    >>> _unique("amperity_id", taken), _unique("AMPERITY_ID", taken), _unique("email", taken)
    ('amperity_id_1', 'AMPERITY_ID_2', 'email')
    """
    unique, n = name, 0
    while unique.lower() in taken:
        n += 1
        unique = f"{name}_{n}"
    taken.add(unique.lower())
    return unique


def _key(alias: str, ctx: AudienceContext) -> exp.Column:
    return exp.column(ctx.catalog.customer_key, alias, quoted=True)


def _alias(this: exp.Expr, alias: str) -> exp.Table:
    return exp.Table(this=this, alias=exp.TableAlias(this=exp.to_identifier(alias)))
