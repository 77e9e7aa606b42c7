"""Before the send: each group's minimum detectable effect on conversion at its control's size.

The baseline is the audience's recent conversion rate: the share of a sub-audience's
recipients (all its groups, control included) with an order in the ``window`` days before
today, computed in the engine in one query over the preview's snapshot and the transactions.
With it, :func:`~herald.core.results.power.mde_conversion` gives the smallest absolute uplift
each treatment group can show against its sub-audience's control (two-sided, alpha 0.05,
power 0.8). A control group too small to detect a plausible effect is flagged: one whose MDE
is above :data:`PLAUSIBLE_RELATIVE` of the baseline, or an empty one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from sqlglot import exp

from herald.core.catalog import Catalog
from herald.core.results.query import Transactions, transactions_table

SNAPSHOT_TABLE = "herald_preview_snapshot"
"""The name under which the engine shows the preview's snapshot (Parquet) to the query."""
PLAUSIBLE_RELATIVE = 0.20
"""A campaign rarely lifts conversion by more than a fifth: a control that cannot detect
that much is too small."""
ALPHA = 0.05
POWER = 0.8


@dataclass(frozen=True)
class GroupPower:
    """One group's minimum detectable effect on conversion against its control.

    Attributes:
        sub_audience: the group's sub-audience.
        group: the group.
        is_control: a control group (it has no MDE of its own).
        recipients: the group's recipients in the preview.
        baseline: the sub-audience's recent conversion rate (None without recipients).
        control: the control group compared with (None when there is none).
        mde: the smallest absolute uplift detectable (0.01: one percentage point), or None.
        relative: ``mde / baseline``, or None.
        too_small: the control is too small to detect a plausible effect.
        note: why there is no MDE, or what is wrong, in a few words.
    """

    sub_audience: str
    group: str
    is_control: bool
    recipients: int
    baseline: float | None
    control: str | None = None
    mde: float | None = None
    relative: float | None = None
    too_small: bool = False
    note: str | None = None

    def warning(self) -> str | None:
        """One line for a group whose control is too small, else None."""
        if not self.too_small:
            return None
        where = f"'{self.sub_audience}' / '{self.group}'"
        if self.mde is None:
            return f"{where}: {self.note}; enlarge the control group"
        return (
            f"{where}: the control group '{self.control}' is too small to detect less than "
            f"{self.mde:.1%} absolute ({self.relative or 0:.0%} of the baseline "
            f"{self.baseline or 0:.1%}); enlarge it"
        )


def baseline_query(
    catalog: Catalog,
    *,
    window_days: int,
    today: dt.date,
    snapshot_table: str = SNAPSHOT_TABLE,
) -> exp.Select:
    """Per sub-audience: recipients, and those with an order in the window before ``today``.

    Args:
        catalog: the database's catalog (customer key, transactions table).
        window_days: the window's length: orders at ``today - window <= t < today`` count.
        today: the window's end (00:00 UTC, excluded).
        snapshot_table: the table holding the snapshot (one row per recipient).

    Raises:
        ConfigError: the transactions table or one of its columns is missing.

    >>> from herald.core.catalog import Catalog
    >>> cat = Catalog.from_columns(
    ...     [("Unified_Transactions", c, None, "") for c in
    ...      ("amperity_id", "order_datetime", "order_revenue")])
    >>> q = baseline_query(cat, window_days=30, today=dt.date(2026, 6, 30))
    >>> [s.alias_or_name for s in q.selects]
    ['sub_audience', 'recipients', 'purchasers']
    """
    tx = transactions_table(catalog)
    key = catalog.customer_key
    buyers = _buyers(tx, key, window_days, today, snapshot_table)
    bought = exp.Not(this=exp.Is(this=_col(key, "b"), expression=exp.Null()))
    return (
        exp.select(
            _col("sub_audience", "s"),
            exp.alias_(
                exp.cast(exp.Count(this=exp.Star()), exp.DataType.Type.BIGINT), "recipients"
            ),
            exp.alias_(
                exp.cast(exp.Sum(this=_when(bought)), exp.DataType.Type.BIGINT), "purchasers"
            ),
        )
        .with_("buyers", as_=buyers)
        .from_(exp.alias_(_table(snapshot_table), "s", table=True))
        .join(
            exp.alias_(exp.to_table("buyers"), "b", table=True),
            on=exp.EQ(this=_col(key, "s"), expression=_col(key, "b")),
            join_type="left",
        )
        .group_by(_col("sub_audience", "s"))
    )


