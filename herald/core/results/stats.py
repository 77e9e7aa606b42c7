"""TEMPORARY STAND-IN from the query branch (issue 14 part B): point estimates only.

The statistics branch owns this module (intervals, p-values, CUPED); the integrator replaces
this file with its version. Only the signature and the fields the results command reads are
meant to survive.
"""

from __future__ import annotations

from dataclasses import dataclass

from herald.core.results.model import GroupSums


@dataclass(frozen=True)
class Estimate:
    """One estimate with its interval and p-value (None: not computed or not defined)."""

    value: float | None
    low: float | None = None
    high: float | None = None
    p_value: float | None = None


@dataclass(frozen=True)
class Lift:
    """A group against its control."""

    conversion: Estimate
    conversion_relative: Estimate
    revenue_per_recipient: Estimate
    revenue_relative: Estimate
    incremental_revenue: Estimate
    cuped: bool = False
    width_cuped: float | None = None
    width_plain: float | None = None
    reason: str | None = None


def compare(
    treatment: GroupSums, control: GroupSums, *, cuped: bool = True, confidence: float = 0.95
) -> Lift:
    """Point estimates of ``treatment`` against ``control`` (stand-in: no intervals)."""
    if treatment.recipients == 0 or control.recipients == 0:
        empty = Estimate(None)
        return Lift(empty, empty, empty, empty, empty, reason="a group has no recipients")
    p1 = treatment.purchasers / treatment.recipients
    p0 = control.purchasers / control.recipients
    m1 = treatment.revenue / treatment.recipients
    m0 = control.revenue / control.recipients
    return Lift(
        conversion=Estimate(p1 - p0),
        conversion_relative=Estimate(p1 / p0 - 1 if p0 else None),
        revenue_per_recipient=Estimate(m1 - m0),
        revenue_relative=Estimate(m1 / m0 - 1 if m0 else None),
        incremental_revenue=Estimate((m1 - m0) * treatment.recipients),
    )