def _buyers(
    tx: Transactions, key: str, window_days: int, today: dt.date, snapshot_table: str
) -> exp.Select:
    """The recipients with an order in the window: only their keys are looked up (a semi
    join), over the window's orders."""
    end = exp.cast(exp.Literal.string(today.isoformat()), exp.DataType.Type.TIMESTAMP)
    days = exp.Interval(this=exp.Literal.string(str(window_days)), unit=exp.Var(this="DAY"))
    when = _col(tx.order_time)
    recipients = exp.Subquery(this=exp.select(_col(key)).from_(_table(snapshot_table)))
    return (
        exp.select(_col(key))
        .distinct()
        .from_(exp.to_table(tx.name, quoted=True))
        .where(exp.GTE(this=when, expression=exp.Sub(this=end.copy(), expression=days)))
        .where(exp.LT(this=when.copy(), expression=end))
        .where(exp.In(this=_col(key), query=recipients))
    )


class _Count(Protocol):
    """A group's recipients (``herald.runs.snapshots.GroupCount``)."""

    @property
    def sub_audience(self) -> str: ...
    @property
    def group(self) -> str: ...
    @property
    def is_control(self) -> bool: ...
    @property
    def recipients(self) -> int: ...


def group_power(
    counts: Sequence[_Count],
    baselines: Mapping[str, float | None],
    *,
    alpha: float = ALPHA,
    power: float = POWER,
) -> list[GroupPower]:
    """Each group's MDE against its sub-audience's control, in the order of ``counts``.

    Args:
        counts: recipients per sub-audience and group (empty groups included, as 0).
        baselines: the recent conversion rate per sub-audience (None: no recipients).
        alpha: the two-sided test's level.
        power: the probability of detecting the effect.

    >>> from types import SimpleNamespace as G
    >>> rows = group_power([G(sub_audience="A", group="T", is_control=False, recipients=900),
    ...                     G(sub_audience="A", group="C", is_control=True, recipients=100)],
    ...                    {"A": 0.10})
    >>> round(rows[0].mde, 3), rows[0].too_small, rows[1].mde
    (0.11, True, None)
    """
    controls: dict[str, list[_Count]] = {}
    for count in counts:
        if count.is_control:
            controls.setdefault(count.sub_audience, []).append(count)
    return [
        _power_of(c, baselines.get(c.sub_audience), controls.get(c.sub_audience, []), alpha, power)
        for c in counts
    ]


def _power_of(
    count: _Count, baseline: float | None, controls: list[_Count], alpha: float, power: float
) -> GroupPower:
    found = GroupPower(
        count.sub_audience, count.group, count.is_control, count.recipients, baseline
    )
    if count.is_control:
        return found
    if not controls:
        return replace(found, note="no control group in this sub-audience")
    if len(controls) > 1:
        return replace(found, note="several control groups: each is compared in the results")
    control = controls[0]
    found = replace(found, control=control.group)
    if control.recipients == 0:
        return replace(found, too_small=True, note=f"the control group '{control.group}' is empty")
    if count.recipients == 0:
        return replace(found, note="no recipients")
    if not baseline:
        return replace(found, note="no recent purchase in the sub-audience: no baseline rate")
    # SciPy loads here, on first use, not when a command that never previews starts.
    from herald.core.results.power import mde_conversion

    mde = mde_conversion(baseline, count.recipients, control.recipients, alpha=alpha, power=power)
    if mde is None:
        return replace(found, too_small=True, note="no uplift is detectable with these sizes")
    relative = mde / baseline
    return replace(found, mde=mde, relative=relative, too_small=relative > PLAUSIBLE_RELATIVE)


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table, quoted=True)


def _table(name: str) -> exp.Table:
    return exp.to_table(name, quoted=True)


def _when(condition: exp.Expr) -> exp.Case:
    one, zero = exp.Literal.number(1), exp.Literal.number(0)
    return exp.Case(ifs=[exp.If(this=condition, true=one)], default=zero)
